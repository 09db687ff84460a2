// The gateway's ledger in PostgreSQL: access counting against the agreed
// maximum (atomic: a conditional UPDATE under the agreement row's lock), the
// byte ranges each transfer delivered, and the usage events and evidence that
// follow from them.
//
// Metering rule (deterministic ids, no double counting):
// - A transfer is identified by transferId (grants.ts). Its first request
//   claims one access and records `offer.accesses` = 1 with event id
//   `<transferId>/access`; retries of the same transfer claim nothing.
// - Each attempt adds the byte range it delivered to the transfer's set of
//   delivered ranges; the event `<transferId>/bytes/<attempt>` carries only
//   the bytes not delivered before. A download retried in full or resumed
//   with Range is therefore metered exactly once per byte of the object.
// Events are ingested in the same transaction as the ledger change, so the
// ledger and the usage tables never disagree.
import { createHash } from "node:crypto";
import type { Pool, PoolClient } from "pg";
import { withTransaction } from "../plugins/db.ts";
import { normalizeEvent, usageEventType, type UsageEventInput } from "../metering/events.ts";
import { ingestEvents } from "../metering/ingest.ts";
import type { MeterName } from "../metering/meters.ts";
import type { EvidenceEntry } from "../evidence/entry.ts";
import type { EvidenceStore } from "../evidence/store.ts";
import type { ContractGrant } from "./grants.ts";

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
}

const rfc3339 = (d: Date): string => d.toISOString();

function usage(
  grant: ContractGrant,
  id: string,
  meter: MeterName,
  quantity: number,
  now: Date,
): UsageEventInput {
  return {
    specversion: "1.0",
    id,
    source: USAGE_SOURCE,
    type: usageEventType,
    time: rfc3339(now),
    subject: `${grant.contract.namespace}/${grant.contract.name}`,
    data: {
      space: grant.space,
      participant: grant.consumer,
      provider: grant.provider,
      offer: grant.offer.name,
      meter,
      quantity,
    },
  };
}

export class Ledger {
  constructor(
    private readonly pool: Pool,
    private readonly evidence: EvidenceStore | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Claims the transfer's access: the first request of a transfer counts one
   * access if the agreement has any left; a retry of a known transfer counts
   * nothing. Throws LedgerRefusal when the limit is reached or the key was
   * used for another object.
   */
  async claim(grant: ContractGrant, t: TransferStart): Promise<{ first: boolean; accesses: number }> {
    return withTransaction(this.pool, async (client) => {
      const inserted = await client.query(
        `insert into gateway_transfers
           (transfer_id, agreement_id, space, consumer, provider, offer, object_key, etag, idempotency_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (transfer_id) do nothing`,
        [
          t.transferId,
          grant.agreementId,
          grant.space,
          grant.consumer,
          grant.provider,
          grant.offer.name,
          t.objectKey,
          t.etag ?? null,
          t.idempotencyKey ?? null,
        ],
      );
      if (inserted.rowCount === 0) return this.retry(client, grant, t);
      await client.query(
        "insert into gateway_agreements (agreement_id, space) values ($1, $2) on conflict do nothing",
        [grant.agreementId, grant.space],
      );
      const counted = await client.query<{ accesses: string }>(
        `update gateway_agreements set accesses = accesses + 1, updated_at = now()
          where agreement_id = $1 and ($2::bigint is null or accesses < $2)
          returning accesses`,
        [grant.agreementId, grant.maxAccesses ?? null],
      );
      const row = counted.rows[0];
      if (!row) {
        throw new LedgerRefusal(
          403,
          "TDS_ERR_ACCESS_LIMIT",
          `Contract ${grant.contract.name} has used all ${String(grant.maxAccesses)} of its accesses`,
        );
      }
      const now = this.now();
      await ingestEvents(
        client,
        [normalizeEvent(usage(grant, `${t.transferId}/access`, "offer.accesses", 1, now), 0, now)],
        GATEWAY_ACTOR,
      );
      return { first: true, accesses: Number(row.accesses) };
    });
  }

  private async retry(
    client: PoolClient,
    grant: ContractGrant,
    t: TransferStart,
  ): Promise<{ first: boolean; accesses: number }> {
    const { rows } = await client.query<{ agreement_id: string; object_key: string; etag: string | null }>(
      "select agreement_id, object_key, etag from gateway_transfers where transfer_id = $1",
      [t.transferId],
    );
    const row = rows[0];
    if (row?.agreement_id !== grant.agreementId || row.object_key !== t.objectKey) {
      throw new LedgerRefusal(
        409,
        "TDS_ERR_IDEMPOTENCY_CONFLICT",
        "This Idempotency-Key was used for another object; use a new key",
      );
    }
    if (row.etag !== null && t.etag !== undefined && row.etag !== t.etag) {
      throw new LedgerRefusal(
        409,
        "TDS_ERR_OBJECT_CHANGED",
        "The object changed since this transfer started; download it with a new Idempotency-Key",
      );
    }
    const counted = await client.query<{ accesses: string }>(
      "select accesses from gateway_agreements where agreement_id = $1",
      [grant.agreementId],
    );
    return { first: false, accesses: Number(counted.rows[0]?.accesses ?? 0) };
  }

  /**
   * Records that an attempt delivered bytes [start, start + bytes) of the
   * object, meters the bytes not delivered before and appends evidence.
   * Returns the bytes newly metered.
   */
  async delivered(
    grant: ContractGrant,
    t: TransferStart,
    start: number,
    bytes: number,
    outcome: "complete" | "cut" | "aborted",
  ): Promise<number> {
    if (bytes <= 0) return 0;
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
                updated_at = now()
          where transfer_id = $1
          returning bytes, attempts`,
        [t.transferId, start, start + bytes],
      );
      const row = after.rows[0];
      if (!row) throw new Error(`transfer ${t.transferId} is not in the ledger`);
      const added = Number(row.bytes) - old;
      if (added > 0) {
        await ingestEvents(
          client,
          [
            normalizeEvent(
              usage(grant, `${t.transferId}/bytes/${String(row.attempts)}`, "transfer.bytes", added, now),
              0,
              now,
            ),
          ],
          GATEWAY_ACTOR,
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
      };
      const entry: EvidenceEntry = {
        space: grant.space,
        eventId: `gateway/${t.transferId}/${String(result.attempt)}`,
        actor: GATEWAY_ACTOR,
        action: outcome === "complete" ? "data.transferred" : "data.transfer-interrupted",
        time: rfc3339(now),
        object: {
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

  /** Accesses counted so far for an agreement. */
  async accesses(agreementId: string): Promise<number> {
    const { rows } = await this.pool.query<{ accesses: string }>(
      "select accesses from gateway_agreements where agreement_id = $1",
      [agreementId],
    );
    return Number(rows[0]?.accesses ?? 0);
  }
}
