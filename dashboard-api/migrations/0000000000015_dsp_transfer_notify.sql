-- Up Migration
-- Every state change of a DSP transfer is announced on the channel
-- tds_dsp_transfer (payload: the transfer's pid), so that a gateway running in
-- another process than the DSP endpoints cuts the streams of a transfer that
-- is suspended, completed or terminated at once (dsp/transfer-tokens.ts).
create or replace function tds_dsp_transfer_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('tds_dsp_transfer', new.pid);
  return new;
end;
$$;

create trigger dsp_transfers_state_notify
  after update of state on dsp_transfers
  for each row
  when (old.state is distinct from new.state)
  execute function tds_dsp_transfer_notify();
