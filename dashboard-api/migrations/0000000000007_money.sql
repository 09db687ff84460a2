-- Up Migration
-- Money hardening (docs/security.md, "Money"). Forward only and idempotent.
--
-- 1. The idempotency key of a usage event is (space, source, id), not (source, id):
--    one space's events can no longer turn another space's into "conflicts".
-- 2. Usage, rollups and statement lines name the contract the use was made under,
--    so an offer's own price is billed per contract (the gateway and the operator
--    send `data.contract`; '' for use that is not under a contract, such as storage).
-- 3. Offer prices (DataOffer spec.price), versioned by publication, beside the
--    platform's price sheets.
-- 4. Price-sheet corrections that reprice a period with usage are explicit and audited
--    (statement_audit action 'reprice'; no schema change needed).
-- 5. The participants of each space, as the cluster declares them.

-- 1 and 2: the event key and the contract dimension.
alter table usage_events add column if not exists contract text not null default '';
alter table usage_hourly add column if not exists contract text not null default '';
alter table usage_daily add column if not exists contract text not null default '';
alter table usage_late_hourly add column if not exists contract text not null default '';
-- True for a conflict recorded under the old global key that was in fact its space's first event.
alter table usage_conflicts add column if not exists superseded boolean not null default false;

-- Sets a table's primary key to the given columns, unless it already is that key.
create or replace function pg_temp.tds_primary_key(tbl regclass, cols text[]) returns void
language plpgsql as $$
declare
  current_cols text[];
  pk text := tbl::text || '_pkey';
begin
  select array_agg(a.attname::text order by k.ord) into current_cols
  from pg_constraint c
  cross join lateral unnest(c.conkey) with ordinality as k(attnum, ord)
  join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
  where c.conrelid = tbl and c.contype = 'p';
  if current_cols is distinct from cols then
    execute format('alter table %s drop constraint if exists %I', tbl, pk);
    execute format('alter table %s add constraint %I primary key (%s)', tbl, pk,
                   (select string_agg(quote_ident(x), ', ') from unnest(cols) as x));
  end if;
end $$;

select pg_temp.tds_primary_key('usage_events', array['space', 'source', 'id']);
select pg_temp.tds_primary_key('usage_hourly',
  array['space', 'hour', 'participant', 'provider', 'offer', 'contract', 'meter']);
select pg_temp.tds_primary_key('usage_daily',
  array['space', 'day', 'participant', 'provider', 'offer', 'contract', 'meter']);
select pg_temp.tds_primary_key('usage_late_hourly',
  array['space', 'settle_period', 'hour', 'participant', 'provider', 'offer', 'contract', 'meter']);

-- Conflicts recorded under the global key whose original is in another space were
-- never conflicts: each is the first event of its (space, source, id). Store the
-- earliest of each as the event it always was (with its own receipt time), add it to
-- the rollups, and mark the conflict rows it replaces; nothing is deleted. A period
-- that closed meanwhile gets it as late usage (settle_period), as the ingest does.
drop table if exists pg_temp.tds_0007_repair;
create temporary table tds_0007_repair as
with cross_space as (
  select distinct on (c.space, c.source, c.id)
         c.conflict_id, c.space, c.source, c.id, c.payload, c.payload_sha256, c.received_at
  from usage_conflicts c
  where not c.superseded
    and not exists (select 1 from usage_events e where e.space = c.space and e.source = c.source and e.id = c.id)
    and exists (select 1 from usage_events e where e.space <> c.space and e.source = c.source and e.id = c.id)
    and exists (select 1 from spaces s where s.space = c.space)
  order by c.space, c.source, c.id, c.conflict_id
)
select x.*, (x.payload ->> 'time')::timestamptz as event_time,
       case when s.closed_through is not null and (x.payload ->> 'time')::timestamptz < s.closed_through
            then (s.closed_through at time zone 'UTC')::date end as settle_period
from cross_space x join spaces s on s.space = x.space;

