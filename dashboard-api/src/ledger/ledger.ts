// The gateway's ledger in PostgreSQL: access counting against the agreed
// maximum, the byte ranges each transfer delivered, and the usage events and
// evidence that follow from them.
//
// Metering rule (deterministic ids, no double counting):
// - A transfer is identified by transferId (grants.ts). Its first request
//   claims one access before the first byte: one round trip to the
//   gateway_claim function (migration 0006), atomic under the agreement
//   row's lock, refused when the agreed maximum is reached. Retries of the
//   same transfer claim nothing.
// - The access is metered as `offer.accesses` = 1, event id
//   `<transferId>/access`, timed at the transfer's creation, when its first
//   attempt ends, in the same transaction as that attempt's bytes. A transfer
//   whose first attempt never ended (the gateway died mid-stream) has its
//   access metered by sweep(); both paths produce the same event, which the
//   ingest keeps once.
// - Each attempt adds the byte range it delivered to the transfer's set of
//   delivered ranges; the event `<transferId>/bytes/<attempt>` carries only
//   the bytes not delivered before. A download retried in full or resumed
//   with Range is therefore metered exactly once per byte of the object.
// - A SandboxJob's input reads and output writes, and the consumer's reads of
//   released outputs, are transfers too (sandbox.ts), opened with open():
//   they count no access, and meter their bytes the same way under their
//   own meter (TransferKind).
// - A transfer's allowed cross-border exports are recorded by the statement
//   that claims its access (a released sandbox output's: the statement that
//   opens its transfer), and a refused one before the refusal is answered
//   (gateway_exports, migration 0031): the export report reads them, with the
//   transfer's delivered bytes.
// Events are ingested in the same transaction as the ledger change, so the
// ledger and the usage tables never disagree.
import { createHash } from "node:crypto";
import type { Pool } from "pg";
import { withTransaction } from "../plugins/db.ts";
import { usageEventType, type EvidenceEntry, type MeterName, type UsageEvent } from "@tds/wire";
import { normalizeEvent } from "../metering/events.ts";
import { ingestEvents } from "../metering/ingest.ts";
import type { EvidenceAppender } from "../evidence/grouped.ts";
import type { ContractGrant, ExportCheck, Refusal } from "./grant.ts";
import { participantNamespace } from "@tds/crds";

export const USAGE_SOURCE = "tds-gateway";
export const GATEWAY_ACTOR = "system:tds-gateway";

export class LedgerRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "LedgerRefusal";
  }
}

export interface TransferStart {
  readonly transferId: string;
  readonly objectKey: string;
  readonly etag: string | undefined;
  readonly idempotencyKey: string | undefined;
  /** The uid of the SandboxJob whose input read this is (open() only): its reads are tallied per job. */
  readonly sandboxJob?: string;
}

/** Who a transfer's usage is attributed to. */
interface Attribution {
  readonly space: string;
  readonly consumer: string;
  readonly provider: string;
  readonly offer: string;
  /** The DataContract's name (in the consumer's namespace): its offer's price applies. */
  readonly contract: string;
  /** `<contract namespace>/<contract name>` */
  readonly subject: string;
}

const attributionOf = (grant: ContractGrant): Attribution => ({
  space: grant.space,
  consumer: grant.consumer,
  provider: grant.provider,
  offer: grant.offer.name,
  contract: grant.contract.name,
  subject: `${grant.contract.namespace}/${grant.contract.name}`,
});

function usage(a: Attribution, id: string, meter: MeterName, quantity: number, time: Date): UsageEvent {
  return {
    specversion: "1.0",
    id,
    source: USAGE_SOURCE,
    type: usageEventType,
    time: time.toISOString(),
    subject: a.subject,
    data: {
      space: a.space,
      participant: a.consumer,
      provider: a.provider,
      offer: a.offer,
      ...(a.contract ? { contract: a.contract } : {}),
      meter,
      quantity,
    },
  };
}

