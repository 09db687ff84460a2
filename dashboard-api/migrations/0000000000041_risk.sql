-- Up Migration
-- Risk rules (docs/governance.md, "Risk rules"). The gateway records each
-- request it refuses for a known agreement; the risk evaluator stores each
-- finding once per (space, rule, subject, window): replicas evaluating the
-- same window insert the same key, and only the insert that lands appends
-- the evidence entry. Idempotent.
create table if not exists gateway_refusals (
  refusal_id bigserial primary key,
  space text not null,
  agreement_id text not null,
  consumer text not null,
  provider text not null,
  offer text not null,
  status integer not null,
  code text not null,
  refused_at timestamptz not null default now()
);
create index if not exists gateway_refusals_space_time on gateway_refusals (space, refused_at);

create table if not exists risk_findings (
  finding_id bigserial unique,
  space text not null,
  rule text not null,
  -- The consumer (downloadVolume) or the contract namespace/name (refusedAccesses, unusualHours).
  subject text not null,
  window_start timestamptz not null,
  window_end timestamptz not null,
  observed numeric not null,
  threshold numeric not null,
  message text not null,
  object_kind text not null,
  object_namespace text,
  object_name text not null,
  object_uid text not null,
  found_at timestamptz not null default now(),
  expires_at timestamptz not null,
  closed_at timestamptz,
  closed_by text,
  close_reason text,
  -- Leaf indexes of the finding's evidence entries (risk.finding, risk.finding-closed), once appended.
  found_evidence bigint,
  closed_evidence bigint,
  primary key (space, rule, subject, window_start)
);
create index if not exists risk_findings_open on risk_findings (space) where closed_at is null;

-- Down Migration
drop table if exists risk_findings;
drop table if exists gateway_refusals;