insert into usage_events (space, source, id, participant, provider, offer, contract, meter, quantity, event_time,
                          received_at, payload_sha256, settle_period)
select space, source, id, payload -> 'data' ->> 'participant', coalesce(payload -> 'data' ->> 'provider', ''),
       coalesce(payload -> 'data' ->> 'offer', ''), coalesce(payload -> 'data' ->> 'contract', ''),
       payload -> 'data' ->> 'meter', (payload -> 'data' ->> 'quantity')::numeric, event_time, received_at,
       payload_sha256, settle_period
from tds_0007_repair
on conflict do nothing;

insert into usage_hourly as u (space, hour, participant, provider, offer, contract, meter, quantity, events)
select e.space, date_trunc('hour', e.event_time, 'UTC'), e.participant, e.provider, e.offer, e.contract, e.meter,
       sum(e.quantity), count(*)
from tds_0007_repair r join usage_events e using (space, source, id)
group by 1, 2, 3, 4, 5, 6, 7
on conflict (space, hour, participant, provider, offer, contract, meter)
do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events;

insert into usage_daily as u (space, day, participant, provider, offer, contract, meter, quantity, events)
select e.space, (e.event_time at time zone 'UTC')::date, e.participant, e.provider, e.offer, e.contract, e.meter,
       sum(e.quantity), count(*)
from tds_0007_repair r join usage_events e using (space, source, id)
group by 1, 2, 3, 4, 5, 6, 7
on conflict (space, day, participant, provider, offer, contract, meter)
do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events;

insert into usage_late_hourly as u (space, settle_period, hour, participant, provider, offer, contract, meter,
                                    quantity, events)
select e.space, e.settle_period, date_trunc('hour', e.event_time, 'UTC'), e.participant, e.provider, e.offer,
       e.contract, e.meter, sum(e.quantity), count(*)
from tds_0007_repair r join usage_events e using (space, source, id)
where e.settle_period is not null
group by 1, 2, 3, 4, 5, 6, 7, 8
on conflict (space, settle_period, hour, participant, provider, offer, contract, meter)
do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events;

-- The conflict rows now stored as events, and their faithful replays, stay for the
-- record but are no longer listed as conflicts.
update usage_conflicts c set superseded = true
from tds_0007_repair r
where not c.superseded and c.space = r.space and c.source = r.source and c.id = r.id
  and c.payload_sha256 = r.payload_sha256;
drop table tds_0007_repair;

-- 2: statement lines name the contract, and say whose price they apply.
alter table statement_lines add column if not exists contract text not null default '';
alter table statement_lines add column if not exists price_source text;

-- 3: offer prices. One version per change, taking effect at its publication (never
-- inside a closed period); amounts are per the offer's units, in the space currency.
create table if not exists offer_prices (
  offer_price_id bigserial primary key,
  space text not null references spaces (space),
  provider text not null,
  offer text not null,
  effective_from timestamptz not null,
  currency char(3) not null,
  per_contract numeric not null default 0 check (per_contract >= 0),
  per_access numeric not null default 0 check (per_access >= 0),
  per_gb_downloaded numeric not null default 0 check (per_gb_downloaded >= 0),
  per_sandbox_cpu_hour numeric not null default 0 check (per_sandbox_cpu_hour >= 0),
  created_at timestamptz not null default now(),
  unique (space, provider, offer, effective_from)
);
drop trigger if exists offer_prices_immutable on offer_prices;
create trigger offer_prices_immutable before update or delete on offer_prices
  for each row execute function tds_forbid_change();

-- 5: the participants of each space, from the cluster's Participants (spaces.ts), so
-- money is written only for participants that exist.
create table if not exists space_participants (
  space text not null references spaces (space),
  participant text not null,
  recorded_at timestamptz not null default now(),
  primary key (space, participant)
);

-- 6: the catalogue's list price kept all six decimals a DataOffer price may have (it kept four).
alter table catalog_offers alter column list_price type numeric(21, 6);

-- Down Migration
drop table if exists space_participants;
drop table if exists offer_prices;
