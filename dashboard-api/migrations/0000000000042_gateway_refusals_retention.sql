-- Up Migration
-- The retention of the gateway's refusals (docs/governance.md, "Risk rules"):
-- the API's risk loop deletes those recorded before TDS_RISK_REFUSAL_RETENTION_HOURS
-- (pruneRefusals), across spaces, which the (space, refused_at) index cannot
-- serve. Idempotent.
create index if not exists gateway_refusals_time on gateway_refusals (refused_at);

-- Down Migration
drop index if exists gateway_refusals_time;
