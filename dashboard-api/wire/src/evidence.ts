// The evidence entry: what one leaf of a space's log records, as the operator
// sends it (POST /v1/spaces/{space}/evidence/entries) and the API validates,
// stores and hashes it. Entries say who did what to which object and when,
// and carry at most the hash of a payload, never the data itself.
import { Type, type Static } from "@sinclair/typebox";
import { DNS1123_LABEL } from "@tds/crds";

/** RFC 3339 date-time, either case of T and Z (the API also checks that it parses). */
const RFC3339 = "^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$";

export const EvidenceObjectRefSchema = Type.Object(
  {
    kind: Type.String({ minLength: 1, maxLength: 100 }),
    /** Absent for cluster-scoped kinds (DataSpace, Participant). */
    namespace: Type.Optional(Type.String({ pattern: DNS1123_LABEL, maxLength: 63 })),
    name: Type.String({ minLength: 1, maxLength: 253 }),
    uid: Type.String({ minLength: 1, maxLength: 100 }),
    generation: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type EvidenceObjectRef = Static<typeof EvidenceObjectRefSchema>;

export const EvidenceEntrySchema = Type.Object(
  {
    /** The DataSpace whose log holds the entry; part of the leaf, so an entry cannot be replayed into another log. */
    space: Type.String({ pattern: DNS1123_LABEL, maxLength: 63 }),
    /** Caller-chosen id, unique in the space: a retried append with the same id is recorded once. */
    eventId: Type.String({ minLength: 1, maxLength: 200 }),
    actor: Type.String({ minLength: 1, maxLength: 300 }),
    action: Type.String({ minLength: 1, maxLength: 100 }),
    /** RFC 3339 date-time of the action. */
    time: Type.String({ pattern: RFC3339 }),
    object: EvidenceObjectRefSchema,
    /** SHA-256 of the payload the action concerned, lowercase hex. */
    payloadHash: Type.Optional(Type.String({ pattern: "^[0-9a-f]{64}$" })),
  },
  { additionalProperties: false },
);
export type EvidenceEntry = Static<typeof EvidenceEntrySchema>;

/** The most entries one append (and one page of a read) carries. */
export const MAX_EVIDENCE_PAGE = 1000;

export const AppendEvidenceBodySchema = Type.Object(
  { entries: Type.Array(EvidenceEntrySchema, { minItems: 1, maxItems: MAX_EVIDENCE_PAGE }) },
  { additionalProperties: false },
);

/** Where the log put one appended entry. */
export const AppendResultSchema = Type.Object({
  eventId: Type.String(),
  leafIndex: Type.Integer(),
  /** base64 */
  leafHash: Type.String(),
  /** Recorded by an earlier append with the same eventId and content. */
  duplicate: Type.Boolean(),
});
export type AppendResult = Static<typeof AppendResultSchema>;

export const AppendEvidenceResponseSchema = Type.Object({ results: Type.Array(AppendResultSchema) });

/** An entry as the log holds it (reads, the export, and the conflict problem's `recorded`). */
export const StoredEntrySchema = Type.Object({
  leafIndex: Type.Integer(),
  /** base64 */
  leafHash: Type.String(),
  entry: Type.Object({}, { additionalProperties: true }),
});
export interface StoredEntry {
  readonly leafIndex: number;
  /** base64 */
  readonly leafHash: string;
  readonly entry: EvidenceEntry;
}

/** The append's answer when the log holds the eventId with other content. */
export const EVIDENCE_EVENT_CONFLICT = "TDS_ERR_EVIDENCE_EVENT_CONFLICT";
