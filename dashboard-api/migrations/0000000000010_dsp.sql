-- Up Migration
-- Dataspace Protocol (2025-1) process state, so negotiations and transfer
-- processes survive a restart of the API. See dashboard-api/src/dsp/store.ts.
-- `role` is this connector's side: provider or consumer. Our own process id is
-- `pid`; the counterparty's is `peer_pid` (null until it answers).

create table if not exists dsp_negotiations (
  pid text primary key,
  space text not null,
  role text not null check (role in ('provider', 'consumer')),
  state text not null,
  peer_pid text,
  -- The counterparty (a participant of this space or a declared external id).
  counterparty text not null,
  -- Where the counterparty's DSP messages go (its callbackAddress or connector address).
  peer_address text not null,
  dataset_id text not null,
  offer_id text not null,
  offer jsonb not null,
  agreement_id text,
  agreement jsonb,
  -- The DataContract that backs the negotiation, when one was made (namespace/name).
  contract_ref text,
  counter_offers integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists dsp_negotiations_peer on dsp_negotiations (space, role, peer_pid);

create table if not exists dsp_transfers (
  pid text primary key,
  space text not null,
  role text not null check (role in ('provider', 'consumer')),
  state text not null,
  peer_pid text,
  counterparty text not null,
  peer_address text not null,
  agreement_id text not null,
  format text not null,
  data_address jsonb,
  -- SHA-256 (hex) of the gateway token handed out in the start message's data address.
  token_sha256 text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists dsp_transfers_peer on dsp_transfers (space, role, peer_pid);
