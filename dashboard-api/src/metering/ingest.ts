// Exactly-once ingest: one transaction inserts the new events, updates the hourly,
// daily and late rollups for those events only, and records payload conflicts.
// An event's idempotency key is (space, source, id): what one space sends never
// touches another's events (migration 0007).
import type { PoolClient, QueryResult } from "pg";
import { TdsError } from "../errors.ts";
import type { IngestEvent } from "./events.ts";

export type IngestStatus = "accepted" | "conflict";

export interface IngestOptions {
  /**
   * Register the events' spaces when new. Only for callers that act on the cluster's
   * word that the space exists (the gateway, whose grant came from a DataContract, and
   * the cluster-wide roles); for everyone else an unknown space is a 404.
   */
  readonly registerSpaces?: boolean;
}

export interface IngestResult {
  source: string;
  id: string;
  status: IngestStatus;
  /** True when this request did not store the event because it was stored before. */
  replay: boolean;
  receivedAt: string;
  late: boolean;
  settlePeriod?: string;
  code?: string;
  message?: string;
}

const key = (e: { space: string; source: string; id: string }): string =>
  `${e.space}\u0000${e.source}\u0000${e.id}`;

/**
 * The ingest statement. `deduplicate`: events already stored are skipped (ON
 * CONFLICT DO NOTHING); without it the statement fails with a unique violation
 * if one is, and costs a speculative insertion less per event.
 */
const insertSql = (deduplicate: boolean): string => `
with input as (
  select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::numeric[], $9::timestamptz[], $10::bytea[], $11::text[], $14::jsonb[])
    as t(source, id, space, participant, provider, offer, meter, quantity, event_time, payload_sha256, contract, share)
),
-- The batch's spaces, locked for share in order: a concurrent close waits for us, and we see its new
-- watermark if it committed first, so no event slips between the two. Nothing is written unless every
-- space of the batch is known ($13 is how many there are).
known as (
  select space, closed_through from spaces where space = any($13::text[]) order by space for share
),
marked as (
  select i.*, case when s.closed_through is not null and i.event_time < s.closed_through
                   then (s.closed_through at time zone 'UTC')::date end as settle_period
  from input i join known s on s.space = i.space
  where (select count(*) from known) = cardinality($13::text[])
),
ins as (
  insert into usage_events (source, id, space, participant, provider, offer, contract, meter, quantity, event_time,
                            payload_sha256, settle_period, share)
  select source, id, space, participant, provider, offer, contract, meter, quantity, event_time, payload_sha256,
         settle_period, share
  from marked
  ${deduplicate ? "on conflict (space, source, id) do nothing" : ""}
  returning source, id, space, participant, provider, offer, contract, meter, quantity, event_time, settle_period,
            received_at
),
hourly as (
  insert into usage_hourly as u (space, hour, participant, provider, offer, contract, meter, quantity, events)
  select space, date_trunc('hour', event_time, 'UTC'), participant, provider, offer, contract, meter, sum(quantity),
         count(*)
  from ins group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
  on conflict (space, hour, participant, provider, offer, contract, meter)
  do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events
  returning 1
),
daily as (
  insert into usage_daily as u (space, day, participant, provider, offer, contract, meter, quantity, events)
  select space, (event_time at time zone 'UTC')::date, participant, provider, offer, contract, meter, sum(quantity),
         count(*)
  from ins group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
  on conflict (space, day, participant, provider, offer, contract, meter)
  do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events
  returning 1
),
late as (
  insert into usage_late_hourly as u (space, settle_period, hour, participant, provider, offer, contract, meter,
                                      quantity, events)
  select space, settle_period, date_trunc('hour', event_time, 'UTC'), participant, provider, offer, contract, meter,
         sum(quantity), count(*)
  from ins where settle_period is not null
  group by 1, 2, 3, 4, 5, 6, 7, 8 order by 1, 2, 3, 4, 5, 6, 7, 8
  on conflict (space, settle_period, hour, participant, provider, offer, contract, meter)
  do update set quantity = u.quantity + excluded.quantity, events = u.events + excluded.events
  returning 1
)
-- Every inserted row only when some event was not inserted (a replay or conflict), else the late ones and a
-- summary row (space null): how many were inserted and when (received_at is the transaction's now()).
select space, source, id, received_at, settle_period::text as settle_period, null::int as inserted
from ins where settle_period is not null or (select count(*) from ins) < $12::int
union all
select null, null, null, (select min(received_at) from ins), null, (select count(*)::int from ins)
union all
select space, null, null, null, null, null from known`;

interface StoredRow {
  space: string;
  source: string;
  id: string;
  received_at: Date;
  settle_period: string | null;
  payload_sha256?: Buffer;
}

function accepted(e: IngestEvent, row: Stored["row"], receivedAt: string, replay: boolean): IngestResult {
  return {
    source: e.source,
    id: e.id,
    status: "accepted",
    replay,
    receivedAt,
    late: row.settle_period !== null,
    ...(row.settle_period !== null ? { settlePeriod: row.settle_period } : {}),
  };
}

/** How an event of the batch is stored: the row, and whether it was stored before this request. */
interface Stored {
  row: Pick<StoredRow, "received_at" | "settle_period" | "payload_sha256">;
  replay: boolean;
}

/**
 * Ingests a validated batch inside the caller's transaction. Results come back in input
 * order. Within a batch the first occurrence of a (source, id) wins, like across batches.
 */
