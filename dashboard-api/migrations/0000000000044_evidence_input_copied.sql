-- Up Migration
-- The copiedInputs risk rule (dashboard-api/src/risk/evaluator.ts) reads a
-- space's sandbox.input-copied evidence entries at every pass: a partial index
-- on them, so a pass does not scan the space's whole log. Such entries are
-- rare; the index costs the other appends only the predicate.
create index if not exists evidence_entries_input_copied
  on evidence_entries (space)
  where event_id like 'sandbox/%/input-copied';

-- Down Migration
drop index if exists evidence_entries_input_copied;