/** The access of a transfer: one event, timed at the transfer's creation, whoever ingests it. */
const accessEvent = (a: Attribution, transferId: string, createdAt: Date): UsageEvent =>
  usage(a, `${transferId}/access`, "offer.accesses", 1, createdAt);

/** A transfer whose access is claimed: what the request needs to meter its attempt. */
export interface ClaimedTransfer extends TransferStart {
  /** True when this request counted the transfer's access (its first request). */
  readonly first: boolean;
  /** Accesses counted for the agreement so far. */
  readonly accesses: number;
  readonly createdAt: Date;
}

/** What a transfer meters, and how its evidence reads. */
export interface TransferKind {
  readonly meter: MeterName;
  /** Evidence action of an attempt that ended complete, and of one that did not. */
  readonly actions: { readonly complete: string; readonly interrupted: string };
  /** The evidence entry's object; the contract when unset. */
  readonly object?: EvidenceEntry["object"];
  /** Facts added to the evidence record. */
  readonly facts?: Readonly<Record<string, unknown>>;
}

export const DOWNLOAD: TransferKind = {
  meter: "transfer.bytes",
  actions: { complete: "data.transferred", interrupted: "data.transfer-interrupted" },
};

/** A cross-border export of one transfer (or refused request): its check, its evidence entry's id and time. */
export interface TransferExport extends ExportCheck {
  readonly eventId: string;
  readonly decidedAt: Date;
}

/** The allowed exports of a transfer as the claim's arrays: event ids, destinations, sources, rules, messages, times. */
const exportColumns = (exports: readonly TransferExport[]): (string[] | Date[])[] => [
  exports.map((e) => e.eventId),
  exports.map((e) => e.destination),
  exports.map((e) => e.regionSource),
  exports.map((e) => e.rule),
  exports.map((e) => e.message),
  exports.map((e) => e.decidedAt),
];

/**
 * The CTE `x` that records a transfer's allowed exports in gateway_exports,
 * once per eventId (a retry of the transfer adds nothing), when `source`
 * yields a row: the statement of claim() and open(), whose parameters are
 * transferRow's ($1–$11), one of their own ($12), the contract's and the
 * offer's namespaces ($13, $14) and exportColumns ($15–$20).
 */
const ALLOWED_EXPORTS = (source: string): string => `x as (
   insert into gateway_exports
     (event_id, space, transfer_id, agreement_id, contract_namespace, contract, contract_uid,
      offer_namespace, offer, consumer, provider, object_key, destination, region_source, allowed,
      rule, message, decided_at)
   select e.event_id, $3, $1, $2, $13, $7, $8, $14, $6, $4, $5, $9, e.destination, e.region_source,
          true, e.rule, e.message, e.decided_at
     from ${source}, unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[])
          as e(event_id, destination, region_source, rule, message, decided_at)
   on conflict (event_id) do nothing)`;

/** The exports a transfer ($1) recorded before this statement, with the time of their first decision. */
const RECORDED_EXPORTS = `(select coalesce(json_agg(json_build_object('eventId', g.event_id, 'decidedAt', g.decided_at)), '[]')
   from gateway_exports g where g.transfer_id = $1)`;

interface RecordedExport {
  eventId: string;
  decidedAt: string;
}

/** The exports of a transfer, each timed at its first decision (so a retry's evidence entries are the same entries). */
const asRecorded = (
  exports: readonly TransferExport[],
  recorded: readonly RecordedExport[],
): readonly TransferExport[] => {
  const first = new Map(recorded.map((r) => [r.eventId, new Date(r.decidedAt)]));
  return exports.map((e) => ({ ...e, decidedAt: first.get(e.eventId) ?? e.decidedAt }));
};

/** A transfer's row in gateway_transfers, in column order: id, agreement, attribution, object, key. */
const transferRow = (grant: ContractGrant, t: TransferStart): (string | null)[] => [
  t.transferId,
  grant.agreementId,
  grant.space,
  grant.consumer,
  grant.provider,
  grant.offer.name,
  grant.contract.name,
  grant.contract.uid,
  t.objectKey,
  t.etag ?? null,
  t.idempotencyKey ?? null,
];

