-- Up Migration
-- Metering, rollups, price sheets and statements. Forward only and idempotent:
-- every statement can run again on a database that already has it.

-- One row per data space. closed_through is the start of the first open billing
-- period (UTC month); every period before it is closed and its statement immutable.
create table if not exists spaces (
  space text primary key,
  closed_through timestamptz,
  created_at timestamptz not null default now()
);

-- Raw usage events, one per CloudEvent (source, id). Never updated, never overwritten.
-- settle_period is set for late events: the open period whose statement carries them
-- as adjustment lines because their own period had closed when they arrived.
create table if not exists usage_events (
  source text not null,
  id text not null,
  space text not null references spaces (space),
  participant text not null,
  provider text not null default '',
  offer text not null default '',
  meter text not null,
  quantity numeric(38, 0) not null check (quantity >= 0),
  event_time timestamptz not null,
  received_at timestamptz not null default now(),
  payload_sha256 bytea not null,
  settle_period date,
  primary key (source, id)
);
create index if not exists usage_events_space_time on usage_events (space, event_time);

-- The same (source, id) sent again with a different payload: flagged here, never applied.
create table if not exists usage_conflicts (
  conflict_id bigserial primary key,
  source text not null,
  id text not null,
  space text not null,
  original_sha256 bytea not null,
  payload_sha256 bytea not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  received_by text not null
);
create index if not exists usage_conflicts_space on usage_conflicts (space, received_at);

-- Rollups by event time, maintained in the ingest transaction for newly inserted events only.
create table if not exists usage_hourly (
  space text not null,
  hour timestamptz not null,
  participant text not null,
  provider text not null,
  offer text not null,
  meter text not null,
  quantity numeric(38, 0) not null,
  events bigint not null,
  primary key (space, hour, participant, provider, offer, meter)
);
create table if not exists usage_daily (
  space text not null,
  day date not null,
  participant text not null,
  provider text not null,
  offer text not null,
  meter text not null,
  quantity numeric(38, 0) not null,
  events bigint not null,
  primary key (space, day, participant, provider, offer, meter)
);
-- Late events by the period that settles them (adjustment lines) and their own hour (for pricing).
create table if not exists usage_late_hourly (
  space text not null,
  settle_period date not null,
  hour timestamptz not null,
  participant text not null,
  provider text not null,
  offer text not null,
  meter text not null,
  quantity numeric(38, 0) not null,
  events bigint not null,
  primary key (space, settle_period, hour, participant, provider, offer, meter)
);

-- Price sheets per space, versioned by the instant they take effect.
create table if not exists price_sheets (
  sheet_id bigserial primary key,
  space text not null references spaces (space),
  effective_from timestamptz not null,
  currency char(3) not null,
  platform_fee_bps integer not null check (platform_fee_bps between 0 and 10000),
  provider_share_bps integer not null check (provider_share_bps between 0 and 10000),
  origin text not null,
  created_by text not null,
  created_at timestamptz not null default now(),
  unique (space, effective_from)
);
create table if not exists price_sheet_prices (
  sheet_id bigint not null references price_sheets (sheet_id) on delete cascade,
  meter text not null,
  unit text not null,
  -- Price of one billing unit (e.g. one GB-month) and how many base units make one.
  unit_price numeric not null check (unit_price >= 0),
  base_units_per_unit numeric(38, 0) not null check (base_units_per_unit > 0),
  primary key (sheet_id, meter)
);

-- Closed statements. Drafts of open periods are computed, never stored.
create table if not exists statements (
  space text not null references spaces (space),
  period date not null,
  closed_at timestamptz not null default now(),
  closed_by text not null,
  primary key (space, period)
);
create table if not exists statement_lines (
  space text not null,
  period date not null,
  line_no integer not null,
  kind text not null check (kind in ('usage', 'late_usage', 'adjustment')),
  participant text not null,
  provider text not null,
  offer text not null,
  meter text not null,
  unit text not null,
  quantity numeric not null,
  unit_price numeric,
  amount numeric not null,
  currency char(3),
  platform_fee numeric not null,
  provider_share numeric not null,
  sheet_id bigint,
  description text not null default '',
  primary key (space, period, line_no),
  foreign key (space, period) references statements (space, period)
);
-- Manual corrections: always new lines on an open period, never edits.
create table if not exists statement_adjustments (
  adjustment_id bigserial primary key,
  space text not null references spaces (space),
  period date not null,
  participant text not null,
  description text not null,
  amount numeric not null,
  currency char(3) not null,
  created_by text not null,
  created_at timestamptz not null default now()
);
-- Who closed or corrected what, and when.
create table if not exists statement_audit (
  audit_id bigserial primary key,
  space text not null,
  period date not null,
  action text not null,
  actor text not null,
  at timestamptz not null default now(),
  detail jsonb not null default '{}'
);

-- Immutability is enforced by the database, not only by the API.
create or replace function tds_forbid_change() returns trigger language plpgsql as $$
begin
  raise exception 'TDS: % on % is not allowed: rows are immutable', tg_op, tg_table_name
    using errcode = 'P0001';
end $$;

create or replace function tds_adjustment_period_open() returns trigger language plpgsql as $$
begin
  if exists (select 1 from spaces s where s.space = new.space
             and s.closed_through is not null and new.period < s.closed_through::date) then
    raise exception 'TDS: period % of space % is closed', new.period, new.space using errcode = 'P0001';
  end if;
  return new;
end $$;

drop trigger if exists usage_events_immutable on usage_events;
create trigger usage_events_immutable before update or delete on usage_events
  for each row execute function tds_forbid_change();
drop trigger if exists statements_immutable on statements;
create trigger statements_immutable before update or delete on statements
  for each row execute function tds_forbid_change();
drop trigger if exists statement_lines_immutable on statement_lines;
create trigger statement_lines_immutable before update or delete on statement_lines
  for each row execute function tds_forbid_change();
drop trigger if exists statement_adjustments_immutable on statement_adjustments;
create trigger statement_adjustments_immutable before update or delete on statement_adjustments
  for each row execute function tds_forbid_change();
drop trigger if exists statement_adjustments_open on statement_adjustments;
create trigger statement_adjustments_open before insert on statement_adjustments
  for each row execute function tds_adjustment_period_open();
drop trigger if exists statement_audit_immutable on statement_audit;
create trigger statement_audit_immutable before update or delete on statement_audit
  for each row execute function tds_forbid_change();
-- Lines may only be added while their statement is being closed (same transaction).
create or replace function tds_lines_only_at_close() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from statements st where st.space = new.space and st.period = new.period
                 and st.xmin = pg_current_xact_id()::xid) then
    raise exception 'TDS: statement %/% is closed; add an adjustment to an open period instead',
      new.space, new.period using errcode = 'P0001';
  end if;
  return new;
end $$;
drop trigger if exists statement_lines_at_close on statement_lines;
create trigger statement_lines_at_close before insert on statement_lines
  for each row execute function tds_lines_only_at_close();
