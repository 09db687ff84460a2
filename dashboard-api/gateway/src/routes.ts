// GET /v1/data/{agreementId}/{key}: the metered data gateway. Authenticates
// the contract token, checks the contract and offer, claims the access, then
// streams the object from the provider's bucket: Range, ETag and
// Content-Length pass through, and the S3 body is piped to the client (never
// buffered), so a slow client slows the read from S3. The stream monitor cuts
// it when the contract is revoked or expires; what was delivered is metered
// when the stream closes (ledger.ts has the rule).
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { GetObjectCommand, S3ServiceException, type S3Client } from "@aws-sdk/client-s3";
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply } from "fastify";
import type { KubeClient, Logger } from "@tds/kube";
import { Counter } from "prom-client";
import {
  AGREEMENT_ID,
  bearer,
  downloadRefusal,
  exportsOf,
  IDEMPOTENCY_KEY,
  objectResponses,
  rangeStart,
  tokenMatches,
  transferId,
  type Refusal,
  type TransferTokenGate,
} from "./grants.ts";
import type { ConsentIndex } from "@tds/dashboard-api/consent-index";
import { consumerTokenRefusal, type OidcVerifier } from "@tds/dashboard-api/oidc-verifier";
import { GrantCache } from "./grant-cache.ts";
import type { GrantSource } from "./kube.ts";
import { Ledger, LedgerRefusal } from "@tds/dashboard-api/ledger";
import { StreamMonitor } from "./monitor.ts";
import { refuse } from "./refusals.ts";
import { sandboxRoutes, type SandboxSource } from "./sandbox.ts";

export interface GatewayOptions {
  /** Live grant reads (KubeGrantSource). */
  readonly source: GrantSource;
  /**
   * With a client, grants are served from a watch-backed GrantCache
   * (grant-cache.ts) in front of `source`, which then answers only misses.
   */
  readonly watch?: KubeClient;
  readonly s3: S3Client;
  readonly ledger: Ledger;
  /** How often open streams re-check their contract (default 2000 ms). */
  readonly monitorIntervalMs?: number;
  readonly now?: () => Date;
  /**
   * Transfers whose first attempt has not ended this long after they started
   * are swept: their access is metered (Ledger.sweep). Default one hour; 0 disables.
   */
  readonly sweepAfterMs?: number;
  /** Called with each started monitor, so tests can drive ticks. */
  readonly onMonitor?: (m: StreamMonitor) => void;
  /** SandboxJob grants, read live; with it, the /v1/sandbox endpoints are served (sandbox.ts), from the cache when `watch` is set. */
  readonly sandbox?: SandboxSource;
  /** Tokens of single transfers (DSP PULL), accepted beside contract tokens. */
  readonly transferTokens?: TransferTokenGate;
  /** The consumer participant's own OIDC access token, accepted beside its contract token (auth/oidc.ts). */
  readonly participantTokens?: OidcVerifier;
  /**
   * The data subjects' consents (the API's consents/consent-index.ts): with it,
   * every grant of a personal-data offer carries its consents, so downloads,
   * sandbox input reads and the stream monitor judge them, and a revocation
   * re-checks the offer's open streams at once. Without it such grants are
   * refused (ConsentUnverified).
   */
  readonly consents?: ConsentIndex;
}

/** The source with each grant's consents attached, so every check that resolves one judges them. */
function consentedSource(source: GrantSource, consents: ConsentIndex): GrantSource {
  return {
    resolve: async (agreementId) => {
      const grant = await source.resolve(agreementId);
      return grant && (await consents.attach(grant));
    },
    contractState: (namespace, name) => source.contractState(namespace, name),
    ...(source.subscribe ? { subscribe: source.subscribe.bind(source) } : {}),
  };
}

const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** The informer's logger interface on fastify's pino logger. */
function kubeLogger(log: FastifyBaseLogger): Logger {
  return {
    debug: (msg, fields) => {
      log.debug(fields ?? {}, msg);
    },
    info: (msg, fields) => {
      log.info(fields ?? {}, msg);
    },
    warn: (msg, fields) => {
      log.warn(fields ?? {}, msg);
    },
    error: (msg, fields) => {
      log.error(fields ?? {}, msg);
    },
  };
}