/** Why a retry of a known transfer is refused: its key named another object, or the object changed. */
function retryRefusal(
  row: { agreement_id: string; object_key: string; etag: string | null },
  grant: ContractGrant,
  t: TransferStart,
): LedgerRefusal | undefined {
  if (row.agreement_id !== grant.agreementId || row.object_key !== t.objectKey) {
    return new LedgerRefusal(
      409,
      "TDS_ERR_IDEMPOTENCY_CONFLICT",
      "This Idempotency-Key was used for another object; use a new key",
    );
  }
  if (row.etag !== null && t.etag !== undefined && row.etag !== t.etag) {
    return new LedgerRefusal(
      409,
      "TDS_ERR_OBJECT_CHANGED",
      "The object changed since this transfer started; download it with a new Idempotency-Key",
    );
  }
  return undefined;
}

interface ClaimRow {
  first: boolean;
  accesses: string;
  agreement_id: string;
  object_key: string;
  etag: string | null;
  created_at: Date;
}

export class Ledger {
  constructor(
    private readonly pool: Pool,
    private readonly evidence: EvidenceAppender | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Records a request refused for a known agreement (a wrong token, or the
   * contract's or the space's rules), which the risk rule refusedAccesses
   * counts (dashboard-api/src/risk/).
   */
  async recordRefusal(grant: ContractGrant, refusal: Refusal): Promise<void> {
    await this.pool.query(
      `insert into gateway_refusals (space, agreement_id, consumer, provider, offer, status, code, refused_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        grant.space,
        grant.agreementId,
        grant.consumer,
        grant.provider,
        grant.offer.name,
        refusal.status,
        refusal.code,
        this.now(),
      ],
    );
  }

  /**
   * Claims the transfer's access: the first request of a transfer counts one
   * access if the agreement has any left; a retry of a known transfer counts
   * nothing. Throws LedgerRefusal when the limit is reached or the key was
   * used for another object. One round trip, which also records the
   * transfer's allowed cross-border exports for the export report.
   */
  async claim(
    grant: ContractGrant,
    t: TransferStart,
    exports: readonly TransferExport[] = [],
  ): Promise<ClaimedTransfer & { readonly exports: readonly TransferExport[] }> {
    let row: (ClaimRow & { recorded: RecordedExport[] }) | undefined;
    try {
      // The exports are written by the statement that claims the access (the function raising
      // TDS01 writes neither), once per eventId: a retry of the transfer adds nothing.
      const result = await this.pool.query<NonNullable<typeof row>>(
        `with c as materialized (
           select * from gateway_claim($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)),
         ${ALLOWED_EXPORTS("c")}
         select c.*, ${RECORDED_EXPORTS} as recorded from c`,
        [
          ...transferRow(grant, t),
          grant.maxAccesses ?? null,
          grant.contract.namespace,
          grant.offer.namespace,
          ...exportColumns(exports.filter((e) => e.allowed)),
        ],
      );
      row = result.rows[0];
    } catch (err) {
      if ((err as { code?: unknown }).code === "TDS01") {
        throw new LedgerRefusal(
          403,
          "TDS_ERR_ACCESS_LIMIT",
          `Contract ${grant.contract.name} has used all ${String(grant.maxAccesses)} of its accesses`,
        );
      }
      throw err;
    }
    if (!row) throw new Error(`gateway_claim returned no row for transfer ${t.transferId}`);
    const refused = row.first ? undefined : retryRefusal(row, grant, t);
    if (refused) throw refused;
    return {
      ...t,
      first: row.first,
      accesses: Number(row.accesses),
      createdAt: row.created_at,
      exports: asRecorded(exports, row.recorded),
    };
  }

  /**
   * Opens a transfer that counts no access (sandbox.ts): inserts its row,
   * its access marked as metered so the sweep leaves it alone, or, for a
   * retry, checks that it names the same object. Throws LedgerRefusal as
   * claim() does. The result's `first` is false: no access to meter. Its
   * allowed cross-border exports (a released output to a consumer abroad) are
   * recorded by the same statement, as claim() records a download's.
   */
  async open(
    grant: ContractGrant,
    t: TransferStart,
    exports: readonly TransferExport[] = [],
  ): Promise<ClaimedTransfer & { readonly exports: readonly TransferExport[] }> {
    // Twice at most: a concurrent first request may insert between our insert and select.
    for (let attempt = 0; attempt < 2; attempt++) {
      const { rows } = await this.pool.query<
        Omit<ClaimRow, "first" | "accesses"> & { inserted: boolean; recorded: RecordedExport[] }
      >(
        `with inserted as (
           insert into gateway_transfers
             (transfer_id, agreement_id, space, consumer, provider, offer, contract, contract_uid, object_key, etag,
              idempotency_key, access_metered, sandbox_job)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, $12)
           on conflict (transfer_id) do nothing
           returning agreement_id, object_key, etag, created_at),
         ${ALLOWED_EXPORTS(
           // the transfer opened, or a retry of it for the same object (a refused retry records nothing)
           `(select from inserted
             union all
             select from gateway_transfers
              where transfer_id = $1 and agreement_id = $2 and object_key = $9
                and (etag is null or $10::text is null or etag = $10)) s`,
         )}
         select true as inserted, i.*, ${RECORDED_EXPORTS} as recorded from inserted i
         union all
         select false, agreement_id, object_key, etag, created_at, ${RECORDED_EXPORTS}
           from gateway_transfers where transfer_id = $1`,
        [
          ...transferRow(grant, t),
          t.sandboxJob ?? null,
          grant.contract.namespace,
          grant.offer.namespace,
          ...exportColumns(exports.filter((e) => e.allowed)),
        ],
      );
      const row = rows[0];
      if (!row) continue;
      const refused = row.inserted ? undefined : retryRefusal(row, grant, t);
      if (refused) throw refused;
      return {
        ...t,
        first: false,
        accesses: 0,
        createdAt: row.created_at,
        exports: asRecorded(exports, row.recorded),
      };
    }
    throw new Error(`cannot open transfer ${t.transferId} in the ledger`);
  }

  /**
   * A refused cross-border export, recorded for the export report before the
   * refusal is answered (gateway_exports, migration 0031), then evidenced.
   * An eventId recorded before (a refused release retried with the same
   * Idempotency-Key) adds no row, and its entry keeps the first decision's time.
   */
  async recordRefusedExport(grant: ContractGrant, e: TransferExport, objectKey: string): Promise<void> {
    const { rows } = await this.pool.query<{ decided_at: Date }>(
      `with i as (
         insert into gateway_exports
           (event_id, space, transfer_id, agreement_id, contract_namespace, contract, contract_uid, offer_namespace,
            offer, consumer, provider, object_key, destination, region_source, allowed, rule, message, decided_at)
         values ($1, $2, null, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, false, $14, $15, $16)
         on conflict (event_id) do nothing
         returning decided_at)
       select decided_at from i
       union all
       select decided_at from gateway_exports where event_id = $1`,
      [
        e.eventId,
        grant.space,
        grant.agreementId,
        grant.contract.namespace,
        grant.contract.name,
        grant.contract.uid,
        grant.offer.namespace,
        grant.offer.name,
        grant.consumer,
        grant.provider,
        objectKey,
        e.destination,
        e.regionSource,
        e.rule,
        e.message,
        e.decidedAt,
      ],
    );
    await this.recordExport(grant, { ...e, decidedAt: rows[0]?.decided_at ?? e.decidedAt }, objectKey);
  }

  /**
   * The evidence of a cross-border export: `data.export-allowed` with the rule
   * that allowed it, or `data.export-refused` with the rule that refused it,
   * and the destination with its source (certificate or declared), timed at
   * its decision. `eventId` makes a retry of the same transfer one entry.
   */
  async recordExport(grant: ContractGrant, e: TransferExport, objectKey: string): Promise<void> {
    if (!this.evidence) return;
    const record = {
      agreementId: grant.agreementId,
      offer: `${grant.offer.namespace}/${grant.offer.name}`,
      consumer: grant.consumer,
      objectKey,
      destination: e.destination,
      regionSource: e.regionSource,
      rule: e.rule,
      message: e.message,
    };
    await this.evidence.append(grant.space, [
      {
        space: grant.space,
        eventId: e.eventId,
        actor: GATEWAY_ACTOR,
        action: e.allowed ? "data.export-allowed" : "data.export-refused",
        time: e.decidedAt.toISOString(),
        object: {
          kind: "DataContract",
          namespace: grant.contract.namespace,
          name: grant.contract.name,
          uid: grant.contract.uid,
        },
        payloadHash: createHash("sha256").update(JSON.stringify(record)).digest("hex"),
      },
    ]);
  }

  /**
   * Records that an attempt delivered bytes [start, start + bytes) of the
   * object, meters the bytes not delivered before and appends evidence.
   * Returns the bytes newly metered.
   */
  async delivered(
    grant: ContractGrant,
    t: ClaimedTransfer,
    start: number,
    bytes: number,
    outcome: "complete" | "cut" | "aborted",
    kind: TransferKind = DOWNLOAD,
  ): Promise<number> {
    // A retry that delivered nothing changes nothing; a first attempt still meters its access.
    if (bytes <= 0 && !t.first) return 0;
    const now = this.now();
    const result = await withTransaction(this.pool, async (client) => {
      const before = await client.query<{ bytes: string }>(
        "select bytes from gateway_transfers where transfer_id = $1 for update",
        [t.transferId],
      );
      const old = Number(before.rows[0]?.bytes ?? 0);
      const after = await client.query<{ bytes: string; attempts: number }>(
        `update gateway_transfers t
            set delivered = t.delivered + int8multirange(int8range($2, $3)),
                bytes = (select coalesce(sum(upper(r) - lower(r)), 0)
                           from unnest(t.delivered + int8multirange(int8range($2, $3))) r),
                attempts = t.attempts + 1,
                access_metered = t.access_metered or $4,
                updated_at = now()
          where transfer_id = $1
          returning bytes, attempts`,
        [t.transferId, start, start + Math.max(bytes, 0), t.first],
      );
      const row = after.rows[0];
      if (!row) throw new Error(`transfer ${t.transferId} is not in the ledger`);
      const added = Number(row.bytes) - old;
      const events: UsageEvent[] = [];
      if (t.first) events.push(accessEvent(attributionOf(grant), t.transferId, t.createdAt));
      if (added > 0) {
        events.push(
          usage(
            attributionOf(grant),
            `${t.transferId}/bytes/${String(row.attempts)}`,
            kind.meter,
            added,
            now,
          ),
        );
      }
      if (events.length > 0) {
        // The grant came from a DataContract in the cluster: its space exists.
        await ingestEvents(
          client,
          events.map((e) => normalizeEvent(e, 0, now)),
          GATEWAY_ACTOR,
          { registerSpaces: true },
        );
      }
      return { added, attempt: row.attempts };
    });
    if (this.evidence) {
      // After the metering commit: the append is idempotent by eventId, so a retry is safe.
      const record = {
        transferId: t.transferId,
        attempt: result.attempt,
        agreementId: grant.agreementId,
        offer: `${grant.offer.namespace}/${grant.offer.name}`,
        objectKey: t.objectKey,
        etag: t.etag ?? null,
        range: [start, start + bytes],
        meteredBytes: result.added,
        outcome,
        ...kind.facts,
      };
      const entry: EvidenceEntry = {
        space: grant.space,
        eventId: `gateway/${t.transferId}/${String(result.attempt)}`,
        actor: GATEWAY_ACTOR,
        action: outcome === "complete" ? kind.actions.complete : kind.actions.interrupted,
        time: now.toISOString(),
        object: kind.object ?? {
          kind: "DataContract",
          namespace: grant.contract.namespace,
          name: grant.contract.name,
          uid: grant.contract.uid,
        },
        payloadHash: createHash("sha256").update(JSON.stringify(record)).digest("hex"),
      };
      await this.evidence.append(grant.space, [entry]);
    }
    return result.added;
  }

  /**
   * Meters the access of transfers whose first attempt never ended (the
   * gateway died mid-stream or lost the database before the attempt's
   * transaction), created before `olderThan`, with an evidence entry each.
   * Returns how many it metered. The bytes such an attempt sent are not
   * known and stay unmetered; the evidence says so. `exclude` names transfers
   * still streaming in this process; one still streaming elsewhere and older
   * than the cutoff is metered once all the same (the events are identical).
   */
  async sweep(olderThan: Date, exclude: ReadonlySet<string> = new Set(), limit = 500): Promise<number> {
    const now = this.now();
    const swept = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{
        transfer_id: string;
        agreement_id: string;
        space: string;
        consumer: string;
        provider: string;
        offer: string;
        contract: string | null;
        contract_uid: string | null;
        object_key: string;
        created_at: Date;
      }>(
        `select transfer_id, agreement_id, space, consumer, provider, offer, contract, contract_uid, object_key,
                created_at
           from gateway_transfers
          where not access_metered and created_at < $1 and transfer_id <> all($3::text[])
          order by created_at
          limit $2
          for update skip locked`,
        [olderThan, limit, [...exclude]],
      );
      if (rows.length === 0) return rows;
      const events = rows.map((r) =>
        normalizeEvent(
          accessEvent(
            {
              space: r.space,
              consumer: r.consumer,
              provider: r.provider,
              offer: r.offer,
              contract: r.contract ?? "",
              subject: `${participantNamespace(r.space, r.consumer)}/${r.contract ?? ""}`,
            },
            r.transfer_id,
            r.created_at,
          ),
          0,
          now,
        ),
      );
      await ingestEvents(client, events, GATEWAY_ACTOR, { registerSpaces: true });
      await client.query(
        "update gateway_transfers set access_metered = true, updated_at = now() where transfer_id = any($1)",
        [rows.map((r) => r.transfer_id)],
      );
      return rows;
    });
    if (this.evidence) {
      const bySpace = new Map<string, EvidenceEntry[]>();
      for (const r of swept) {
        const record = {
          transferId: r.transfer_id,
          agreementId: r.agreement_id,
          objectKey: r.object_key,
          outcome: "lost",
          meteredBytes: 0,
          note: "the first attempt never reported its end; its access is metered, its bytes are unknown",
        };
        const entries = bySpace.get(r.space) ?? [];
        entries.push({
          space: r.space,
          eventId: `gateway/${r.transfer_id}/swept`,
          actor: GATEWAY_ACTOR,
          action: "data.transfer-interrupted",
          time: now.toISOString(),
          object: {
            kind: "DataContract",
            namespace: participantNamespace(r.space, r.consumer),
            name: r.contract ?? "",
            uid: r.contract_uid ?? "",
          },
          payloadHash: createHash("sha256").update(JSON.stringify(record)).digest("hex"),
        });
        bySpace.set(r.space, entries);
      }
      for (const [space, entries] of bySpace) await this.evidence.append(space, entries);
    }
    return swept.length;
  }

  /** Accesses counted so far for an agreement. */
  async accesses(agreementId: string): Promise<number> {
    const { rows } = await this.pool.query<{ accesses: string }>(
      "select accesses from gateway_agreements where agreement_id = $1",
      [agreementId],
    );
    return Number(rows[0]?.accesses ?? 0);
  }
}
