-- Up Migration
-- The catalogue: one row per published DataOffer, written by the operator
-- through PUT /v1/spaces/:space/catalog/offers/:namespace/:name and removed
-- by DELETE when the offer is withdrawn (docs/contracts.md).
--
-- Full-text search works for Chinese as well as English without a Chinese
-- tokenizer: the API tokenises text itself (catalog/tokens.ts: CJK runs become
-- unigrams and overlapping bigrams, other text lowercase words) and stores the
-- lexemes with array_to_tsvector, which bypasses the server's parser and
-- locale. Queries are tokenised the same way and cast to tsquery. Idempotent.
create table if not exists catalog_offers (
  space              text not null,
  namespace          text not null,
  name               text not null,
  id                 text generated always as (namespace || '/' || name) stored,
  uid                text not null,
  provider           text not null,
  provider_name      text not null,
  title              text not null,
  description        text not null default '',
  keywords           text[] not null default '{}',
  classification     text not null,
  data_category      text not null,
  region             text not null,
  access_mode        text not null,
  contract_approval  text not null,
  purposes           text[] not null default '{}',
  format             text not null,
  content_id         text not null,
  byte_size          bigint not null check (byte_size >= 0),
  objects            integer not null check (objects >= 0),
  currency           text not null,
  price              jsonb not null default '{}',
  -- The one-off price per contract in the offer's currency, 0 when free: the price facet and filter.
  list_price         numeric(20, 4) not null default 0 check (list_price >= 0),
  valid_from         timestamptz,
  valid_until        timestamptz,
  published_at       timestamptz not null,
  updated_at         timestamptz not null default now(),
  search             tsvector not null,
  title_search       tsvector not null,
  primary key (space, namespace, name)
);

create index if not exists catalog_offers_search on catalog_offers using gin (search);
create index if not exists catalog_offers_newest on catalog_offers (space, published_at desc, id);
create index if not exists catalog_offers_category on catalog_offers (space, data_category);
create index if not exists catalog_offers_provider on catalog_offers (space, provider);
create index if not exists catalog_offers_price on catalog_offers (space, list_price);

-- Down Migration
drop table if exists catalog_offers;
