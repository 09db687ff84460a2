-- Up Migration
-- Revenue by contribution (issue 18): a usage event whose quantity is one input's
-- share of a SandboxJob's usage carries the share (@tds/wire UsageShare: the job,
-- the input, the basis, the weights and the job's total), stored as sent and, like
-- every column of usage_events, never changed. Null for every other event. The
-- statement's shares section reads a period's shared events by the two partial
-- indexes: on time for the period's own usage, by settle_period for the late usage
-- it carries. Idempotent.
alter table usage_events add column if not exists share jsonb;
create index if not exists usage_events_shares on usage_events (space, event_time) where share is not null;
create index if not exists usage_events_late_shares on usage_events (space, settle_period)
  where share is not null and settle_period is not null;

-- Down Migration
drop index if exists usage_events_late_shares;
drop index if exists usage_events_shares;
alter table usage_events drop column if exists share;
