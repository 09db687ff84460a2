-- Up Migration
-- The metered data gateway: one row per transfer (a download or a sandbox
-- run's input reads), keyed by a deterministic transfer id, and the access
-- counter of each agreement. See dashboard-api/src/ledger/ledger.ts.

create table if not exists gateway_agreements (
  agreement_id text primary key,
  space text not null,
  accesses bigint not null default 0 check (accesses >= 0),
  updated_at timestamptz not null default now()
);

create table if not exists gateway_transfers (
  transfer_id text primary key,
  agreement_id text not null,
  space text not null,
  consumer text not null,
  provider text not null,
  offer text not null,
  object_key text not null,
  etag text,
  idempotency_key text,
  attempts integer not null default 0,
  -- Distinct byte ranges of the object delivered so far; a retry that
  -- re-sends bytes adds nothing, so metered bytes never double-count.
  delivered int8multirange not null default '{}',
  bytes bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index if not exists gateway_transfers_agreement on gateway_transfers (agreement_id);

-- Down Migration
drop table if exists gateway_transfers;
drop table if exists gateway_agreements;
