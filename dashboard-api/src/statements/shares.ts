// The shares section of a statement (revenue by contribution, issue 18): each input's
// share of a SandboxJob's usage behind the period's lines, with the basis and the
// weights its usage event carried (@tds/wire UsageShare, migration 0045). Read from
// usage_events, which never change, so a closed period's shares are as fixed as its lines.
import type { PoolClient } from "pg";
import type { RevenueSharing } from "@tds/crds";
import type { Period } from "./statement.ts";

/**
 * One input's share of a SandboxJob's usage on one meter, as its usage event carried it
 * (@tds/wire UsageShare): what a line's quantity of that participant, provider, offer,
 * contract and meter is made of. kind says which lines: the period's own usage, or late
 * usage of a closed period that this period carries.
 */
export interface StatementShare {
  kind: "usage" | "late_usage";
  job: string;
  input: string;
  participant: string;
  provider: string;
  offer: string;
  contract: string;
  meter: string;
  /** The input's part, in the meter's base unit. */
  quantity: string;
  /** The job's whole usage on the meter. */
  total: string;
  basis: RevenueSharing;
  weight: string;
  inputsWeight: string;
  providerWeight: string;
  providersWeight: string;
  /** When the usage happened (the job's completion). */
  time: string;
}

// The period's shared events: those it prices on time (by event time, not late: after the
// close every event of the period is late, so a closed period's set never changes) and the
// late ones it carries; migration 0045 has a partial index for each half.
const sharesSql = `
select kind, share->>'job' as job, share->>'input' as input, participant, provider, offer, contract, meter,
       quantity::text as quantity, share->>'total' as total, share->>'basis' as basis,
       share->>'weight' as weight, share->>'inputsWeight' as "inputsWeight",
       share->>'providerWeight' as "providerWeight", share->>'providersWeight' as "providersWeight", event_time
from (
  select 'usage' as kind, * from usage_events
  where space = $1 and share is not null and event_time >= $2 and event_time < $3 and settle_period is null
  union all
  select 'late_usage', * from usage_events
  where space = $1 and share is not null and settle_period = $4::date
) e
order by kind desc, event_time, job, input, meter`;

/** The shares of a SandboxJob's usage behind the period's lines (open or closed alike). */
export async function statementShares(
  client: PoolClient,
  space: string,
  period: Period,
): Promise<StatementShare[]> {
  const { rows } = await client.query<Omit<StatementShare, "time"> & { event_time: Date }>(sharesSql, [
    space,
    period.start,
    period.end,
    period.date,
  ]);
  return rows.map(({ event_time, ...share }) => ({ ...share, time: event_time.toISOString() }));
}
