// The gateway's SandboxJob endpoints. A running job reads its offer's objects
// and writes its outputs with the job-scoped token of its grant Secret (the
// operator creates it in the sandbox namespace); the consumer reads released
// outputs with its contract token.
//   GET /v1/sandbox/{job}/inputs/{key}    job token; job Running, contract Active, key in the offer's asset
//   PUT /v1/sandbox/{job}/outputs/{name}  job token; streams into tds-outbox/<uid>/<name> in the
//                                         provider's bucket and writes the manifest the operator reads
//   GET /v1/sandbox/{uid}/outputs/{name}  contract token; only when the job's review is Released
// {job} is the job's uid or its grant id (sha256("grant/" + uid)[0:32], the id in the job's env).
// The manifest records the output's size and SHA-256 and the input objects whose
// SHA-256 equals it, so the operator withholds copies of inputs (sandboxjob.review.ts).
import { createHash } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { bearer, contractRefusal, tokenMatches, withinAsset, type Refusal } from "./grants.ts";
import type { GrantSource } from "./kube.ts";

/** A job's grant, from its grant Secret and the SandboxJob. */
export interface SandboxGrant {
  readonly grantId: string;
  readonly agreementId: string;
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
  /** The grant whose Secret carries this grant id, or undefined. */
  grant(grantId: string): Promise<SandboxGrant | undefined>;
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
}

export const OUTBOX_MANIFEST_DIR = ".manifest/";
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GRANT = /^[0-9a-f]{32}$/;
const OUTPUT_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;

/** The operator's grantId (sandboxjob.builders.ts), repeated here: dashboard-api does not import the operator. */
export function sandboxGrantId(uid: string): string {
  return createHash("sha256").update(`grant/${uid}`).digest("hex").slice(0, 32);
}

const denied: Refusal = {
  status: 401,
  code: "TDS_ERR_UNAUTHENTICATED",
  message: "A valid token is required for this SandboxJob",
};

function refuse(reply: FastifyReply, request: FastifyRequest, r: Refusal): FastifyReply {
  return reply
    .status(r.status)
    .type("application/json")
    .send({ code: r.code, message: r.message, requestId: request.id });
}

const s3Status = (err: unknown): number | undefined =>
  err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;

