// The evidence log over PostgreSQL: appends, reads, proofs and checkpoints
// for one log per DataSpace. Tables are in migrations/0000000000002_evidence.sql.
//
// Appends lock the space's head row (SELECT ... FOR UPDATE), so concurrent
// appenders queue up and the log stays one linear sequence; the head row also
// holds the frontier, so an append reads nothing else. A result is returned
// only after COMMIT. Proofs read O(log n) stored subtree hashes.
//
// An append to a space whose head this store wrote last takes one round trip:
// one autocommitted statement that moves the head only if it is still the
// one written (size, root and frontier compared), and writes the leaves and
// subtrees only if the head moved and none of the eventIds is in the log.
// When anything else wrote the head (another replica, another appender), the
// statement writes nothing and the append takes the locked transaction.
import type pg from "pg";
import type { EvidenceEntry } from "@tds/wire";
import { entryBytes } from "./entry.ts";
import {
  appendToFrontier,
  consistencyPlan,
  emptyRoot,
  type Hash,
  hashEquals,
  inclusionPlan,
  leafHash,
  type NodeId,
  type NodeSource,
  resolvePlan,
  rootFromFrontier,
} from "./merkle.ts";
import {
  type CheckpointSigner,
  originFor,
  parseCheckpointBody,
  type SignedCheckpoint,
  signCheckpoint,
} from "./checkpoint.ts";

export interface AppendResult {
  eventId: string;
  leafIndex: number;
  leafHash: Hash;
  /** True when an entry with this eventId was already in the log; nothing new was written. */
  duplicate: boolean;
}

export interface LogHead {
  treeSize: number;
  rootHash: Hash;
}

export interface StoredEntry {
  leafIndex: number;
  leafHash: Hash;
  /** The canonical bytes the leaf hash covers. */
  entry: Buffer;
}

/**
 * Which entries a reader may see; undefined means all. An entry is visible
 * when its object is in one of the namespaces, has one of the uids, or is one
 * of the named cluster-scoped objects (for example the reader's Participant).
 */
export interface EntryFilter {
  namespaces?: readonly string[];
  uids?: readonly string[];
  clusterObjects?: readonly { kind: string; name: string }[];
}

export class EvidenceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "EvidenceError";
  }
}

/**
 * TDS_ERR_EVIDENCE_EVENT_CONFLICT: the eventId is in the log with other
 * content. Carries the entry the log holds, so a caller that retried after a
 * crash (with a new clock) learns where its event is and what was recorded.
 */
export class EvidenceConflictError extends EvidenceError {
  constructor(
    message: string,
    field: string,
    readonly recorded: StoredEntry,
  ) {
    super("TDS_ERR_EVIDENCE_EVENT_CONFLICT", message, field);
    this.name = "EvidenceConflictError";
  }
}

const EMPTY_ROOT = emptyRoot();

interface HeadRow {
  tree_size: string;
  root_hash: Buffer;
  frontier: Buffer[];
}

const toHash = (b: Buffer): Hash => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A log's head as this store last wrote it. */
interface KnownHead {
  size: number;
  root: Hash;
  frontier: Hash[];
}

interface Prepared {
  e: EvidenceEntry;
  bytes: Buffer;
  hash: Hash;
}

/** The leaves appended after a head, the subtrees they complete and the new head. */
function extend(head: KnownHead, fresh: readonly Prepared[]) {
  let size = head.size;
  let frontier = head.frontier;
  const leaves: { index: number; p: Prepared }[] = [];
  const nodes: { level: number; index: number; hash: Hash }[] = [];
  for (const p of fresh) {
    const next = appendToFrontier(frontier, size, p.hash);
    for (const c of next.completed) nodes.push({ ...c.id, hash: c.hash });
    frontier = next.frontier;
    leaves.push({ index: size, p });
    size++;
  }
  return { leaves, nodes, head: { size, root: rootFromFrontier(frontier), frontier } };
}

/** The parameters $2..$12 of the statement that writes leaves and subtrees, and $13..$15 of the new head. */
function writeParams(x: ReturnType<typeof extend>): unknown[] {
  const { leaves, nodes, head } = x;
  return [
    leaves.map((l) => l.index),
    leaves.map((l) => l.p.e.eventId),
    leaves.map((l) => Buffer.from(l.p.hash)),
    leaves.map((l) => l.p.bytes),
    leaves.map((l) => l.p.e.object.kind),
    leaves.map((l) => l.p.e.object.namespace ?? null),
    leaves.map((l) => l.p.e.object.name),
    leaves.map((l) => l.p.e.object.uid),
    nodes.map((n) => n.level),
    nodes.map((n) => n.index),
    nodes.map((n) => Buffer.from(n.hash)),
    head.size,
    Buffer.from(head.root),
    head.frontier.map((h) => Buffer.from(h)),
  ];
}