export const gatewayRoutes: FastifyPluginAsync<GatewayOptions> = async (app, opts) => {
  const now = opts.now ?? (() => new Date());
  let source = opts.source;
  let sandbox = opts.sandbox;
  if (opts.watch) {
    const lookups = new Counter({
      name: "tds_gateway_grant_lookups_total",
      help: "Gateway grant lookups, by how they were answered (cache, or a live read of the API server)",
      labelNames: ["answer"],
      registers: [app.metrics.registry],
    });
    const cache = new GrantCache({
      client: opts.watch,
      live: opts.source,
      ...(opts.sandbox ? { liveSandbox: opts.sandbox } : {}),
      log: kubeLogger(app.log.child({ component: "grant-cache" })),
      onLookup: (answer) => {
        lookups.inc({ answer });
      },
    });
    // Until the first lists are in, lookups are live reads; nothing waits for the cache.
    cache.start().then(
      () => {
        app.log.info("gateway grant cache synced");
      },
      (err: unknown) => {
        app.log.error({ err }, "gateway grant cache failed to start");
      },
    );
    app.addHook("onClose", () => cache.stop());
    source = cache;
    if (sandbox) sandbox = cache;
  }
  if (opts.consents) {
    const consents = opts.consents;
    // Until it listens (and whenever its connection is down) the index reads the database per access.
    await consents.listen((err) => {
      app.log.warn(
        { err },
        "consent notifications: reading consents from the database until listening again",
      );
    });
    app.addHook("onClose", () => consents.close());
    source = consentedSource(source, consents);
  }
  const monitor = new StreamMonitor(source, opts.monitorIntervalMs ?? 2000, now, app.log, opts.consents);
  /** Transfers streaming in this process, which the sweep leaves alone. */
  const streaming = new Map<string, number>();
  const sweepAfterMs = opts.sweepAfterMs ?? 3_600_000;
  if (sweepAfterMs > 0) {
    const sweep = () => {
      opts.ledger.sweep(new Date(now().getTime() - sweepAfterMs), new Set(streaming.keys())).then(
        (n) => {
          if (n > 0)
            app.log.warn({ transfers: n }, "metered the access of transfers that never reported their end");
        },
        (err: unknown) => {
          app.log.warn({ err }, "cannot sweep unfinished transfers; retrying");
        },
      );
    };
    const timer = setInterval(sweep, Math.min(sweepAfterMs, 300_000));
    timer.unref();
    app.addHook("onClose", () => {
      clearInterval(timer);
      return Promise.resolve();
    });
  }
  monitor.start();
  opts.onMonitor?.(monitor);
  app.addHook("onClose", () => {
    monitor.stop();
    return Promise.resolve();
  });
  if (sandbox)
    await app.register(sandboxRoutes, { sandbox, source, s3: opts.s3, now, ledger: opts.ledger, monitor });

  app.get<{ Params: { agreementId: string; "*": string } }>(
    "/v1/data/:agreementId/*",
    {
      // Contract tokens, not the API's JWTs; and no automatic HEAD, which would count an access.
      config: { public: true },
      exposeHeadRoute: false,
      schema: {
        operationId: "getDataObject",
        tags: ["gateway"],
        summary: "Download an object of a contract's offer through the metered gateway",
        description:
          "Authorization: Bearer <token from the contract's credentials Secret>. The key must be the offer's " +
          "object or under its prefix. Range, If-Range, If-Match and If-None-Match are passed to the store. " +
          "Idempotency-Key makes retries one transfer: one access, and each byte metered once. The answer " +
          "carries TDS-Transfer-Id.",
        security: [],
        params: {
          type: "object",
          required: ["agreementId", "*"],
          properties: { agreementId: { type: "string", maxLength: 63 }, "*": { type: "string" } },
        },
        headers: {
          type: "object",
          properties: {
            "idempotency-key": { type: "string", maxLength: 200 },
            range: { type: "string", maxLength: 200 },
          },
        },
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const { agreementId } = request.params;
      const key = request.params["*"];
      const denied: Refusal = {
        status: 401,
        code: "TDS_ERR_UNAUTHENTICATED",
        message: "A valid contract token is required for this agreement",
      };
      if (!AGREEMENT_ID.test(agreementId)) return refuse(reply, request, denied);
      const token = bearer(request.headers.authorization);
      if (!token) return refuse(reply, request, denied);
      const grant = await source.resolve(agreementId);
      // Unknown agreement and wrong token answer alike, so ids cannot be probed.
      if (!grant) return refuse(reply, request, denied);
      // A refusal of a known agreement is recorded for the risk rule refusedAccesses; recording never fails the answer.
      const refuseKnown = async (r: Refusal): Promise<FastifyReply> => {
        await opts.ledger.recordRefusal(grant, r).catch((err: unknown) => {
          request.log.warn({ err, agreementId }, "cannot record the refusal for the risk rules");
        });
        return refuse(reply, request, r);
      };
      let dspTransfer: string | undefined;
      if (!tokenMatches(token, grant.tokenDigest)) {
        const scoped = await opts.transferTokens?.authorize(agreementId, token);
        if (scoped) {
          if (!("pid" in scoped)) return refuseKnown(scoped);
          dspTransfer = scoped.pid;
        } else {
          const refused = await consumerTokenRefusal(opts.participantTokens, token, grant);
          if (refused) return refuseKnown(refused === "notOidc" ? denied : refused);
        }
      }
      const decidedAt = now();
      const refused = downloadRefusal(grant, key, decidedAt);
      // A cross-border transfer is recorded and evidenced with the rule that allowed or refused it.
      const exports = exportsOf(grant);
      if (refused) {
        const blocked = exports.find((e) => !e.allowed);
        if (blocked)
          await opts.ledger.recordRefusedExport(
            grant,
            { ...blocked, eventId: `gateway/export-refused/${randomUUID()}`, decidedAt },
            key,
          );
        return refuseKnown(refused);
      }

      const idem = header(request.headers["idempotency-key"]);
      if (idem !== undefined && !IDEMPOTENCY_KEY.test(idem)) {
        return refuse(reply, request, {
          status: 400,
          code: "TDS_ERR_VALIDATION",
          message: "Idempotency-Key must be 1 to 200 characters of A-Z a-z 0-9 . _ : ~ + / = -",
        });
      }
      const tid = transferId(agreementId, idem ?? randomUUID());
      const transferExports = exports.map((e) => ({
        ...e,
        eventId: `gateway/${tid}/export/${e.destination}`,
        decidedAt,
      }));

      let object;
      try {
        object = await opts.s3.send(
          new GetObjectCommand({
            Bucket: grant.bucket,
            Key: key,
            Range: header(request.headers.range),
            IfMatch: header(request.headers["if-match"]),
            IfNoneMatch: header(request.headers["if-none-match"]),
            ...(request.headers["if-range"] ? { IfRange: header(request.headers["if-range"]) } : {}),
          }),
          { abortSignal: AbortSignal.timeout(30_000) },
        );
      } catch (err) {
        const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
        if (status === 404) {
          return refuse(reply, request, {
            status: 404,
            code: "TDS_ERR_OBJECT_NOT_FOUND",
            message: `No object ${key} in offer ${grant.offer.name}`,
          });
        }
        if (status === 416) {
          return refuse(reply, request, {
            status: 416,
            code: "TDS_ERR_RANGE_NOT_SATISFIABLE",
            message: "The requested range is outside the object",
          });
        }
        if (status === 304) return reply.status(304).send();
        if (status === 412) {
          return refuse(reply, request, {
            status: 412,
            code: "TDS_ERR_PRECONDITION_FAILED",
            message: "If-Match did not match the object",
          });
        }
        throw new Error(`cannot read ${key} from the provider's bucket`, { cause: err });
      }
      const body = object.Body as Readable | undefined;
      if (!body) throw new Error(`the store returned no body for ${key}`);

      let transfer: Awaited<ReturnType<Ledger["claim"]>>;
      try {
        transfer = await opts.ledger.claim(
          grant,
          { transferId: tid, objectKey: key, etag: object.ETag, idempotencyKey: idem },
          transferExports,
        );
        // Evidenced before the first byte; a retry of the transfer appends the same entries once.
        for (const e of transfer.exports) await opts.ledger.recordExport(grant, e, key);
      } catch (err) {
        body.destroy();
        if (err instanceof LedgerRefusal) return refuseKnown(err);
        throw err;
      }

      const start = rangeStart(object.ContentRange);
      const expected = object.ContentLength ?? -1;
      let sent = 0;
      let cutBy: Refusal | undefined;
      body.on("data", (chunk: Buffer) => {
        sent += chunk.length;
      });
      streaming.set(tid, (streaming.get(tid) ?? 0) + 1);
      const cut = (why: Refusal) => {
        cutBy = why;
        request.log.info({ transferId: tid, code: why.code }, "cutting an open transfer");
        body.destroy(new Error(why.message));
      };
      const unregister = monitor.register(grant, cut);
      const unwatch = dspTransfer ? opts.transferTokens?.watch(dspTransfer, cut) : undefined;
      body.once("close", () => {
        unregister();
        unwatch?.();
        const left = (streaming.get(tid) ?? 1) - 1;
        if (left > 0) streaming.set(tid, left);
        else streaming.delete(tid);
        const outcome = cutBy ? "cut" : sent === expected ? "complete" : "aborted";
        opts.ledger.delivered(grant, transfer, start, sent, outcome).catch((err: unknown) => {
          request.log.error({ err, transferId: tid }, "cannot meter a transfer");
        });
      });

      void reply
        .status(object.ContentRange ? 206 : 200)
        .header("content-type", object.ContentType ?? "application/octet-stream")
        .header("accept-ranges", "bytes")
        .header("tds-transfer-id", tid)
        .header("cache-control", "private, no-store");
      if (object.ContentLength !== undefined) void reply.header("content-length", object.ContentLength);
      if (object.ETag) void reply.header("etag", object.ETag);
      if (object.LastModified) void reply.header("last-modified", object.LastModified.toUTCString());
      if (object.ContentRange) void reply.header("content-range", object.ContentRange);
      return reply.send(body);
    },
  );
};
