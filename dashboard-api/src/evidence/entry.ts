// The evidence entry: what one leaf of a space's log records, its validation
// and its leaf bytes. Entries say who did what to which object and when, and
// carry at most the hash of a payload, never the data itself.
import { canonicalBytes } from "./canonical.ts";
import { leafHash, type Hash } from "./merkle.ts";

export interface EvidenceObjectRef {
  kind: string;
  /** Absent for cluster-scoped kinds (DataSpace, Participant). */
  namespace?: string;
  name: string;
  uid: string;
  generation?: number;
}

export interface EvidenceEntry {
  /** The DataSpace whose log holds the entry; part of the leaf, so an entry cannot be replayed into another log. */
  space: string;
  /** Caller-chosen id, unique in the space: a retried append with the same id is recorded once. */
  eventId: string;
  actor: string;
  action: string;
  /** RFC 3339 date-time of the action. */
  time: string;
  object: EvidenceObjectRef;
  /** SHA-256 of the payload the action concerned, lowercase hex. */
  payloadHash?: string;
}

export interface FieldError {
  field: string;
  message: string;
}

const NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const RFC3339 = "^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$";

/** JSON schema of an entry, used by the routes; validateEntry checks the same rules without fastify. */
export const entrySchema = {
  type: "object",
  additionalProperties: false,
  required: ["space", "eventId", "actor", "action", "time", "object"],
  properties: {
    space: { type: "string", pattern: NAME, maxLength: 63 },
    eventId: { type: "string", minLength: 1, maxLength: 200 },
    actor: { type: "string", minLength: 1, maxLength: 300 },
    action: { type: "string", minLength: 1, maxLength: 100 },
    time: { type: "string", pattern: RFC3339 },
    object: {
      type: "object",
      additionalProperties: false,
      required: ["kind", "name", "uid"],
      properties: {
        kind: { type: "string", minLength: 1, maxLength: 100 },
        namespace: { type: "string", pattern: NAME, maxLength: 63 },
        name: { type: "string", minLength: 1, maxLength: 253 },
        uid: { type: "string", minLength: 1, maxLength: 100 },
        generation: { type: "integer", minimum: 0 },
      },
    },
    payloadHash: { type: "string", pattern: "^[0-9a-f]{64}$" },
  },
} as const;

function str(errors: FieldError[], field: string, v: unknown, max: number, pattern?: string): void {
  if (typeof v !== "string" || v.length === 0) errors.push({ field, message: "must be a non-empty string" });
  else if (v.length > max) errors.push({ field, message: `must be at most ${max} characters` });
  else if (pattern !== undefined && !new RegExp(pattern).test(v)) {
    errors.push({ field, message: `must match ${pattern}` });
  }
}

/** Every rule broken by a candidate entry, with its field path. Empty when valid. */
export function validateEntry(value: unknown): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [{ field: "entry", message: "must be an object" }];
  }
  const e = value as Record<string, unknown>;
  const known = new Set(Object.keys(entrySchema.properties));
  for (const k of Object.keys(e))
    if (!known.has(k)) errors.push({ field: k, message: "is not a known field" });
  str(errors, "space", e.space, 63, NAME);
  str(errors, "eventId", e.eventId, 200);
  str(errors, "actor", e.actor, 300);
  str(errors, "action", e.action, 100);
  str(errors, "time", e.time, 40, RFC3339);
  if (typeof e.time === "string" && Number.isNaN(Date.parse(e.time))) {
    errors.push({ field: "time", message: "is not a valid date-time" });
  }
  if (e.payloadHash !== undefined) str(errors, "payloadHash", e.payloadHash, 64, "^[0-9a-f]{64}$");
  const o = e.object;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    errors.push({ field: "object", message: "must be an object" });
  } else {
    const ref = o as Record<string, unknown>;
    const knownRef = new Set(Object.keys(entrySchema.properties.object.properties));
    for (const k of Object.keys(ref)) {
      if (!knownRef.has(k)) errors.push({ field: `object.${k}`, message: "is not a known field" });
    }
    str(errors, "object.kind", ref.kind, 100);
    if (ref.namespace !== undefined) str(errors, "object.namespace", ref.namespace, 63, NAME);
    str(errors, "object.name", ref.name, 253);
    str(errors, "object.uid", ref.uid, 100);
    if (
      ref.generation !== undefined &&
      (typeof ref.generation !== "number" || !Number.isSafeInteger(ref.generation) || ref.generation < 0)
    ) {
      errors.push({ field: "object.generation", message: "must be a non-negative integer" });
    }
  }
  return errors;
}

/** The leaf bytes of an entry: its RFC 8785 canonical JSON in UTF-8. */
export function entryBytes(entry: EvidenceEntry): Buffer {
  return canonicalBytes(entry);
}

export function entryLeafHash(entry: EvidenceEntry): Hash {
  return leafHash(entryBytes(entry));
}
