-- Up Migration
-- A finding's threshold is what its rule compared against: a decimal
-- (downloadVolume, refusedAccesses) or the list of usual hours of an
-- unusualHours finding ("09,14"), which a numeric column refused, failing the
-- space's whole pass. Text, as the API serves it (@tds/wire RiskFinding).
alter table risk_findings alter column threshold type text using threshold::text;

-- Down Migration
-- Each finding with a list of hours keeps its first one.
alter table risk_findings alter column threshold type numeric using split_part(threshold, ',', 1)::numeric;
