-- Up Migration
-- Data subjects' consents (docs/governance.md, "Personal data under
-- consent"): one row per consent, given by the subject or by the participant
-- that holds its data, for one offer of that participant, one purpose, one
-- consumer or class of consumers (matchLabels) and a time window. Revoking
-- sets revoked_at; a row is never deleted, so what was allowed when stays
-- answerable. Here and not in etcd: there can be very many subjects, their
-- identifiers are personal data, and the gateway reads them without asking
-- the Kubernetes API.
--
-- A consent counts only once its grant is in the space's evidence log
-- (granted_leaf is set after the append), so nothing is ever allowed by a
-- consent the log does not show. A revocation counts at once, in the
-- statement that records it; its evidence entry follows.
--
-- Every change is announced on the channel tds_consents (payload
-- <space>/<offer namespace>/<offer name>), so a gateway's consent index drops
-- what it holds of that offer and re-checks its open streams at once.

create table if not exists consents (
  id text primary key,
  space text not null references spaces (space),
  -- The data subject: an identifier the holder and the subject agree on, ideally a pseudonym.
  subject text not null,
  -- The participant that holds the subject's data: the provider of the offer.
  holder text not null,
  offer_namespace text not null,
  offer_name text not null,
  purpose text not null,
  -- One participant, or (null) every participant whose labels include consumer_labels.
  consumer text,
  consumer_labels jsonb,
  not_before timestamptz not null,
  not_after timestamptz not null,
  -- Who recorded it: the subject itself (data-subject) or the holder as its agent (participant).
  given_as text not null check (given_as in ('data-subject', 'participant')),
  given_by text not null,
  given_at timestamptz not null,
  -- A digest of the request that created it, so a retry (same Idempotency-Key) is the same consent.
  request_digest text not null,
  granted_leaf bigint,
  revoked_at timestamptz,
  revoked_by text,
  revoked_as text,
  revocation_reason text,
  revoked_leaf bigint,
  check (num_nonnulls(consumer, consumer_labels) = 1),
  check (not_after > not_before),
  check ((revoked_at is null) = (revoked_by is null))
);

-- The contract decision and the gateway read the consents of one offer.
create index if not exists consents_offer on consents (space, offer_namespace, offer_name, purpose);
-- A subject lists its own consents.
create index if not exists consents_subject on consents (space, holder, subject);

create or replace function tds_consents_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('tds_consents', new.space || '/' || new.offer_namespace || '/' || new.offer_name);
  return new;
end;
$$;

drop trigger if exists consents_notify on consents;
create trigger consents_notify
  after insert or update on consents
  for each row
  execute function tds_consents_notify();

-- Down Migration
drop trigger if exists consents_notify on consents;
drop function if exists tds_consents_notify();
drop table if exists consents;
