// SandboxJob transfers through the gateway's ledger (ledger.ts): a job's
// input reads (sandbox.input_bytes), its output writes (sandbox.output_bytes)
// and the consumer's reads of released outputs (transfer.bytes). None counts
// an access (the run is the access); each is attributed to the contract,
// offer, provider and consumer, metered once per byte of its object whatever
// the retries, and evidenced with the SandboxJob as the entry's object.
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { GetObjectCommand, S3ServiceException, type S3Client } from "@aws-sdk/client-s3";
import type { FastifyReply, FastifyRequest } from "fastify";
import {
  IDEMPOTENCY_KEY,
  exportRefusal,
  rangeStart,
  transferId,
  type ContractGrant,
  type ExportCheck,
  type Refusal,
} from "./grants.ts";
import {
  LedgerRefusal,
  type ClaimedTransfer,
  type Ledger,
  type TransferExport,
  type TransferKind,
} from "@tds/dashboard-api/ledger";
import type { StreamMonitor } from "./monitor.ts";
import { refuse } from "./refusals.ts";
import type { SandboxCredential } from "./sandbox.ts";

export type SandboxJobRef = SandboxCredential["job"];
export type Direction = "inputs" | "outputs" | "released";

const actions: Record<Direction, TransferKind["actions"]> = {
  inputs: { complete: "sandbox.input-read", interrupted: "sandbox.input-read-interrupted" },
  outputs: { complete: "sandbox.output-written", interrupted: "sandbox.output-write-interrupted" },
  released: { complete: "sandbox.output-transferred", interrupted: "sandbox.output-transfer-interrupted" },
};
const meters = {
  inputs: "sandbox.input_bytes",
  outputs: "sandbox.output_bytes",
  released: "transfer.bytes",
} as const satisfies Record<Direction, TransferKind["meter"]>;

/** What a sandbox transfer meters, and its evidence: the job as the object, the meter in the record. */
export const sandboxTransferKind = (direction: Direction, job: SandboxJobRef): TransferKind => ({
  meter: meters[direction],
  actions: actions[direction],
  object: { kind: "SandboxJob", namespace: job.namespace, name: job.name, uid: job.uid },
  facts: { meter: meters[direction] },
});

const s3Status = (err: unknown): number | undefined =>
  err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;

/** A request's transfer: its id and the Idempotency-Key it came with. */
export interface SandboxTransfer {
  readonly tid: string;
  readonly idem: string | undefined;
}

export class SandboxTransfers {
  constructor(
    private readonly s3: S3Client,
    private readonly ledger: Ledger,
    /** Cuts open input streams when their contract is revoked or expires, as for downloads. */
    private readonly monitor?: StreamMonitor,
  ) {}

  /**
   * The transfer of a request: with an Idempotency-Key, the same id for every
   * retry (scoped to the job and direction); without one, a fresh id.
   */
  identify(
    request: FastifyRequest,
    grant: ContractGrant,
    job: SandboxJobRef,
    direction: Direction,
  ): SandboxTransfer | Refusal {
    const raw = request.headers["idempotency-key"];
    const idem = Array.isArray(raw) ? raw[0] : raw;
    if (idem !== undefined && !IDEMPOTENCY_KEY.test(idem))
      return {
        status: 400,
        code: "TDS_ERR_VALIDATION",
        message: "Idempotency-Key must be 1 to 200 characters of A-Z a-z 0-9 . _ : ~ + / = -",
      };
    return {
      tid: transferId(grant.agreementId, `sandbox/${job.uid}/${direction}/${idem ?? randomUUID()}`),
      idem,
    };
  }

  /** Opens the transfer in the ledger; a refusal when its key was used for another object. */
  async open(
    grant: ContractGrant,
    t: SandboxTransfer,
    key: string,
    etag: string | undefined,
    /** For an input read: the job's uid, so its reads are tallied per job (sandbox-reads.ts). */
    inputOf?: string,
    /** For a released output: its allowed cross-border exports, recorded with the transfer. */
    exports: readonly TransferExport[] = [],
  ): Promise<(ClaimedTransfer & { readonly exports: readonly TransferExport[] }) | Refusal> {
    try {
      return await this.ledger.open(
        grant,
        {
          transferId: t.tid,
          objectKey: key,
          etag,
          idempotencyKey: t.idem,
          ...(inputOf ? { sandboxJob: inputOf } : {}),
        },
        exports,
      );
    } catch (err) {
      if (err instanceof LedgerRefusal) return err;
      throw err;
    }
  }

