// The spaces the API knows, and the bounds of their accounts. A space is registered
// by the cluster's word only: the DataSpace price sync, the gateway (its grant came
// from a DataContract) and the cluster-wide roles (operator, platform-admin). A
// space-bound token (space-admin of X) proves nothing about X's existence, so every
// route it calls requires X to be registered, with the same 404 as a foreign space.
import type { FastifyInstance } from "fastify";
import type { PoolClient } from "pg";
import { authorize, clusterWideRoles, type Capability, type Principal } from "./auth/principal.ts";
import { TdsError } from "./errors.ts";
import { defaultTimeWindow } from "./metering/events.ts";

export async function requireSpace(
  app: FastifyInstance,
  principal: Principal,
  space: string,
  capability: Capability,
): Promise<{ closedThrough: Date | null }> {
  authorize(principal, space, capability);
  const { rows } = await app
    .pool()
    .query<{ closed_through: Date | null }>("select closed_through from spaces where space = $1", [space]);
  const row = rows[0];
  if (!row) throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
  return { closedThrough: row.closed_through };
}

/** Registers the space if new; only for callers acting on the cluster's word (see above). */
export async function registerSpace(client: PoolClient, space: string): Promise<void> {
  await client.query("insert into spaces (space) values ($1) on conflict do nothing", [space]);
}

/** True when the principal may register a space it names (a cluster-wide role). */
export function mayRegisterSpaces(principal: Principal): boolean {
  return clusterWideRoles.includes(principal.role);
}

/**
 * The first instant a space's accounts can hold anything: its oldest usage event, or
 * the oldest time the ingest still accepts (defaultTimeWindow.maxAgeMs before now),
 * whichever is earlier. Periods and price sheets before it are refused as nonsense.
 */
export async function accountsStart(client: PoolClient, space: string, now: Date): Promise<Date> {
  const { rows } = await client.query<{ first: Date | null }>(
    // The first hour from the rollups (every stored event is in usage_hourly), then that hour's events.
    `select min(e.event_time) as first from usage_events e,
       (select min(hour) as hour from usage_hourly where space = $1) h
     where e.space = $1 and e.event_time >= h.hour and e.event_time < h.hour + interval '1 hour'`,
    [space],
  );
  const window = new Date(now.getTime() - defaultTimeWindow.maxAgeMs);
  const first = rows[0]?.first ?? null;
  return first && first < window ? first : window;
}

/**
 * True when the participant belongs to the space: a Participant of the space in the
 * cluster (synced by syncParticipants), or, for an API without a cluster, a party to
 * the space's usage (as the participant who used or the provider whose data was used).
 */
export async function isParticipantOf(
  client: PoolClient,
  space: string,
  participant: string,
): Promise<boolean> {
  const { rows } = await client.query(
    `select 1 from space_participants where space = $1 and participant = $2
     union all
     select 1 from usage_daily where space = $1 and (participant = $2 or provider = $2)
     limit 1`,
    [space, participant],
  );
  return rows.length > 0;
}

/** Records the cluster's Participants of each known space; a Participant that is gone stays (its accounts do). */
export async function syncParticipants(
  client: PoolClient,
  participants: readonly { name: string; space: string }[],
): Promise<number> {
  const { rowCount } = await client.query(
    `insert into space_participants (space, participant)
     select p.space, p.participant from unnest($1::text[], $2::text[]) as p(space, participant)
     join spaces s on s.space = p.space
     on conflict do nothing`,
    [participants.map((p) => p.space), participants.map((p) => p.name)],
  );
  return rowCount ?? 0;
}
