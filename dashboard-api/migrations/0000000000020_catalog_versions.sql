-- Up Migration
-- Versions for the catalogue's search index (dashboard-api/src/catalog/search-index.ts).
-- Each API replica keeps an in-memory index of a space's catalogue, derived
-- from catalog_offers, and brings it up to date from what changed since the
-- version it holds. Every write of catalog_offers, by any writer, takes the
-- next version of its space (catalog_versions) in its own transaction: the
-- space's row stays locked until COMMIT, so the writes of one space commit in
-- version order and a reader that sees version v sees every write up to v. A
-- withdrawn offer leaves a row in catalog_withdrawn with the version of its
-- withdrawal (removed again when the offer is published anew). Idempotent.
create table if not exists catalog_versions (
  space   text primary key,
  version bigint not null
);

alter table catalog_offers add column if not exists version bigint not null default 0;
create index if not exists catalog_offers_version on catalog_offers (space, version);

create table if not exists catalog_withdrawn (
  space     text not null,
  namespace text not null,
  name      text not null,
  version   bigint not null,
  primary key (space, namespace, name)
);
create index if not exists catalog_withdrawn_version on catalog_withdrawn (space, version);

create or replace function catalog_next_version(p_space text) returns bigint
language sql as $$
  insert into catalog_versions as v (space, version) values (p_space, 1)
  on conflict (space) do update set version = v.version + 1
  returning version
$$;

create or replace function catalog_offers_versioned() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and (old.space, old.namespace, old.name)
                          is distinct from (new.space, new.namespace, new.name)) then
    insert into catalog_withdrawn (space, namespace, name, version)
    values (old.space, old.namespace, old.name, catalog_next_version(old.space))
    on conflict (space, namespace, name) do update set version = excluded.version;
    if tg_op = 'DELETE' then
      return old;
    end if;
  end if;
  new.version := catalog_next_version(new.space);
  delete from catalog_withdrawn where space = new.space and namespace = new.namespace and name = new.name;
  return new;
end
$$;

drop trigger if exists catalog_offers_versioned on catalog_offers;
create trigger catalog_offers_versioned before insert or update or delete on catalog_offers
  for each row execute function catalog_offers_versioned();

-- Down Migration
drop trigger if exists catalog_offers_versioned on catalog_offers;
drop function if exists catalog_offers_versioned();
drop function if exists catalog_next_version(text);
drop table if exists catalog_withdrawn;
drop table if exists catalog_versions;
alter table catalog_offers drop column if exists version;
