-- Up Migration
-- Usage ingest at a higher rate (docs/performance.md, "Metering"): reports read
-- the rollups, never usage_events by time, so the btree on (space, event_time),
-- which every ingested event paid for, becomes a BRIN index: a few pages per
-- range of the table, kept up to date at almost no cost per event. The one
-- query by time left, the first event of a space (spaces.ts, accountsStart),
-- finds its hour in usage_hourly and reads only that hour's events. Idempotent.
create index if not exists usage_events_space_time_brin on usage_events using brin (space, event_time);
drop index if exists usage_events_space_time;

-- Down Migration
create index if not exists usage_events_space_time on usage_events (space, event_time);
drop index if exists usage_events_space_time_brin;
