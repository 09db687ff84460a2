// Usage events: CloudEvents 1.0 in structured JSON, as the operator (storage
// samples, agreed contracts, sandbox runs) and the gateway send them to
// POST /v1/usage, and the API's answer per event.
import { Type, type Static } from "@sinclair/typebox";
import { REVENUE_SHARING_RULES, StringEnum, type RevenueShare } from "@tds/crds";

export const usageEventType = "dev.tds.usage.v1";

/** Every meter an event may name; the API's meter catalog (metering/meters.ts) prices each. */
export const meterNames = [
  "storage.byte_seconds",
  "transfer.bytes",
  "sandbox.input_bytes",
  "sandbox.output_bytes",
  "sandbox.cpu_milliseconds",
  "sandbox.memory_byte_seconds",
  "api.calls",
  "offer.contracts",
  "offer.accesses",
] as const;
export type MeterName = (typeof meterNames)[number];

/** The most events one POST /v1/usage carries. */
export const MAX_USAGE_BATCH = 5000;

const namePattern = "^[a-z0-9]([-a-z0-9._/]{0,251}[a-z0-9])?$";
const name = (description?: string) =>
  Type.String({ pattern: namePattern, ...(description ? { description } : {}) });

const integer = (description: string) =>
  Type.String({ pattern: "^(0|[1-9][0-9]{0,37})$", maxLength: 38, description });

/** The meters a SandboxJob's usage is split by among its inputs (crds/src/revenue.ts). */
export const sharedMeters = ["sandbox.cpu_milliseconds", "sandbox.memory_byte_seconds"] as const;

/**
 * An event's quantity as one input's share of a SandboxJob's usage on the meter (revenue by
 * contribution, crds/src/revenue.ts). The job's total is split among its providers by
 * providerWeight of providersWeight, then each provider's part among its inputs by weight of
 * inputsWeight; the floors' remainder goes whole to the largest weight.
 */
export const UsageShareSchema = Type.Object(
  {
    job: Type.String({ minLength: 1, maxLength: 128, description: "The SandboxJob's uid" }),
    input: name("The input (spec.inputs[].name, main for spec.contractRef)"),
    basis: StringEnum(
      "What the share was weighed by: the space's spec.metering.revenueSharing, or Equal when the job read nothing",
      REVENUE_SHARING_RULES,
    ),
    weight: integer("The input's weight among its provider's inputs of the job (bytes, reads, or 1)"),
    inputsWeight: integer("The sum of the weights of the provider's inputs of the job"),
    providerWeight: integer("The provider's weight among the job's providers (the sum of its inputs', or 1)"),
    providersWeight: integer("The sum of the weights of the job's providers"),
    total: integer("The job's whole usage on the meter, of which quantity is the input's part"),
  },
  {
    additionalProperties: false,
    description:
      "Set when quantity is one input's share of a SandboxJob's usage (a job of several inputs); needs contract",
  },
);
export type UsageShare = Static<typeof UsageShareSchema>;

/** The share an input's event carries, from the split (one per meter: total is that meter's). */
export function usageShare(job: string, s: RevenueShare, total: bigint): UsageShare {
  return {
    job,
    input: s.input,
    basis: s.basis,
    weight: s.weight.toString(),
    inputsWeight: s.inputsWeight.toString(),
    providerWeight: s.providerWeight.toString(),
    providersWeight: s.providersWeight.toString(),
    total: total.toString(),
  };
}

export const UsageEventSchema = Type.Object(
  {
    specversion: Type.Unsafe<"1.0">({ type: "string", enum: ["1.0"] }),
    id: Type.String({ minLength: 1, maxLength: 256 }),
    source: Type.String({ minLength: 1, maxLength: 1024 }),
    type: Type.Unsafe<typeof usageEventType>({ type: "string", enum: [usageEventType] }),
    time: Type.String({ format: "date-time", description: "When the usage happened (RFC 3339)" }),
    subject: Type.Optional(Type.String({ maxLength: 1024 })),
    datacontenttype: Type.Optional(
      Type.Unsafe<"application/json">({ type: "string", enum: ["application/json"] }),
    ),
    data: Type.Object(
      {
        space: name(),
        participant: name("Who used (and pays)"),
        provider: Type.Optional(name("Whose data was used")),
        offer: Type.Optional(name("The data offer used")),
        contract: Type.Optional(
          name(
            "The DataContract (in the participant's namespace) the offer was used under; its price applies",
          ),
        ),
        meter: Type.Unsafe<MeterName>({ type: "string", enum: [...meterNames] }),
        // One schema with two types, not anyOf: ajv's type coercion must never turn a
        // big decimal string into a float. Integers up to 2^53-1, decimal strings beyond.
        quantity: Type.Unsafe<number | string>({
          type: ["integer", "string"],
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          pattern: "^(0|[1-9][0-9]{0,37})$",
          description: "Integer in the meter's base unit; a decimal string for values beyond 2^53",
        }),
        share: Type.Optional(UsageShareSchema),
      },
      {
        additionalProperties: false,
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
          {
            if: { properties: { share: true }, required: ["share"] },
            then: { properties: { contract: true }, required: ["contract"] },
          },
        ],
      },
    ),
  },
  {
    $id: "UsageEvent",
    description:
      "A CloudEvent 1.0 in structured JSON. Idempotent on (data.space, source, id): a replay returns the original " +
      "result; the same key with a different payload is rejected and flagged. Other spaces' events never collide.",
  },
);
/** A usage event as sent; CloudEvents extension attributes are allowed beside the declared ones. */
export type UsageEvent = Static<typeof UsageEventSchema> & { [extension: string]: unknown };

/** POST /v1/usage's body; the event is the shared schema UsageEvent (a component of the OpenAPI document). */
export const UsageBatchSchema = Type.Array(Type.Unsafe<UsageEvent>({ $ref: "UsageEvent#" }), {
  minItems: 1,
  maxItems: MAX_USAGE_BATCH,
});

export const UsageResultSchema = Type.Object({
  source: Type.String(),
  id: Type.String(),
  status: Type.Unsafe<"accepted" | "conflict">({ type: "string", enum: ["accepted", "conflict"] }),
  replay: Type.Boolean({ description: "Stored by an earlier request; this is the original result" }),
  receivedAt: Type.String({ format: "date-time" }),
  late: Type.Boolean({ description: "Its period was closed; billed as an adjustment in settlePeriod" }),
  settlePeriod: Type.Optional(Type.String({ format: "date" })),
  code: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});

export const UsageIngestResponseSchema = Type.Object({
  accepted: Type.Integer({ description: "Newly stored events" }),
  replayed: Type.Integer({ description: "Events stored before, answered with the original result" }),
  conflicts: Type.Integer({ description: "Same id, different payload: rejected and flagged" }),
  results: Type.Array(UsageResultSchema),
});
export type UsageIngestResponse = Static<typeof UsageIngestResponseSchema>;
