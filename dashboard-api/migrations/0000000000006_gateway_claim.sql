-- Up Migration
-- The gateway's access claim in one round trip (dashboard-api/src/ledger/ledger.ts).
-- A transfer's first request inserts its row and counts one access against
-- the agreed maximum, atomically: when the maximum is reached the function
-- raises TDS01 and nothing is written. A retry of a known transfer counts
-- nothing and answers with the row it had, so the caller can check that the
-- Idempotency-Key names the same object. The access is metered when the
-- attempt ends (with its bytes, in one transaction), or by the sweep of
-- transfers whose first attempt never ended (a gateway that died mid-stream);
-- the access event's time is the transfer's creation time, so both produce
-- the same event and the ingest keeps one.

alter table gateway_transfers add column if not exists contract text;
alter table gateway_transfers add column if not exists contract_uid text;
-- True once the transfer's access is in usage_events (at the end of its first
-- attempt, or by the sweep).
alter table gateway_transfers add column if not exists access_metered boolean not null default false;
-- Transfers whose access was counted by the synchronous claim (before 0006);
-- their access events were ingested in the same transaction.
update gateway_transfers set access_metered = true where not access_metered;
create index if not exists gateway_transfers_unmetered on gateway_transfers (created_at) where not access_metered;

create or replace function gateway_claim(
  p_transfer_id text,
  p_agreement_id text,
  p_space text,
  p_consumer text,
  p_provider text,
  p_offer text,
  p_contract text,
  p_contract_uid text,
  p_object_key text,
  p_etag text,
  p_idempotency_key text,
  p_max_accesses bigint
) returns table (
  first boolean,
  accesses bigint,
  agreement_id text,
  object_key text,
  etag text,
  created_at timestamptz
)
language plpgsql
as $$
#variable_conflict use_column
declare
  t gateway_transfers%rowtype;
  n bigint;
begin
  insert into gateway_transfers as g
    (transfer_id, agreement_id, space, consumer, provider, offer, contract, contract_uid, object_key, etag,
     idempotency_key)
  values
    (p_transfer_id, p_agreement_id, p_space, p_consumer, p_provider, p_offer, p_contract, p_contract_uid,
     p_object_key, p_etag, p_idempotency_key)
  on conflict (transfer_id) do nothing
  returning g.* into t;
  if not found then
    select g.* into t from gateway_transfers g where g.transfer_id = p_transfer_id;
    select a.accesses into n from gateway_agreements a where a.agreement_id = t.agreement_id;
    return query select false, coalesce(n, 0), t.agreement_id, t.object_key, t.etag, t.created_at;
    return;
  end if;
  insert into gateway_agreements as a (agreement_id, space, accesses)
  values (p_agreement_id, p_space, 1)
  on conflict on constraint gateway_agreements_pkey do update
    set accesses = a.accesses + 1, updated_at = now()
    where p_max_accesses is null or a.accesses < p_max_accesses
  returning a.accesses into n;
  if n is null or (p_max_accesses is not null and n > p_max_accesses) then
    raise exception 'agreement % has used all % of its accesses', p_agreement_id, p_max_accesses
      using errcode = 'TDS01';
  end if;
  return query select true, n, t.agreement_id, t.object_key, t.etag, t.created_at;
end;
$$;

-- Down Migration
drop function if exists gateway_claim(text, text, text, text, text, text, text, text, text, text, text, bigint);
drop index if exists gateway_transfers_unmetered;
alter table gateway_transfers drop column if exists access_metered;
alter table gateway_transfers drop column if exists contract_uid;
alter table gateway_transfers drop column if exists contract;