export async function ingestEvents(
  client: PoolClient,
  events: readonly IngestEvent[],
  actor: string,
  opts: IngestOptions = {},
): Promise<IngestResult[]> {
  // Each event's key, built once: a batch is up to thousands of events, and this loop is on the ingest's path.
  const keys = events.map(key);
  const unique = new Map<string, IngestEvent>();
  events.forEach((e, i) => {
    const k = keys[i] ?? "";
    if (!unique.has(k)) unique.set(k, e);
  });
  const batch = [...unique.values()];

  const spaces = [...new Set(batch.map((e) => e.space))].sort();
  if (opts.registerSpaces === true)
    await client.query("insert into spaces (space) select unnest($1::text[]) on conflict do nothing", [
      spaces,
    ]);

  const params = [
    batch.map((e) => e.source),
    batch.map((e) => e.id),
    batch.map((e) => e.space),
    batch.map((e) => e.participant),
    batch.map((e) => e.provider),
    batch.map((e) => e.offer),
    batch.map((e) => e.meter),
    batch.map((e) => e.quantity.toString()),
    batch.map((e) => e.time.toISOString()),
    batch.map((e) => e.sha256),
    batch.map((e) => e.contract),
    batch.length,
    spaces,
    batch.map((e) => (e.share ? JSON.stringify(e.share) : null)),
  ];
  type Returned =
    StoredRow | { space: null; received_at: Date | null; inserted: number } | { space: string; source: null };
  // Most batches are new events: they are inserted without ON CONFLICT, under a savepoint. If one of them is
  // stored already (a replay, or another transaction stored it first), nothing of that statement stays and the
  // batch goes again with ON CONFLICT DO NOTHING, which reports the stored ones.
  await client.query("savepoint ingest");
  let inserted: QueryResult<Returned>;
  try {
    inserted = await client.query<Returned>({ name: "ingest-new", text: insertSql(false), values: params });
  } catch (err) {
    if ((err as { code?: unknown }).code !== "23505") throw err;
    await client.query("rollback to savepoint ingest");
    inserted = await client.query<Returned>({ name: "ingest", text: insertSql(true), values: params });
  }
  const stored = new Map<string, Stored>();
  const found = new Set<string>();
  let summary: { count: number; receivedAt: Date | null } = { count: 0, receivedAt: null };
  for (const row of inserted.rows) {
    if (row.space === null) summary = { count: row.inserted, receivedAt: row.received_at };
    else if (row.source === null) found.add(row.space);
    else stored.set(key(row), { row, replay: false });
  }
  const unknown = events.findIndex((e) => !found.has(e.space));
  if (unknown >= 0) {
    // Nothing was written.
    const field = `body/${String(unknown)}/data/space`;
    throw new TdsError("spaceNotFound", `${field}: space ${events[unknown]?.space ?? ""} not found`, {
      field,
    });
  }
  // All inserted: the rows not returned are the ones on time, received at the transaction's time.
  const receivedAt = summary.receivedAt;
  const onTime: Stored | undefined =
    summary.count === batch.length && receivedAt
      ? { row: { received_at: receivedAt, settle_period: null }, replay: false }
      : undefined;

  if (!onTime) {
    const missing = [...unique].filter(([k]) => !stored.has(k)).map(([, e]) => e);
    if (missing.length > 0) {
      const existing = await client.query<StoredRow>(
        `select e.space, e.source, e.id, e.received_at, e.settle_period::text as settle_period, e.payload_sha256
         from usage_events e join unnest($1::text[], $2::text[], $3::text[]) as k(space, source, id)
           using (space, source, id)`,
        [missing.map((e) => e.space), missing.map((e) => e.source), missing.map((e) => e.id)],
      );
      for (const row of existing.rows) stored.set(key(row), { row, replay: true });
    }
  }

  const iso = new Map<number, string>();
  const isoOf = (d: Date): string => {
    let s = iso.get(d.getTime());
    if (s === undefined) iso.set(d.getTime(), (s = d.toISOString()));
    return s;
  };
  const conflicts: IngestEvent[] = [];
  const results = events.map((e, i): IngestResult => {
    const k = keys[i] ?? "";
    const found = stored.get(k) ?? onTime;
    if (!found) throw new Error(`event ${e.source}/${e.id} was neither inserted nor found`);
    const original = found.row.payload_sha256;
    const first = unique.get(k);
    const sameAsStored = found.replay
      ? original?.equals(e.sha256) === true
      : first === e || first?.sha256.equals(e.sha256) === true;
    if (!sameAsStored) {
      conflicts.push(e);
      return {
        source: e.source,
        id: e.id,
        status: "conflict",
        replay: false,
        receivedAt: isoOf(found.row.received_at),
        late: false,
        code: "TDS_ERR_EVENT_CONFLICT",
        message: `Event ${e.id} from ${e.source} was already received with a different payload (index ${i}); the original stands`,
      };
    }
    return accepted(e, found.row, isoOf(found.row.received_at), found.replay || first !== e);
  });

  if (conflicts.length > 0) {
    await client.query(
      `insert into usage_conflicts (source, id, space, original_sha256, payload_sha256, payload, received_by)
       select c.source, c.id, c.space, e.payload_sha256, c.sha, c.payload, $6
       from unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) as c(source, id, space, sha, payload)
       join usage_events e using (space, source, id)`,
      [
        conflicts.map((e) => e.source),
        conflicts.map((e) => e.id),
        conflicts.map((e) => e.space),
        conflicts.map((e) => e.sha256),
        conflicts.map((e) => JSON.stringify(e.raw)),
        actor,
      ],
    );
  }
  return results;
}
