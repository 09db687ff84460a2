// Usage events as CloudEvents 1.0 (structured JSON): the schema, validation beyond
// the schema (timestamps), and the canonical form whose hash makes replays detectable.
import { createHash } from "node:crypto";
import { TdsError } from "../errors.ts";
import { meterNames, type MeterName } from "./meters.ts";

export const usageEventType = "dev.tds.usage.v1";
const namePattern = "^[a-z0-9]([-a-z0-9._/]{0,251}[a-z0-9])?$";

export const usageEventSchema = {
  $id: "UsageEvent",
  type: "object",
  description:
    "A CloudEvent 1.0 in structured JSON. Idempotent on (data.space, source, id): a replay returns the original " +
    "result; the same key with a different payload is rejected and flagged. Other spaces' events never collide.",
  required: ["specversion", "id", "source", "type", "time", "data"],
  properties: {
    specversion: { type: "string", enum: ["1.0"] },
    id: { type: "string", minLength: 1, maxLength: 256 },
    source: { type: "string", minLength: 1, maxLength: 1024 },
    type: { type: "string", enum: [usageEventType] },
    time: { type: "string", format: "date-time", description: "When the usage happened (RFC 3339)" },
    subject: { type: "string", maxLength: 1024 },
    datacontenttype: { type: "string", enum: ["application/json"] },
    data: {
      type: "object",
      additionalProperties: false,
      required: ["space", "participant", "meter", "quantity"],
      // An offer names its provider, a contract its offer. Written as if/then (valid in JSON Schema
      // draft-07, which the validator speaks, and in 2020-12, which OpenAPI 3.1 speaks) rather than
      // draft-07's `dependencies`, which 2020-12 removed. `properties: { x: true }` only says, for
      // linters that read each subschema alone, that x is the property declared below.
      allOf: [
        {
          if: { properties: { offer: true }, required: ["offer"] },
          then: { properties: { provider: true }, required: ["provider"] },
        },
        {
          if: { properties: { contract: true }, required: ["contract"] },
          then: { properties: { offer: true }, required: ["offer"] },
        },
      ],
      properties: {
        space: { type: "string", pattern: namePattern },
        participant: { type: "string", pattern: namePattern, description: "Who used (and pays)" },
        provider: { type: "string", pattern: namePattern, description: "Whose data was used" },
        offer: { type: "string", pattern: namePattern, description: "The data offer used" },
        contract: {
          type: "string",
          pattern: namePattern,
          description:
            "The DataContract (in the participant's namespace) the offer was used under; its price applies",
        },
        meter: { type: "string", enum: meterNames },
        quantity: {
          // One schema with two types, not anyOf: ajv's type coercion must never turn a
          // big decimal string into a float. Integers up to 2^53-1, decimal strings beyond.
          type: ["integer", "string"],
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          pattern: "^(0|[1-9][0-9]{0,37})$",
          description: "Integer in the meter's base unit; a decimal string for values beyond 2^53",
        },
      },
    },
  },
} as const;

export interface UsageEventInput {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  data: {
    space: string;
    participant: string;
    provider?: string;
    offer?: string;
    contract?: string;
    meter: MeterName;
    quantity: number | string;
  };
  [extension: string]: unknown;
}

export interface UsageEvent {
  readonly source: string;
  readonly id: string;
  readonly space: string;
  readonly participant: string;
  readonly provider: string;
  readonly offer: string;
  readonly contract: string;
  readonly meter: MeterName;
  readonly quantity: bigint;
  readonly time: Date;
  /** sha256 of the canonical form; equal for a faithful replay. */
  readonly sha256: Buffer;
  readonly raw: UsageEventInput;
}

export interface TimeWindow {
  /** How far in the future an event may be stamped (clock skew). */
  readonly maxFutureMs: number;
  /** How old an event may be. */
  readonly maxAgeMs: number;
}

export const defaultTimeWindow: TimeWindow = { maxFutureMs: 5 * 60_000, maxAgeMs: 400 * 86_400_000 };

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Validates what the schema cannot (instants) and normalises one event. */
export function normalizeEvent(
  raw: UsageEventInput,
  index: number,
  now: Date,
  window = defaultTimeWindow,
): UsageEvent {
  const time = new Date(raw.time);
  const field = `body/${index}/time`;
  if (Number.isNaN(time.getTime()))
    throw new TdsError("validation", `${field}: not a valid RFC 3339 time`, { field });
  if (time.getTime() > now.getTime() + window.maxFutureMs)
    throw new TdsError("validation", `${field}: ${raw.time} is in the future`, { field });
  if (time.getTime() < now.getTime() - window.maxAgeMs)
    throw new TdsError("validation", `${field}: ${raw.time} is older than the accepted window`, { field });
  const quantity = BigInt(raw.data.quantity);
  // The instant and the quantity are hashed normalised, so 5 and "5", or Z and +00:00, are one payload.
  const canonical = canonicalJson({
    ...raw,
    time: time.toISOString(),
    data: { ...raw.data, quantity: quantity.toString() },
  });
  return {
    source: raw.source,
    id: raw.id,
    space: raw.data.space,
    participant: raw.data.participant,
    provider: raw.data.provider ?? "",
    offer: raw.data.offer ?? "",
    contract: raw.data.contract ?? "",
    meter: raw.data.meter,
    quantity,
    time,
    sha256: createHash("sha256").update(canonical).digest(),
    raw,
  };
}
