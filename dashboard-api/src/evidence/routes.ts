// The evidence log's HTTP API, a fastify plugin mounted under
// /v1/spaces/:space/evidence. Members read checkpoints and proofs freely and
// entries about their own objects; the operator appends through the internal
// POST /entries. Authentication happens before (the app's auth plugin); this
// plugin asks the `authorize` callbacks what the caller may do.
import { Type, type Static } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DNS1123_LABEL } from "@tds/crds";
import {
  AppendEvidenceBodySchema,
  AppendEvidenceResponseSchema,
  MAX_EVIDENCE_PAGE,
  StoredEntrySchema,
} from "@tds/wire";
import type { FastifyError, FastifyPluginCallback, FastifyRequest } from "fastify";
import type { SignerFor } from "./checkpoint-loop.ts";
import { CheckpointError, type CheckpointSigner, type SignedCheckpoint } from "./checkpoint.ts";
import { errorAnswer, problem, PROBLEM_MEDIA_TYPE, problemSchema, sendProblem } from "../errors.ts";
import { exportStream } from "./export.ts";
import { type EntryFilter, EvidenceConflictError, EvidenceError, type EvidenceStore } from "./store.ts";

/** What a caller may read in a space; null when the caller is not a member (answered as 404). */
export type EvidenceAccess =
  { canSeeAllEntries: true } | { canSeeAllEntries: false; filter: EntryFilter } | null;

export interface EvidenceRoutesOptions {
  store: EvidenceStore;
  authorize(request: FastifyRequest, space: string): Promise<EvidenceAccess>;
  /** True for the operator's service identity (and space admins): may append and force a checkpoint. */
  authorizeAppend(request: FastifyRequest, space: string): Promise<boolean>;
  /** Needed for POST /checkpoint. */
  signerFor?: SignerFor;
}

const MAX_PAGE = MAX_EVIDENCE_PAGE;
const b64 = (h: Uint8Array): string => Buffer.from(h).toString("base64");

const spaceParams = Type.Object({ space: Type.String({ pattern: DNS1123_LABEL, maxLength: 63 }) });
const index = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const hashArray = Type.Array(Type.String());
const checkpointBody = Type.Object({
  origin: Type.Optional(Type.String()),
  treeSize: Type.Integer(),
  rootHash: Type.String({ description: "base64" }),
  time: Type.String(),
  note: Type.String({ description: "the C2SP signed note, verbatim" }),
});
const storedEntry = StoredEntrySchema;
/** A leaf of the export: its entry only where the caller may see it (a participant's export hides the rest). */
const exportedLeaf = Type.Object({
  leafIndex: Type.Integer(),
  leafHash: Type.String({ description: "base64" }),
  entry: Type.Optional(
    Type.Object(
      {},
      { additionalProperties: true, description: "absent for an entry the caller may not see" },
    ),
  ),
});
/** The API's problem document (errors.ts), with the conflicting entry for TDS_ERR_EVIDENCE_EVENT_CONFLICT. */
const evidenceProblemSchema = {
  type: "object",
  required: problemSchema.required,
  properties: {
    ...problemSchema.properties,
    recorded: {
      ...storedEntry,
      description: "TDS_ERR_EVIDENCE_EVENT_CONFLICT only: the entry the log holds under that eventId",
    },
  },
} as const;
const errorBody = {
  description: "An RFC 9457 problem document",
  content: { [PROBLEM_MEDIA_TYPE]: { schema: evidenceProblemSchema } },
} as const;

/**
 * The export document (format tds.dev/evidence-export/v1). The route streams
 * it (export.ts writes these members in this order), so this schema documents
 * the answer rather than serialising it.
 */
export const exportBody = Type.Object({
  format: Type.Optional(Type.String()),
  space: Type.Optional(Type.String()),
  origin: Type.Optional(Type.String()),
  treeSize: Type.Optional(Type.Integer()),
  entries: Type.Optional(Type.Array(exportedLeaf)),
  checkpoints: Type.Optional(Type.Array(Type.String())),
});

const STATUS: Record<string, number> = {
  TDS_ERR_EVIDENCE_SPACE_MISMATCH: 400,
  TDS_ERR_EVIDENCE_TREE_SIZE: 400,
  TDS_ERR_EVIDENCE_LEAF_INDEX: 400,
  TDS_ERR_EVIDENCE_RANGE: 400,
  TDS_ERR_EVIDENCE_EVENT_CONFLICT: 409,
  TDS_ERR_EVIDENCE_NO_CHECKPOINT: 404,
  TDS_ERR_EVIDENCE_NO_SIGNER: 503,
  TDS_ERR_SPACE_NOT_FOUND: 404,
  TDS_ERR_FORBIDDEN: 403,
};

