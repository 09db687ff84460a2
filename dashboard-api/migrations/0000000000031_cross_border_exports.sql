-- Up Migration
-- The cross-border exports of the gateway (docs/governance.md, "Export
-- report"): one row per destination outside the home region of each transfer
-- the gateway let through, and one per request it refused for an export rule,
-- keyed by the eventId of the transfer's evidence entry. An allowed export is
-- written in the statement that claims its transfer's access (Ledger.claim),
-- so an access counted has its exports recorded and a retry of the transfer
-- adds nothing; its bytes are the transfer's distinct delivered bytes
-- (gateway_transfers.bytes), never counted twice. A refused one is written
-- before the refusal is answered. The export report of a period reads them.

create table if not exists gateway_exports (
  event_id text primary key,
  space text not null,
  -- The transfer an allowed export belongs to; null for a refusal (no transfer was opened).
  transfer_id text,
  agreement_id text not null,
  contract_namespace text not null,
  contract text not null,
  contract_uid text not null,
  offer_namespace text not null,
  offer text not null,
  consumer text not null,
  provider text not null,
  object_key text not null,
  destination text not null,
  region_source text not null check (region_source in ('certificate', 'declared')),
  allowed boolean not null,
  rule text not null,
  message text not null,
  decided_at timestamptz not null,
  check (allowed = (transfer_id is not null))
);

create index if not exists gateway_exports_period on gateway_exports (space, decided_at);

-- Down Migration
drop table if exists gateway_exports;
