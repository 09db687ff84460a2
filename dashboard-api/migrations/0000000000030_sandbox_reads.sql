-- Up Migration
-- Revenue by contribution (docs/governance.md): a SandboxJob's input reads are
-- tallied per job and agreement, so its usage can be split among the providers
-- it read from. The gateway sets sandbox_job (the job's uid) on the transfers
-- of a job's input reads; other transfers leave it null. Idempotent.
alter table gateway_transfers add column if not exists sandbox_job text;
create index if not exists gateway_transfers_sandbox_job on gateway_transfers (sandbox_job)
  where sandbox_job is not null;

-- Down Migration
drop index if exists gateway_transfers_sandbox_job;
alter table gateway_transfers drop column if exists sandbox_job;