/** The SQL condition under which a reader sees an entry; appends its parameters after $3. */
function visibleWhen(filter: EntryFilter | undefined, params: unknown[]): string {
  if (!filter) return "true";
  const cluster = filter.clusterObjects ?? [];
  params.push(
    filter.namespaces ?? [],
    filter.uids ?? [],
    cluster.map((o) => o.kind),
    cluster.map((o) => o.name),
  );
  return `(object_namespace = any($4) or object_uid = any($5) or (object_namespace is null and
    (object_kind, object_name) in (select * from unnest($6::text[], $7::text[]))))`;
}

export class EvidenceStore {
  /** Heads this store wrote, by space: the expected state of a one-round-trip append. */
  private readonly written = new Map<string, KnownHead>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { originPrefix?: string } = {},
  ) {}

  origin(space: string): string {
    return originFor(space, this.options.originPrefix);
  }

  /**
   * Appends entries to their space's log in one transaction, in order, and
   * returns after COMMIT. Entries whose eventId is already in the log (or
   * earlier in the batch) are not appended again; they report where they are.
   * Throws TDS_ERR_EVIDENCE_EVENT_CONFLICT (an EvidenceConflictError, with the
   * entry the log holds) when a known eventId comes with a different entry.
   */
  async append(space: string, entries: readonly EvidenceEntry[]): Promise<AppendResult[]> {
    for (const [i, e] of entries.entries()) {
      if (e.space !== space) {
        throw new EvidenceError(
          "TDS_ERR_EVIDENCE_SPACE_MISMATCH",
          `entry ${i} belongs to space ${e.space}, not ${space}`,
          `entries[${i}].space`,
        );
      }
    }
    if (entries.length === 0) return [];
    const prepared: Prepared[] = entries.map((e) => {
      const bytes = entryBytes(e);
      return { e, bytes, hash: leafHash(bytes) };
    });
    const fast = await this.appendAfterWritten(space, prepared);
    if (fast) return fast;
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      const lockHead = (): Promise<pg.QueryResult<HeadRow>> =>
        client.query<HeadRow>(
          "select tree_size, root_hash, frontier from evidence_logs where space = $1 for update",
          [space],
        );
      let head = await lockHead();
      if (head.rows.length === 0) {
        // The space's first append: create the head row (a racing appender may do it first), then lock it.
        await client.query(
          "insert into evidence_logs (space, root_hash) values ($1, $2) on conflict (space) do nothing",
          [space, EMPTY_ROOT],
        );
        head = await lockHead();
      }
      const row = head.rows[0];
      if (!row) throw new Error(`the head row of space ${space} vanished`);
      const before: KnownHead = {
        size: Number(row.tree_size),
        root: toHash(row.root_hash),
        frontier: row.frontier.map(toHash),
      };

      const known = await client.query<{ event_id: string; leaf_index: string; leaf_hash: Buffer }>(
        "select event_id, leaf_index, leaf_hash from evidence_entries where space = $1 and event_id = any($2)",
        [space, prepared.map((p) => p.e.eventId)],
      );
      const seen = new Map<string, { leafIndex: number; leafHash: Hash }>(
        known.rows.map((r) => [
          r.event_id,
          { leafIndex: Number(r.leaf_index), leafHash: toHash(r.leaf_hash) },
        ]),
      );

      const results: AppendResult[] = [];
      const fresh: Prepared[] = [];
      let size = before.size;
      for (const [i, p] of prepared.entries()) {
        const prior = seen.get(p.e.eventId);
        if (prior) {
          if (!hashEquals(prior.leafHash, p.hash)) {
            const held = await client.query<{ entry: Buffer }>(
              "select entry from evidence_entries where space = $1 and leaf_index = $2",
              [space, prior.leafIndex],
            );
            throw new EvidenceConflictError(
              `event ${p.e.eventId} is already recorded at leaf ${prior.leafIndex} with different content`,
              `entries[${i}].eventId`,
              { ...prior, entry: held.rows[0]?.entry ?? Buffer.alloc(0) },
            );
          }
          results.push({ eventId: p.e.eventId, ...prior, duplicate: true });
          continue;
        }
        fresh.push(p);
        seen.set(p.e.eventId, { leafIndex: size, leafHash: p.hash });
        results.push({ eventId: p.e.eventId, leafIndex: size, leafHash: p.hash, duplicate: false });
        size++;
      }

      const after = extend(before, fresh);
      if (fresh.length > 0) {
        // One statement, one round trip: the leaves, the subtrees they completed and the new head.
        await client.query(
          `with leaves as (
             insert into evidence_entries
               (space, leaf_index, event_id, leaf_hash, entry, object_kind, object_namespace, object_name, object_uid)
             select $1, * from unnest($2::bigint[], $3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::text[],
                                      $8::text[], $9::text[])
           ), nodes as (
             insert into evidence_nodes (space, level, idx, hash)
             select $1, * from unnest($10::smallint[], $11::bigint[], $12::bytea[])
           )
           update evidence_logs set tree_size = $13, root_hash = $14, frontier = $15, updated_at = now()
            where space = $1`,
          [space, ...writeParams(after)],
        );
      }
      await client.query("commit");
      this.written.set(space, after.head);
      return results;
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      if (err instanceof EvidenceError) throw err;
      throw new Error(`cannot append ${entries.length} evidence entries to space ${space}`, { cause: err });
    } finally {
      client.release();
    }
  }

  /**
   * The append in one autocommitted statement, when the space's head is
   * still the one this store wrote and no eventId is in the log (or twice in
   * the batch). Undefined when it wrote nothing: the caller takes the locked
   * transaction, which also reports duplicates and conflicts.
   */
  private async appendAfterWritten(
    space: string,
    prepared: readonly Prepared[],
  ): Promise<AppendResult[] | undefined> {
    const head = this.written.get(space);
    if (!head || new Set(prepared.map((p) => p.e.eventId)).size !== prepared.length) return undefined;
    this.written.delete(space); // until this append is known to have moved it
    const after = extend(head, prepared);
    try {
      // Named: prepared once per connection, so it is not planned again for every append.
      const r = await this.pool.query<{ moved: number }>({
        name: "evidence-append-after-written",
        text: `with head as (
           update evidence_logs set tree_size = $13, root_hash = $14, frontier = $15, updated_at = now()
            where space = $1 and tree_size = $16 and root_hash = $17 and frontier = $18::bytea[]
              and not exists (select 1 from evidence_entries where space = $1 and event_id = any($3::text[]))
           returning 1
         ), leaves as (
           insert into evidence_entries
             (space, leaf_index, event_id, leaf_hash, entry, object_kind, object_namespace, object_name, object_uid)
           select $1, * from unnest($2::bigint[], $3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::text[],
                                    $8::text[], $9::text[])
            where exists (select 1 from head)
         ), nodes as (
           insert into evidence_nodes (space, level, idx, hash)
           select $1, * from unnest($10::smallint[], $11::bigint[], $12::bytea[])
            where exists (select 1 from head)
         )
         select count(*)::int as moved from head`,
        values: [
          space,
          ...writeParams(after),
          head.size,
          Buffer.from(head.root),
          head.frontier.map((h) => Buffer.from(h)),
        ],
      });
      if (r.rows[0]?.moved !== 1) return undefined;
    } catch {
      return undefined; // for example a unique violation: nothing was written
    }
    const current = this.written.get(space);
    if (!current || current.size < after.head.size) this.written.set(space, after.head);
    return after.leaves.map((l) => ({
      eventId: l.p.e.eventId,
      leafIndex: l.index,
      leafHash: l.p.hash,
      duplicate: false,
    }));
  }

  async head(space: string): Promise<LogHead> {
    const r = await this.pool.query<HeadRow>(
      "select tree_size, root_hash from evidence_logs where space = $1",
      [space],
    );
    const row = r.rows[0];
    return row
      ? { treeSize: Number(row.tree_size), rootHash: toHash(row.root_hash) }
      : { treeSize: 0, rootHash: EMPTY_ROOT };
  }

  /** Entries with start <= leafIndex < end, in order, limited to what a reader may see. */
  async entries(space: string, start: number, end: number, filter?: EntryFilter): Promise<StoredEntry[]> {
    const rows = await this.leaves(space, start, end, filter);
    return rows.filter((r): r is StoredEntry => r.entry !== undefined);
  }

  /**
   * Every leaf with start <= leafIndex < end; `entry` is left out of the
   * leaves the reader may not see, so the tree can still be recomputed.
   */
  async leaves(
    space: string,
    start: number,
    end: number,
    filter?: EntryFilter,
  ): Promise<{ leafIndex: number; leafHash: Hash; entry?: Buffer }[]> {
    const params: unknown[] = [space, start, end];
    const r = await this.pool.query<{ leaf_index: string; leaf_hash: Buffer; entry: Buffer | null }>(
      `select leaf_index, leaf_hash, case when ${visibleWhen(filter, params)} then entry end as entry
         from evidence_entries where space = $1 and leaf_index >= $2 and leaf_index < $3 order by leaf_index`,
      params,
    );
    return r.rows.map((row) => ({
      leafIndex: Number(row.leaf_index),
      leafHash: toHash(row.leaf_hash),
      ...(row.entry ? { entry: row.entry } : {}),
    }));
  }

  /**
   * The same leaves as text for an export: the leaf hash in base64 and the
   * entry's stored canonical JSON, both encoded by the database, so a large
   * export passes no per-row buffers through this process.
   */
  async leafTexts(
    space: string,
    start: number,
    end: number,
    filter?: EntryFilter,
  ): Promise<{ leafIndex: number; leafHash: string; entry?: string }[]> {
    const params: unknown[] = [space, start, end];
    const r = await this.pool.query<{ leaf_index: string; leaf_hash: string; entry: string | null }>(
      `select leaf_index, encode(leaf_hash, 'base64') as leaf_hash,
              case when ${visibleWhen(filter, params)} then convert_from(entry, 'UTF8') end as entry
         from evidence_entries where space = $1 and leaf_index >= $2 and leaf_index < $3 order by leaf_index`,
      params,
    );
    return r.rows.map((row) => ({
      leafIndex: Number(row.leaf_index),
      leafHash: row.leaf_hash,
      ...(row.entry === null ? {} : { entry: row.entry }),
    }));
  }

  async entryByEventId(space: string, eventId: string): Promise<StoredEntry | undefined> {
    const r = await this.pool.query<{ leaf_index: string; leaf_hash: Buffer; entry: Buffer }>(
      "select leaf_index, leaf_hash, entry from evidence_entries where space = $1 and event_id = $2",
      [space, eventId],
    );
    const row = r.rows[0];
    return row && { leafIndex: Number(row.leaf_index), leafHash: toHash(row.leaf_hash), entry: row.entry };
  }

  /** The stored subtree hashes of a space, as a merkle.ts NodeSource: one query per proof. */
  nodeSource(space: string): NodeSource {
    return {
      getNodes: async (ids: readonly NodeId[]): Promise<Hash[]> => {
        if (ids.length === 0) return [];
        const r = await this.pool.query<{ level: number; idx: string; hash: Buffer }>(
          `select 0::smallint as level, leaf_index as idx, leaf_hash as hash
             from evidence_entries
            where space = $1 and leaf_index = any($2::bigint[])
           union all
           select n.level, n.idx, n.hash
             from evidence_nodes n join unnest($3::smallint[], $4::bigint[]) as want(level, idx)
               on n.level = want.level and n.idx = want.idx
            where n.space = $1`,
          [
            space,
            ids.filter((id) => id.level === 0).map((id) => id.index),
            ids.filter((id) => id.level > 0).map((id) => id.level),
            ids.filter((id) => id.level > 0).map((id) => id.index),
          ],
        );
        const byId = new Map(r.rows.map((row) => [`${row.level}/${row.idx}`, toHash(row.hash)]));
        return ids.map((id) => {
          const h = byId.get(`${id.level}/${id.index}`);
          if (!h) throw new Error(`evidence log of space ${space} lacks subtree ${id.level}/${id.index}`);
          return h;
        });
      },
    };
  }

  private async requireSize(space: string, treeSize: number, field: string): Promise<LogHead> {
    const head = await this.head(space);
    if (treeSize > head.treeSize) {
      throw new EvidenceError(
        "TDS_ERR_EVIDENCE_TREE_SIZE",
        `tree size ${treeSize} is larger than the log (${head.treeSize})`,
        field,
      );
    }
    return head;
  }

  async inclusionProof(space: string, leafIndex: number, treeSize: number): Promise<Hash[]> {
    await this.requireSize(space, treeSize, "treeSize");
    if (leafIndex >= treeSize) {
      throw new EvidenceError(
        "TDS_ERR_EVIDENCE_LEAF_INDEX",
        `leaf ${leafIndex} is not in a tree of ${treeSize}`,
        "leafIndex",
      );
    }
    return resolvePlan(inclusionPlan(leafIndex, treeSize), this.nodeSource(space));
  }

  async consistencyProof(space: string, first: number, second: number): Promise<Hash[]> {
    await this.requireSize(space, second, "second");
    if (first > second)
      throw new EvidenceError("TDS_ERR_EVIDENCE_RANGE", "first must not exceed second", "first");
    if (first === 0) return [];
    return resolvePlan(consistencyPlan(first, second), this.nodeSource(space));
  }

  /** The root of the tree at an earlier size, recomputed from stored subtrees. */
  async rootAt(space: string, treeSize: number): Promise<Hash> {
    await this.requireSize(space, treeSize, "treeSize");
    if (treeSize === 0) return EMPTY_ROOT;
    const [root] = await resolvePlan([{ start: 0, end: treeSize }], this.nodeSource(space));
    return root ?? EMPTY_ROOT;
  }

  /**
   * Signs a checkpoint of the log as it is now, unless one of this size exists,
   * in which case that one is returned: checkpoints only move when the log does.
   */
  async checkpoint(
    space: string,
    signer: CheckpointSigner,
    now: Date = new Date(),
  ): Promise<SignedCheckpoint> {
    await this.pool.query(
      "insert into evidence_logs (space, root_hash) values ($1, $2) on conflict (space) do nothing",
      [space, EMPTY_ROOT],
    );
    const head = await this.head(space);
    const existing = await this.checkpointAt(space, head.treeSize);
    if (existing) return existing;
    const signed = await signCheckpoint(
      {
        origin: this.origin(space),
        treeSize: head.treeSize,
        rootHash: head.rootHash,
        time: now.toISOString(),
      },
      signer,
    );
    await this.pool.query(
      `insert into evidence_checkpoints (space, tree_size, root_hash, checkpoint_time, note)
       values ($1, $2, $3, $4, $5) on conflict (space, tree_size) do nothing`,
      [space, signed.treeSize, Buffer.from(signed.rootHash), signed.time, signed.note],
    );
    // Another writer may have won the race for this size; theirs is the checkpoint.
    return (await this.checkpointAt(space, head.treeSize)) ?? signed;
  }

  async checkpointAt(space: string, treeSize: number): Promise<SignedCheckpoint | undefined> {
    const r = await this.checkpointRows(space, "and tree_size = $2", [treeSize]);
    return r[0];
  }

  async latestCheckpoint(space: string): Promise<SignedCheckpoint | undefined> {
    const r = await this.checkpointRows(space, "order by tree_size desc limit 1", []);
    return r[0];
  }

  async checkpoints(space: string): Promise<SignedCheckpoint[]> {
    return this.checkpointRows(space, "order by tree_size", []);
  }

  /** Up to `limit` checkpoint notes with afterSize < treeSize <= maxSize, oldest first (one page of an export). */
  async checkpointNotes(
    space: string,
    afterSize: number,
    maxSize: number,
    limit: number,
  ): Promise<{ treeSize: number; note: string }[]> {
    const r = await this.pool.query<{ tree_size: string; note: string }>(
      `select tree_size, note from evidence_checkpoints
        where space = $1 and tree_size > $2 and tree_size <= $3 order by tree_size limit $4`,
      [space, afterSize, maxSize, limit],
    );
    return r.rows.map((row) => ({ treeSize: Number(row.tree_size), note: row.note }));
  }

  async unexportedCheckpoints(space: string): Promise<SignedCheckpoint[]> {
    return this.checkpointRows(space, "and exported_at is null order by tree_size", []);
  }

  async markExported(space: string, treeSize: number, key: string): Promise<void> {
    await this.pool.query(
      "update evidence_checkpoints set exported_key = $3, exported_at = now() where space = $1 and tree_size = $2",
      [space, treeSize, key],
    );
  }

  /** Spaces that have a log, for the checkpointer. */
  async spaces(): Promise<string[]> {
    const r = await this.pool.query<{ space: string }>("select space from evidence_logs order by space");
    return r.rows.map((row) => row.space);
  }

  private async checkpointRows(space: string, tail: string, extra: unknown[]): Promise<SignedCheckpoint[]> {
    const r = await this.pool.query<{ note: string }>(
      `select note from evidence_checkpoints where space = $1 ${tail}`,
      [space, ...extra],
    );
    return r.rows.map((row) => ({
      ...parseCheckpointBody(row.note.slice(0, row.note.lastIndexOf("\n\n") + 1)),
      note: row.note,
    }));
  }
}