function checkpointJson(c: SignedCheckpoint): Static<typeof checkpointBody> {
  return { origin: c.origin, treeSize: c.treeSize, rootHash: b64(c.rootHash), time: c.time, note: c.note };
}

export const evidenceRoutes: FastifyPluginCallback<EvidenceRoutesOptions> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = opts;

  app.setErrorHandler((error: Error, request, reply) => {
    if (error instanceof EvidenceConflictError) {
      // The conflicting event's position and content, so a retry after a crash can pick them up.
      const { leafIndex, leafHash, entry } = error.recorded;
      return reply
        .status(409)
        .type(PROBLEM_MEDIA_TYPE)
        .send({
          ...problem(409, error.code, error.message, request, error.field),
          recorded: {
            leafIndex,
            leafHash: b64(leafHash),
            entry: JSON.parse(entry.toString("utf8")) as unknown,
          },
        });
    }
    if (error instanceof EvidenceError)
      return sendProblem(reply, request, STATUS[error.code] ?? 400, error.code, error.message, error.field);
    // Everything else in the API's one shape (errors.ts).
    const a = errorAnswer(error as FastifyError);
    if (a.status >= 500) request.log.error({ err: error }, "evidence route failed");
    return sendProblem(reply, request, a.status, a.code, a.detail, a.field);
  });

  const access = async (request: FastifyRequest, space: string): Promise<EntryFilter | undefined> => {
    const a = await opts.authorize(request, space);
    if (!a) throw new EvidenceError("TDS_ERR_SPACE_NOT_FOUND", `Space ${space} not found`, "space");
    return a.canSeeAllEntries ? undefined : a.filter;
  };
  const requireAppend = async (request: FastifyRequest, space: string): Promise<void> => {
    await access(request, space);
    if (!(await opts.authorizeAppend(request, space))) {
      throw new EvidenceError(
        "TDS_ERR_FORBIDDEN",
        `Appending evidence to space ${space} is reserved to the operator`,
      );
    }
  };

  app.get(
    "/entries",
    {
      schema: {
        tags: ["evidence"],
        operationId: "listEvidenceEntries",
        summary: "Entries by leaf range [start, end); participants get only entries about their own objects",
        params: spaceParams,
        querystring: Type.Object({ start: index, end: Type.Optional(index) }),
        response: {
          200: Type.Object({
            treeSize: Type.Integer(),
            entries: Type.Array(storedEntry),
            next: Type.Optional(Type.Integer()),
          }),
          "4xx": errorBody,
        },
      },
    },
    async (request) => {
      const { space } = request.params;
      const filter = await access(request, space);
      const { treeSize } = await store.head(space);
      const { start } = request.query;
      if (start > treeSize) {
        throw new EvidenceError(
          "TDS_ERR_EVIDENCE_RANGE",
          `start ${start} is beyond the log (${treeSize})`,
          "querystring/start",
        );
      }
      if (request.query.end !== undefined && request.query.end < start) {
        throw new EvidenceError("TDS_ERR_EVIDENCE_RANGE", "end must not be before start", "querystring/end");
      }
      const end = Math.min(request.query.end ?? treeSize, start + MAX_PAGE, treeSize);
      const rows = end > start ? await store.entries(space, start, end, filter) : [];
      return {
        treeSize,
        entries: rows.map((r) => ({
          leafIndex: r.leafIndex,
          leafHash: b64(r.leafHash),
          entry: JSON.parse(r.entry.toString("utf8")) as unknown,
        })),
        ...(end < treeSize ? { next: end } : {}),
      };
    },
  );

  app.post(
    "/entries",
    {
      schema: {
        tags: ["evidence"],
        operationId: "appendEvidenceEntries",
        summary: "Append entries (internal: the operator). Idempotent per eventId; answered after commit",
        params: spaceParams,
        body: AppendEvidenceBodySchema,
        response: {
          "2xx": AppendEvidenceResponseSchema,
          "4xx": errorBody,
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      await requireAppend(request, space);
      const results = await store.append(space, request.body.entries);
      return reply.status(results.some((r) => !r.duplicate) ? 201 : 200).send({
        results: results.map((r) => ({ ...r, leafHash: b64(r.leafHash) })),
      });
    },
  );

  app.get(
    "/checkpoint",
    {
      schema: {
        tags: ["evidence"],
        operationId: "getEvidenceCheckpoint",
        summary: "The latest signed checkpoint",
        params: spaceParams,
        response: { 200: checkpointBody, "4xx": errorBody },
      },
    },
    async (request) => {
      const { space } = request.params;
      await access(request, space);
      const cp = await store.latestCheckpoint(space);
      if (!cp)
        throw new EvidenceError("TDS_ERR_EVIDENCE_NO_CHECKPOINT", `Space ${space} has no checkpoint yet`);
      return checkpointJson(cp);
    },
  );

  app.post(
    "/checkpoint",
    {
      schema: {
        tags: ["evidence"],
        operationId: "signEvidenceCheckpoint",
        summary: "Sign a checkpoint now (internal); the gateway exports it to S3 on its next pass",
        params: spaceParams,
        response: { 200: checkpointBody, "4xx": errorBody, "5xx": errorBody },
      },
    },
    async (request) => {
      const { space } = request.params;
      await requireAppend(request, space);
      if (!opts.signerFor)
        throw new EvidenceError("TDS_ERR_EVIDENCE_NO_SIGNER", "No checkpoint signer is configured");
      let signer: CheckpointSigner;
      try {
        signer = await opts.signerFor(space);
      } catch (err) {
        // As GET /public-key: the operator has not made this space's key (or there is no such space).
        if (err instanceof CheckpointError)
          throw new EvidenceError(
            "TDS_ERR_SPACE_NOT_FOUND",
            `Space ${space} has no evidence key yet`,
            "space",
          );
        throw err;
      }
      return checkpointJson(await store.checkpoint(space, signer));
    },
  );

  app.get(
    "/proofs/inclusion",
    {
      schema: {
        tags: ["evidence"],
        operationId: "getEvidenceInclusionProof",
        summary: "RFC 9162 inclusion proof of a leaf in a tree size",
        params: spaceParams,
        querystring: Type.Object({
          leafIndex: index,
          treeSize: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
        }),
        response: {
          200: Type.Object({
            leafIndex: Type.Integer(),
            treeSize: Type.Integer(),
            leafHash: Type.String(),
            proof: hashArray,
          }),
          "4xx": errorBody,
        },
      },
    },
    async (request) => {
      const { space } = request.params;
      await access(request, space);
      const { leafIndex, treeSize } = request.query;
      const proof = await fieldErrors(store.inclusionProof(space, leafIndex, treeSize));
      const [leaf] = await store.leaves(space, leafIndex, leafIndex + 1);
      return { leafIndex, treeSize, leafHash: leaf ? b64(leaf.leafHash) : "", proof: proof.map(b64) };
    },
  );

  app.get(
    "/proofs/consistency",
    {
      schema: {
        tags: ["evidence"],
        operationId: "getEvidenceConsistencyProof",
        summary: "RFC 9162 consistency proof between two tree sizes",
        params: spaceParams,
        querystring: Type.Object({ first: index, second: index }),
        response: {
          200: Type.Object({ first: Type.Integer(), second: Type.Integer(), proof: hashArray }),
          "4xx": errorBody,
        },
      },
    },
    async (request) => {
      const { space } = request.params;
      await access(request, space);
      const { first, second } = request.query;
      const proof = await fieldErrors(store.consistencyProof(space, first, second));
      return { first, second, proof: proof.map(b64) };
    },
  );

  app.get(
    "/export",
    {
      schema: {
        tags: ["evidence"],
        operationId: "exportEvidence",
        summary:
          "Every leaf hash, the entries the caller may see, and every checkpoint: input for `tds evidence verify`",
        params: spaceParams,
        response: { 200: exportBody, "4xx": errorBody },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      const filter = await access(request, space);
      // Errors before the first byte are answered as usual; the document itself is streamed.
      const { treeSize } = await store.head(space);
      return reply.type("application/json; charset=utf-8").send(exportStream(store, space, treeSize, filter));
    },
  );
  done();
};

/** Query errors from the store name the query field. */
async function fieldErrors<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof EvidenceError && err.field !== undefined && !err.field.includes("/")) {
      throw new EvidenceError(err.code, err.message, `querystring/${err.field}`, { cause: err });
    }
    throw err;
  }
}
