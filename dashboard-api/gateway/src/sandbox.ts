// The gateway's SandboxJob endpoints. A running job reads its offer's objects
// and writes its outputs with the job-scoped token of its credential Secret (the
// operator creates it in the sandbox namespace); the consumer reads released
// outputs with its contract token.
//   GET /v1/sandbox/{job}/inputs/{key}    job token; job Pending or Running, contract Active, key in the offer's asset;
//                                         ?input=<name> reads a further input (spec.inputs), each under its own contract
//   PUT /v1/sandbox/{job}/outputs/{name}  job token; streams into tds-outbox/<uid>/<name> in the
//                                         provider's bucket and writes the manifest the operator reads
//   GET /v1/sandbox/{uid}/outputs/{name}  contract token; only when the job's review is Released
// {job} is the job's uid or its credential id (sha256("credential/" + uid)[0:32], the id in the job's env).
// An output is scanned as it streams for the inputs it copies, embeds or names
// (sandbox-scan.ts); the manifest lists them, and the operator withholds
// such outputs (sandboxjob.review.ts). Every transfer is metered and evidenced
// through the ledger (ledger.ts): input reads as sandbox.input_bytes, output
// writes as sandbox.output_bytes, released outputs as transfer.bytes; the same
// Idempotency-Key makes a retry the same transfer, metered once per byte.
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import {
  bearer,
  contractRefusal,
  exportsOf,
  objectResponses,
  type ContractGrant,
  tokenMatches,
  withinAsset,
  type Refusal,
} from "./grants.ts";
import type { GrantSource } from "./kube.ts";
import type { Ledger } from "@tds/dashboard-api/ledger";
import type { StreamMonitor } from "./monitor.ts";
import { MAIN_INPUT, sandboxCredentialId, type OutputManifest } from "@tds/crds";
import { OutputScanner } from "./sandbox-scan.ts";
import { InputFingerprints } from "./sandbox-inputs.ts";
import { refuse } from "./refusals.ts";
import { SandboxTransfers } from "./sandbox-transfers.ts";

/** A job's credential, from its credential Secret and the SandboxJob. */
export interface SandboxCredential {
  readonly credentialId: string;
  /** The agreement of spec.contractRef: the input named main, and the outputs' contract. */
  readonly agreementId: string;
  /** The agreements of the further inputs (spec.inputs), by name. */
  readonly inputs: readonly { readonly name: string; readonly agreementId: string }[];
  readonly job: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly outbox: { readonly bucket: string; readonly prefix: string };
  /** Declared outputs and their size limits in bytes. */
  readonly outputs: readonly { readonly name: string; readonly maxBytes: number }[];
  readonly tokenDigest: Buffer;
}

export interface SandboxJobView {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly contract: string;
  readonly phase?: string;
  readonly reviewState?: string;
  readonly outputs: readonly { readonly name: string; readonly objectKey?: string }[];
}

export interface SandboxSource {
  /** The credential whose Secret carries this id, or undefined. */
  credential(credentialId: string): Promise<SandboxCredential | undefined>;
  job(namespace: string, name: string): Promise<SandboxJobView | undefined>;
  jobByUid(uid: string): Promise<SandboxJobView | undefined>;
  /** The agreement id of a contract, from its status. */
  agreementOf(namespace: string, name: string): Promise<string | undefined>;
}

export interface SandboxRoutesOptions {
  readonly sandbox: SandboxSource;
  readonly source: GrantSource;
  readonly s3: S3Client;
  readonly now: () => Date;
  /** The gateway's ledger: sandbox reads and writes are metered like downloads. */
  readonly ledger: Ledger;
  /** The download routes' stream monitor: open input streams are cut on revocation or expiry too. */
  readonly monitor?: StreamMonitor;
}

export const OUTBOX_MANIFEST_DIR = ".manifest/";
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CREDENTIAL_ID = /^[0-9a-f]{32}$/;
const OUTPUT_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;

