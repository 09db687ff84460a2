-- Up Migration
-- The evidence log: one RFC 9162 Merkle tree per DataSpace (docs/evidence.md).
-- Idempotent, so tests can apply it directly to a fresh schema.

-- The head of each space's log. Appends lock this row, which makes the log one
-- linear sequence; `frontier` holds the roots of the perfect subtrees that make
-- up the current tree, so an append needs no other read.
create table if not exists evidence_logs (
  space      text primary key,
  tree_size  bigint not null default 0 check (tree_size >= 0),
  root_hash  bytea not null check (octet_length(root_hash) = 32),
  frontier   bytea[] not null default '{}',
  updated_at timestamptz not null default now()
);

-- One row per leaf. `entry` is the exact RFC 8785 canonical JSON the leaf hash covers;
-- the object columns are copies used to filter what a participant may read.
create table if not exists evidence_entries (
  space            text not null references evidence_logs (space),
  leaf_index       bigint not null check (leaf_index >= 0),
  event_id         text not null,
  leaf_hash        bytea not null check (octet_length(leaf_hash) = 32),
  entry            bytea not null,
  object_kind      text not null,
  object_namespace text,
  object_name      text not null,
  object_uid       text not null,
  recorded_at      timestamptz not null default now(),
  primary key (space, leaf_index),
  unique (space, event_id)
);
create index if not exists evidence_entries_by_namespace
  on evidence_entries (space, object_namespace, leaf_index);
create index if not exists evidence_entries_by_uid
  on evidence_entries (space, object_uid, leaf_index);

-- Hashes of perfect subtrees of 2^level leaves (level >= 1; level 0 is
-- evidence_entries.leaf_hash). Written once, when the subtree completes, so
-- any proof needs O(log n) rows.
create table if not exists evidence_nodes (
  space text not null,
  level smallint not null check (level > 0 and level < 64),
  idx   bigint not null check (idx >= 0),
  hash  bytea not null check (octet_length(hash) = 32),
  primary key (space, level, idx)
);

-- Signed checkpoints (C2SP signed notes). At most one per tree size.
create table if not exists evidence_checkpoints (
  space           text not null references evidence_logs (space),
  tree_size       bigint not null check (tree_size >= 0),
  root_hash       bytea not null check (octet_length(root_hash) = 32),
  checkpoint_time timestamptz not null,
  note            text not null,
  exported_key    text,
  exported_at     timestamptz,
  primary key (space, tree_size)
);
create index if not exists evidence_checkpoints_unexported
  on evidence_checkpoints (space, tree_size) where exported_at is null;

-- Entries and subtree hashes are append-only. This stops mistakes, not a
-- database owner: that is what the exported checkpoints are for.
create or replace function evidence_refuse_change() returns trigger
  language plpgsql as $$
begin
  raise exception 'the evidence log is append-only: % on % refused', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end;
$$;
drop trigger if exists evidence_entries_append_only on evidence_entries;
create trigger evidence_entries_append_only before update or delete on evidence_entries
  for each row execute function evidence_refuse_change();
drop trigger if exists evidence_nodes_append_only on evidence_nodes;
create trigger evidence_nodes_append_only before update or delete on evidence_nodes
  for each row execute function evidence_refuse_change();

-- Down Migration
drop table if exists evidence_checkpoints;
drop table if exists evidence_nodes;
drop table if exists evidence_entries;
drop table if exists evidence_logs;
drop function if exists evidence_refuse_change();