export const sandboxRoutes: FastifyPluginAsync<SandboxRoutesOptions> = async (app, opts) => {
  // Output bodies are streamed to the store, whatever their type; this plugin is encapsulated.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_request, payload, done) => {
    done(null, payload);
  });
  /** Input objects' SHA-256 by bucket, key and ETag: an object is hashed once per version. */
  const inputHashes = new Map<string, string>();

  /** The job's grant for a job token, checked: job Running, contract Active and computeOnly. */
  const running = async (
    request: FastifyRequest,
    id: string,
  ): Promise<
    { grant: SandboxGrant; contract: NonNullable<Awaited<ReturnType<GrantSource["resolve"]>>> } | Refusal
  > => {
    const gid = UID.test(id) ? sandboxGrantId(id) : GRANT.test(id) ? id : undefined;
    const token = bearer(request.headers.authorization);
    if (!gid || !token) return denied;
    const grant = await opts.sandbox.grant(gid);
    if (!grant || !tokenMatches(token, grant.tokenDigest)) return denied;
    const job = await opts.sandbox.job(grant.job.namespace, grant.job.name);
    if (job?.uid !== grant.job.uid || job.phase !== "Running")
      return {
        status: 403,
        code: "TDS_ERR_JOB_NOT_RUNNING",
        message: `SandboxJob ${grant.job.name} is ${job?.phase ?? "gone"}; its token works only while it runs`,
      };
    const contract = await opts.source.resolve(grant.agreementId);
    if (!contract) return denied;
    const refused = contractRefusal(contract, opts.now());
    if (refused) return refused;
    if (contract.offer.accessMode !== "computeOnly")
      return {
        status: 403,
        code: "TDS_ERR_ACCESS_MODE",
        message: `Offer ${contract.offer.name} is not computeOnly`,
      };
    return { grant, contract };
  };

  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    bucket: string,
    key: string,
    missing: string,
  ): Promise<FastifyReply> => {
    let object;
    try {
      object = await opts.s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
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
      throw new Error(`cannot read ${key} from the provider's bucket`, { cause: err });
    }
    const body = object.Body as Readable | undefined;
    if (!body) throw new Error(`the store returned no body for ${key}`);
    void reply
      .status(object.ContentRange ? 206 : 200)
      .header("content-type", object.ContentType ?? "application/octet-stream")
      .header("accept-ranges", "bytes")
      .header("cache-control", "private, no-store");
    if (object.ContentLength !== undefined) void reply.header("content-length", object.ContentLength);
    if (object.ETag) void reply.header("etag", object.ETag);
    if (object.ContentRange) void reply.header("content-range", object.ContentRange);
    return reply.send(body);
  };

  /** SHA-256 of each object of the offer's asset (the inputs a job can read). */
  const hashesOfInputs = async (bucket: string, asset: { key?: string; prefix?: string }) => {
    const keys: { key: string; etag: string }[] = [];
    let token: string | undefined;
    do {
      const page = await opts.s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: asset.key ?? asset.prefix ?? "",
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? [])
        if (o.Key !== undefined && withinAsset(o.Key, asset)) keys.push({ key: o.Key, etag: o.ETag ?? "" });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const out: { key: string; sha256: string }[] = [];
    for (const { key, etag } of keys) {
      const cacheKey = `${bucket}\n${key}\n${etag}`;
      let sha = inputHashes.get(cacheKey);
      if (sha === undefined) {
        const o = await opts.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const h = createHash("sha256");
        for await (const chunk of o.Body as Readable) h.update(chunk as Buffer);
        sha = h.digest("hex");
        inputHashes.set(cacheKey, sha);
      }
      out.push({ key, sha256: sha });
    }
    return out;
  };

  const params = (name: string) => ({
    type: "object",
    required: ["job", name],
    properties: { job: { type: "string", maxLength: 64 }, [name]: { type: "string", maxLength: 1024 } },
  });

  app.get<{ Params: { job: string; "*": string } }>(
    "/v1/sandbox/:job/inputs/*",
    {
      config: { public: true },
      exposeHeadRoute: false,
      schema: {
        tags: ["gateway"],
        summary: "A running SandboxJob reads an object of its offer",
        description: "Authorization: Bearer <token from the job's grant Secret>.",
        security: [],
        params: params("*"),
      },
    },
    async (request, reply) => {
      const key = request.params["*"];
      const r = await running(request, request.params.job);
      if ("status" in r) return refuse(reply, request, r);
      if (!withinAsset(key, r.contract.offer))
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_OUTSIDE_ASSET",
          message: `${key} is not part of offer ${r.contract.offer.name}`,
        });
      return stream(request, reply, r.contract.bucket, key, `No object ${key} in the offer`);
    },
  );

  app.put<{ Params: { job: string; name: string }; Body: Readable }>(
    "/v1/sandbox/:job/outputs/:name",
    {
      config: { public: true },
      bodyLimit: Number.MAX_SAFE_INTEGER,
      schema: {
        tags: ["gateway"],
        summary: "A running SandboxJob writes a declared output to its outbox",
        description:
          "Authorization: Bearer <token from the job's grant Secret>; Content-Length is required. The output goes " +
          "to the outbox in the provider's bucket, with a manifest (size, SHA-256, inputs it copies) that the " +
          "operator's review reads. An output over its maxSize is not stored and is recorded as such, which " +
          "withholds the job's outputs.",
        security: [],
        params: params("name"),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const r = await running(request, request.params.job);
      if ("status" in r) {
        request.body.resume();
        return refuse(reply, request, r);
      }
      const declared = r.grant.outputs.find((o) => o.name === name);
      if (!OUTPUT_NAME.test(name) || !declared) {
        request.body.resume();
        return refuse(reply, request, {
          status: 403,
          code: "TDS_ERR_OUTPUT_NOT_DECLARED",
          message: `SandboxJob ${r.grant.job.name} declares no output ${name}`,
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
      const { bucket, prefix } = r.grant.outbox;
      const key = `${prefix}${name}`;
      const manifest = (m: { bytes: number; sha256: string; inputHashes?: string[] }) =>
        opts.s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}${OUTBOX_MANIFEST_DIR}${name}.json`,
            ContentType: "application/json",
            Body: JSON.stringify({ name, key, ...m }),
          }),
        );
      if (length > declared.maxBytes) {
        // Not stored; the manifest records the size, so the operator withholds the outputs.
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
      const hash = createHash("sha256");
      const body = new PassThrough();
      const piped = pipeline(
        request.body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            yield chunk;
          }
        },
        body,
      );
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
      const sha256 = hash.digest("hex");
      const inputs = await hashesOfInputs(r.contract.bucket, r.contract.offer);
      const copies = inputs.filter((i) => i.sha256 === sha256).map((i) => i.key);
      await manifest({ bytes: length, sha256, ...(copies.length > 0 ? { inputHashes: copies } : {}) });
      return reply.status(201).send({ name, bytes: length, sha256 });
    },
  );

  app.get<{ Params: { job: string; name: string } }>(
    "/v1/sandbox/:job/outputs/:name",
    {
      config: { public: true },
      exposeHeadRoute: false,
      schema: {
        tags: ["gateway"],
        summary: "The consumer reads a released output of its SandboxJob",
        description:
          "Authorization: Bearer <token from the consumer's contract credentials Secret>; {job} is the job's " +
          "uid. Only when the job's review is Released.",
        security: [],
        params: params("name"),
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
      return stream(request, reply, contract.bucket, output.objectKey, `Output ${name} is gone`);
    },
  );
  return Promise.resolve();
};