  /** Meters bytes [start, start + bytes) of a transfer's object (ledger.ts: each byte once). */
  delivered(
    grant: ContractGrant,
    transfer: ClaimedTransfer,
    at: { job: SandboxJobRef; direction: Direction },
    start: number,
    bytes: number,
    outcome: "complete" | "cut" | "aborted",
  ): Promise<number> {
    return this.ledger.delivered(
      grant,
      transfer,
      start,
      bytes,
      outcome,
      sandboxTransferKind(at.direction, at.job),
    );
  }

  /**
   * Streams an object to the client (Range passed to the store); the bytes it
   * delivered are metered when the stream closes. A released output's
   * cross-border exports (`exports`, grants.ts exportsOf) are recorded as a
   * download's are: a refused one before the refusal is answered, the allowed
   * ones with the transfer and evidenced before the first byte, keyed by the
   * transfer so that a retry with the same Idempotency-Key is the same record.
   */
  async stream(
    request: FastifyRequest,
    reply: FastifyReply,
    at: {
      grant: ContractGrant;
      job: SandboxJobRef;
      direction: Direction;
      bucket: string;
      key: string;
      exports?: { readonly checks: readonly ExportCheck[]; readonly decidedAt: Date };
    },
    missing: string,
  ): Promise<FastifyReply> {
    const t = this.identify(request, at.grant, at.job, at.direction);
    if ("status" in t) return refuse(reply, request, t);
    const exports = (at.exports?.checks ?? []).map((e): TransferExport => ({
      ...e,
      eventId: `gateway/${t.tid}/${e.allowed ? "export" : "export-refused"}/${e.destination}`,
      decidedAt: at.exports?.decidedAt ?? new Date(),
    }));
    const blocked = exports.find((e) => !e.allowed);
    if (blocked) {
      await this.ledger.recordRefusedExport(at.grant, blocked, at.key);
      return refuse(reply, request, exportRefusal(blocked));
    }
    let object;
    try {
      object = await this.s3.send(
        new GetObjectCommand({
          Bucket: at.bucket,
          Key: at.key,
          ...(request.headers.range ? { Range: request.headers.range } : {}),
        }),
        { abortSignal: AbortSignal.timeout(30_000) },
      );
    } catch (err) {
      const status = s3Status(err);
      if (status === 404)
        return refuse(reply, request, { status: 404, code: "TDS_ERR_OBJECT_NOT_FOUND", message: missing });
      if (status === 416)
        return refuse(reply, request, {
          status: 416,
          code: "TDS_ERR_RANGE_NOT_SATISFIABLE",
          message: "The requested range is outside the object",
        });
      throw new Error(`cannot read ${at.key} from the provider's bucket`, { cause: err });
    }
    const body = object.Body as Readable | undefined;
    if (!body) throw new Error(`the store returned no body for ${at.key}`);
    let transfer;
    try {
      transfer = await this.open(
        at.grant,
        t,
        at.key,
        object.ETag,
        at.direction === "inputs" ? at.job.uid : undefined,
        exports,
      );
      // Evidenced before the first byte; a retry of the transfer appends the same entries once.
      if (!("status" in transfer))
        for (const e of transfer.exports) await this.ledger.recordExport(at.grant, e, at.key);
    } catch (err) {
      body.destroy();
      throw err;
    }
    if ("status" in transfer) {
      body.destroy();
      return refuse(reply, request, transfer);
    }
    const start = rangeStart(object.ContentRange);
    let sent = 0;
    body.on("data", (chunk: Buffer) => {
      sent += chunk.length;
    });
    let cut = false;
    const unregister = this.monitor?.register(at.grant, (why) => {
      cut = true;
      request.log.info({ transferId: t.tid, code: why.code }, "cutting an open sandbox transfer");
      body.destroy(new Error(why.message));
    });
    body.once("close", () => {
      unregister?.();
      const outcome = cut ? "cut" : sent === object.ContentLength ? "complete" : "aborted";
      this.delivered(at.grant, transfer, at, start, sent, outcome).catch((err: unknown) => {
        request.log.error({ err, transferId: t.tid }, "cannot meter a sandbox transfer");
      });
    });
    void reply
      .status(object.ContentRange ? 206 : 200)
      .header("content-type", object.ContentType ?? "application/octet-stream")
      .header("accept-ranges", "bytes")
      .header("tds-transfer-id", t.tid)
      .header("cache-control", "private, no-store");
    if (object.ContentLength !== undefined) void reply.header("content-length", object.ContentLength);
    if (object.ETag) void reply.header("etag", object.ETag);
    if (object.ContentRange) void reply.header("content-range", object.ContentRange);
    return reply.send(body);
  }
}
