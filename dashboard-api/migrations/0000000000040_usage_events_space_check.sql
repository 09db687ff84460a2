-- Up Migration
-- Usage ingest at a higher rate (docs/performance.md, "Metering"): the foreign
-- key from usage_events to spaces checked every inserted row on its own (one
-- lookup and lock per event, about a third of the insert's time); the same rule
-- is now checked once per statement over the statement's distinct spaces, for
-- every writer: the spaces are locked for key share as the foreign key locked
-- them, an unknown space fails the statement with foreign_key_violation, and a
-- space that has events can be neither deleted nor renamed. Idempotent.
create or replace function usage_events_space_check() returns trigger language plpgsql as $$
begin
  perform 1 from spaces s where s.space in (select distinct n.space from new_events n) order by s.space
    for key share;
  if exists (select 1 from (select distinct n.space from new_events n) n
             where not exists (select 1 from spaces s where s.space = n.space)) then
    raise foreign_key_violation using message = 'usage_events: space is not in spaces';
  end if;
  return null;
end $$;
drop trigger if exists usage_events_space_check on usage_events;
create trigger usage_events_space_check after insert on usage_events
  referencing new table as new_events for each statement execute function usage_events_space_check();

create or replace function spaces_keep_usage() returns trigger language plpgsql as $$
begin
  if exists (select 1 from usage_events e where e.space = old.space) then
    raise foreign_key_violation using message = format('spaces: space %s has usage events', old.space);
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end $$;
drop trigger if exists spaces_keep_usage on spaces;
create trigger spaces_keep_usage before delete or update of space on spaces
  for each row execute function spaces_keep_usage();

alter table usage_events drop constraint if exists usage_events_space_fkey;

-- Down Migration
drop trigger if exists usage_events_space_check on usage_events;
drop trigger if exists spaces_keep_usage on spaces;
drop function if exists usage_events_space_check();
drop function if exists spaces_keep_usage();
alter table usage_events add constraint usage_events_space_fkey foreign key (space) references spaces (space);