const denied: Refusal = {
  status: 401,
  code: "TDS_ERR_UNAUTHENTICATED",
  message: "A valid token is required for this SandboxJob",
};

export const sandboxRoutes: FastifyPluginAsync<SandboxRoutesOptions> = async (app, opts) => {
  // Output bodies are streamed to the store, whatever their type; this plugin is encapsulated.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => {
    done(null, payload);
  });
  // A request without a body never reaches the parser: its body is then the (empty) request stream,
  // so every handler here reads and drains a stream.
  app.addHook("preValidation", (request, _reply, next) => {
    request.body ??= request.raw;
    next();
  });
  const fingerprints = new InputFingerprints(opts.s3);
  const transfers = new SandboxTransfers(opts.s3, opts.ledger, opts.monitor);

  /** A contract of the job, checked: Active, in its validity, and computeOnly. */
  const usable = async (agreementId: string): Promise<ContractGrant | Refusal> => {
    const contract = await opts.source.resolve(agreementId);
    if (!contract) return denied;
    const refused = contractRefusal(contract, opts.now());
    if (refused) return refused;
    if (contract.offer.accessMode !== "computeOnly")
      return {
        status: 403,
        code: "TDS_ERR_ACCESS_MODE",
        message: `Offer ${contract.offer.name} is not computeOnly`,
      };
    return contract;
  };

  /**
   * The job's credential for a job token, checked: job not finished, and the contract of
   * `input` (main: spec.contractRef; otherwise one of spec.inputs) Active and computeOnly.
   */
  const running = async (
    request: FastifyRequest,
    id: string,
    input = MAIN_INPUT,
  ): Promise<{ credential: SandboxCredential; contract: ContractGrant } | Refusal> => {
    const gid = UID.test(id) ? sandboxCredentialId(id) : CREDENTIAL_ID.test(id) ? id : undefined;
    const token = bearer(request.headers.authorization);
    if (!gid || !token) return denied;
    const credential = await opts.sandbox.credential(gid);
    if (!credential || !tokenMatches(token, credential.tokenDigest)) return denied;
    const job = await opts.sandbox.job(credential.job.namespace, credential.job.name);
    // Pending counts: the pod can start before the operator's next look marks the job Running.
    if (job?.uid !== credential.job.uid || (job.phase !== "Running" && job.phase !== "Pending"))
      return {
        status: 403,
        code: "TDS_ERR_JOB_NOT_RUNNING",
        message: `SandboxJob ${credential.job.name} is ${job?.phase ?? "gone"}; its token works only while it runs`,
      };
    const agreementId =
      input === MAIN_INPUT
        ? credential.agreementId
        : credential.inputs.find((i) => i.name === input)?.agreementId;
    if (agreementId === undefined)
      return {
        status: 404,
        code: "TDS_ERR_INPUT_NOT_DECLARED",
        message: `querystring/input: SandboxJob ${credential.job.name} declares no input ${input}`,
      };
    const contract = await usable(agreementId);
    return "status" in contract ? contract : { credential, contract };
  };

  const params = (name: string) => ({
    type: "object",
    required: ["job", name],
    properties: { job: { type: "string", maxLength: 64 }, [name]: { type: "string", maxLength: 1024 } },
  });
  const headers = {
    type: "object",
    properties: {
      "idempotency-key": { type: "string", maxLength: 200 },
      range: { type: "string", maxLength: 200 },
    },
  };

  app.get<{ Params: { job: string; "*": string }; Querystring: { input?: string } }>(
    "/v1/sandbox/:job/inputs/*",
    {
      config: { public: true },
      exposeHeadRoute: false,
      schema: {
        operationId: "getSandboxInput",
        tags: ["gateway"],
        summary: "A running SandboxJob reads an object of its offer",
        description:
          "Authorization: Bearer <token from the job's credential Secret>. Range is passed to the store. " +
          "Idempotency-Key makes retries one transfer, metered once per byte (sandbox.input_bytes); the " +
          "answer carries TDS-Transfer-Id. ?input=<name> reads a further input of the job (spec.inputs), " +
          "checked against its own contract; without it, the input of spec.contractRef (main).",
        security: [],
        params: params("*"),
        querystring: {
          type: "object",
          properties: {
            input: { type: "string", maxLength: 63, description: "Name of the input; main by default" },
          },
        },
        headers,
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const key = request.params["*"];
      const r = await running(request, request.params.job, request.query.input);
      if ("status" in r) return refuse(reply, request, r);
      if (!withinAsset(key, r.contract.offer))
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_OUTSIDE_ASSET",
          message: `${key} is not part of offer ${r.contract.offer.name}`,
        });
      return transfers.stream(
        request,
        reply,
        { grant: r.contract, job: r.credential.job, direction: "inputs", bucket: r.contract.bucket, key },
        `No object ${key} in the offer`,
      );
    },
  );

  app.put<{ Params: { job: string; name: string }; Body: Readable }>(
    "/v1/sandbox/:job/outputs/:name",
    {
      config: { public: true },
      bodyLimit: Number.MAX_SAFE_INTEGER,
      schema: {
        operationId: "putSandboxOutput",
        tags: ["gateway"],
        summary: "A running SandboxJob writes a declared output to its outbox",
        description:
          "Authorization: Bearer <token from the job's credential Secret>; Content-Length is required. The output goes " +
          "to the outbox in the provider's bucket, with a manifest (size, SHA-256, the inputs it copies, embeds " +
          "or names by their SHA-256) that the operator's review reads. An output over its maxSize is not " +
          "stored and is recorded as such, which withholds the job's outputs. Idempotency-Key makes retries " +
          "one transfer, metered once per byte (sandbox.output_bytes); the answer carries TDS-Transfer-Id.",
        security: [],
        params: params("name"),
        headers,
        response: {
          201: {
            type: "object",
            required: ["name", "bytes", "sha256"],
            properties: { name: { type: "string" }, bytes: { type: "integer" }, sha256: { type: "string" } },
          },
        },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const r = await running(request, request.params.job);
      if ("status" in r) {
        request.body.resume();
        return refuse(reply, request, r);
      }
      const declared = r.credential.outputs.find((o) => o.name === name);
      if (!OUTPUT_NAME.test(name) || !declared) {
        request.body.resume();
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_OUTPUT_NOT_DECLARED",
          message: `SandboxJob ${r.credential.job.name} declares no output ${name}`,
        });
      }
      const length = Number(request.headers["content-length"] ?? NaN);
      if (!Number.isSafeInteger(length) || length < 0) {
        request.body.resume();
        return refuse(reply, request, {
          status: 411,
          code: "TDS_ERR_LENGTH_REQUIRED",
          message: "Content-Length is required",
        });
      }
      const t = transfers.identify(request, r.contract, r.credential.job, "outputs");
      if ("status" in t) {
        request.body.resume();
        return refuse(reply, request, t);
      }
      const { bucket, prefix } = r.credential.outbox;
      const key = `${prefix}${name}`;
      const manifest = (m: Omit<OutputManifest, "name" | "key">) =>
        opts.s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}${OUTBOX_MANIFEST_DIR}${name}.json`,
            ContentType: "application/json",
            Body: JSON.stringify({ name, key, ...m } satisfies OutputManifest),
          }),
        );
      if (length > declared.maxBytes) {
        // Not stored (nor metered); the manifest records the size, so the operator withholds the outputs.
        void reply.header("connection", "close");
        request.body.resume();
        await opts.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        await manifest({ bytes: length, sha256: "" });
        return refuse(reply, request, {
          status: 413,
          code: "TDS_ERR_OUTPUT_TOO_LARGE",
          message: `Output ${name} is ${String(length)} bytes, over its limit of ${String(declared.maxBytes)} bytes`,
        });
      }
      // Every input's fingerprints first (read once per object version), so the output is scanned as it streams.
      const inputs = [r.contract];
      for (const i of r.credential.inputs) {
        const c = await usable(i.agreementId);
        if ("status" in c) {
          request.body.resume();
          return refuse(reply, request, c);
        }
        inputs.push(c);
      }
      const scans = [];
      for (const c of inputs) scans.push(...(await fingerprints.of(c.bucket, c.offer)));
      const scanner = new OutputScanner(scans);
      const transfer = await transfers.open(r.contract, t, key, undefined);
      if ("status" in transfer) {
        request.body.resume();
        return refuse(reply, request, transfer);
      }
      let received = 0;
      const body = new PassThrough();
      const piped = pipeline(
        request.body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            scanner.update(chunk);
            received += chunk.length;
            yield chunk;
          }
        },
        body,
      );
      const meter = (outcome: "complete" | "aborted") =>
        transfers.delivered(
          r.contract,
          transfer,
          { job: r.credential.job, direction: "outputs" },
          0,
          received,
          outcome,
        );
      try {
        await Promise.all([
          opts.s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentLength: length,
              ContentType: request.headers["content-type"] ?? "application/octet-stream",
            }),
          ),
          piped,
        ]);
      } catch (err) {
        await meter("aborted").catch((e: unknown) => {
          request.log.error({ err: e, transferId: t.tid }, "cannot meter a sandbox transfer");
        });
        throw err;
      }
      await meter("complete");
      const { sha256, matches, complete } = scanner.finish();
      await manifest({ bytes: length, sha256, inputMatches: matches, scanComplete: complete });
      void reply.header("tds-transfer-id", t.tid);
      return reply.status(201).send({ name, bytes: length, sha256 });
    },
  );

  app.get<{ Params: { job: string; name: string } }>(
    "/v1/sandbox/:job/outputs/:name",
    {
      config: { public: true },
      exposeHeadRoute: false,
      schema: {
        operationId: "getSandboxOutput",
        tags: ["gateway"],
        summary: "The consumer reads a released output of its SandboxJob",
        description:
          "Authorization: Bearer <token from the consumer's contract credentials Secret>; {job} is the job's " +
          "uid. Only when the job's review is Released. Range is passed to the store. Idempotency-Key makes " +
          "retries one transfer, metered once per byte (transfer.bytes); the answer carries TDS-Transfer-Id.",
        security: [],
        params: params("name"),
        headers,
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const { job: uid, name } = request.params;
      const token = bearer(request.headers.authorization);
      if (!UID.test(uid) || !token) return refuse(reply, request, denied);
      const job = await opts.sandbox.jobByUid(uid);
      const agreement = job && (await opts.sandbox.agreementOf(job.namespace, job.contract));
      const contract = agreement ? await opts.source.resolve(agreement) : undefined;
      if (!job || !contract || !tokenMatches(token, contract.tokenDigest))
        return refuse(reply, request, denied);
      if (contract.contract.state === "Revoked")
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_CONTRACT_REVOKED",
          message: `Contract ${contract.contract.name} was revoked`,
        });
      const output = job.outputs.find((o) => o.name === name);
      const prefix = `tds-outbox/${uid}/`;
      if (job.reviewState !== "Released" || !output?.objectKey?.startsWith(prefix))
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_OUTPUT_NOT_RELEASED",
          message: `Output ${name} of SandboxJob ${job.name} is not released (review ${job.reviewState ?? "pending"})`,
        });
      // A released output leaves the space as the consumer's download: to a consumer abroad it is an
      // export, checked against the negative list and the level's export rule for each destination as
      // they are now (even after the contract ended), and recorded for the export report either way.
      return transfers.stream(
        request,
        reply,
        {
          grant: contract,
          job,
          direction: "released",
          bucket: contract.bucket,
          key: output.objectKey,
          exports: { checks: exportsOf(contract), decidedAt: opts.now() },
        },
        `Output ${name} is gone`,
      );
    },
  );
  return Promise.resolve();
};
