// Shared building blocks of the TDS API: the group and version, field
// constructors that always carry a description and the limits CEL needs to
// estimate its cost, and the types every kind reuses (conditions, quantities,
// regions, money, references, evidence pointers).
//
// Everything here is plain JSON Schema that Kubernetes accepts as a structural
// openAPIV3Schema: no $ref, no const, no patternProperties. Maps use
// additionalProperties, enums use `enum`, int-or-string uses
// x-kubernetes-int-or-string.
import { Type, type Static, type TSchema, type TUnsafe, type SchemaOptions } from "@sinclair/typebox";

export const GROUP = "tds.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
/** `kubectl get tds` lists every kind in this category. */
export const CATEGORY = "tds";

/** One `x-kubernetes-validations` rule. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  optionalOldSelf?: boolean;
}

/** Options every field takes: the description is required, the rest is JSON Schema. */
export type FieldOptions = SchemaOptions & { "x-kubernetes-validations"?: ValidationRule[] };

// ---------------------------------------------------------------------------
// Patterns. Each is anchored; CEL and JSON Schema use RE2 / ECMA syntax that
// agree on these.

/** DNS-1123 label: namespaces, DataSpace and Participant names. */
export const DNS1123_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/**
 * The name of a tenant (DataSpace, Participant): a DNS-1123 label in which
 * "-" never repeats. "--" is the separator of participant namespaces,
 * <space>--<participant>, so a name without it makes every such namespace
 * split one way only: no two tenants can share a namespace or a bucket.
 */
export const TENANT_NAME = "^[a-z0-9]+(-[a-z0-9]+)*$";
/**
 * DataSpace names that are refused: their control namespace tds-<name> is the
 * platform's own (tds-system, where the chart installs the operator).
 */
export const RESERVED_SPACE_NAMES = ["system"] as const;
/** DataSpace name prefixes that are refused: tds-sbx-<hash> are the sandbox namespaces. */
export const RESERVED_SPACE_PREFIXES = ["sbx-"] as const;
/** DNS-1123 subdomain: most object names. */
export const DNS1123_SUBDOMAIN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/** ISO 3166-1 alpha-2 country code, optionally with an ISO 3166-2 subdivision: CN, CN-SH, DE-BY. */
export const REGION_CODE = "^[A-Z]{2}(-[A-Z0-9]{1,3})?$";
/** ISO 4217 alphabetic currency code: CNY, EUR, USD. */
export const CURRENCY_CODE = "^[A-Z]{3}$";
/** A non-negative exact decimal amount with at most 6 fractional digits: "0", "12.50", "0.0125". */
export const DECIMAL_AMOUNT = "^(0|[1-9][0-9]{0,14})(\\.[0-9]{1,6})?$";
/** A non-negative Kubernetes resource quantity, as in Pod resources: "500m", "2", "4Gi", "1.5T". */
export const QUANTITY =
  "^\\+?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";
/** The largest quantity any TDS field accepts: 8×10^18, below 2^63 (8Ei is 2^63 itself, which Kubernetes saturates). */
export const MAX_QUANTITY = "8E";
/** A condition reason: CamelCase, as in metav1.Condition. */
export const CONDITION_REASON = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$";
/** A condition type: CamelCase, optionally prefixed by a DNS subdomain, as in metav1.Condition. */
export const CONDITION_TYPE =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$";
/** A lowercase token such as a data category or purpose: "telemetry", "predictive-maintenance", "industrial.telemetry". */
export const TOKEN = "^[a-z0-9]+([-.][a-z0-9]+)*$";
/** A lowercase SHA-256 digest in hex. */
export const SHA256_HEX = "^[a-f0-9]{64}$";

// ---------------------------------------------------------------------------
// Field constructors. The description is the first argument so no field can
// be declared without one; kubectl explain and docs/api.md show it.

/** A string with a required description and maxLength (CEL cost estimation needs a bound). */
export function Str(description: string, maxLength: number, options: FieldOptions = {}) {
  return Type.String({ description, maxLength, ...options });
}

/** A single-quoted CEL string literal. */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** A string that must match `pattern`; `message` explains the format in the CEL error. */
export function Pattern(
  description: string,
  pattern: string,
  maxLength: number,
  formatName: string,
  options: FieldOptions = {},
) {
  // A CEL rule instead of `pattern`: the API server then names the expected
  // format in words (and still shows the field path and the value) instead of
  // printing a regular expression. The pattern constants are exported for
  // clients that validate before calling the API server.
  return Type.String({
    description,
    maxLength,
    ...options,
    "x-kubernetes-validations": [
      {
        rule: `self.matches(${celString(pattern)})`,
        message: `must be ${formatName}`,
      },
      ...(options["x-kubernetes-validations"] ?? []),
    ],
  });
}

/** A string enum. TypeBox unions of literals produce `const`, which Kubernetes does not accept. */
export function StringEnum<const T extends readonly string[]>(
  description: string,
  values: T,
  options: FieldOptions = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], description, ...options });
}

export function Bool(description: string, options: FieldOptions = {}) {
  return Type.Boolean({ description, ...options });
}

export function Int(
  description: string,
  options: FieldOptions & { minimum?: number; maximum?: number } = {},
) {
  return Type.Integer({ description, format: "int64", ...options });
}

/** A string-to-string map (labels, selectors). */
export function StringMap(
  description: string,
  maxProperties: number,
  options: FieldOptions = {},
): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({
    type: "object",
    description,
    maxProperties,
    additionalProperties: { type: "string", maxLength: 253 },
    ...options,
  });
}

/** A list with a required description and maxItems. */
export function List<T extends TSchema>(
  description: string,
  items: T,
  maxItems: number,
  options: FieldOptions & { minItems?: number } = {},
) {
  return Type.Array(items, { description, maxItems, ...options });
}

/** A list of unique scalars (x-kubernetes-list-type: set). */
export function SetOf<T extends TSchema>(
  description: string,
  items: T,
  maxItems: number,
  options: FieldOptions & { minItems?: number } = {},
) {
  return Type.Array(items, { description, maxItems, "x-kubernetes-list-type": "set", ...options });
}

/** A list of objects keyed by one or more fields (x-kubernetes-list-type: map). */
export function MapList<T extends TSchema>(
  description: string,
  items: T,
  keys: readonly string[],
  maxItems: number,
  options: FieldOptions & { minItems?: number } = {},
) {
  return Type.Array(items, {
    description,
    maxItems,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": [...keys],
    ...options,
  });
}

/** An object with a required description. */
export function Obj<T extends Parameters<typeof Type.Object>[0]>(
  description: string,
  properties: T,
  options: FieldOptions = {},
) {
  return Type.Object(properties, { description, ...options });
}

// ---------------------------------------------------------------------------
// Value types.

export function DnsLabel(description: string, options: FieldOptions = {}) {
  return Pattern(
    description,
    DNS1123_LABEL,
    63,
    "a DNS-1123 label (lowercase letters, digits and '-')",
    options,
  );
}

export function DnsSubdomain(description: string, options: FieldOptions = {}) {
  return Pattern(
    description,
    DNS1123_SUBDOMAIN,
    253,
    "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')",
    options,
  );
}

/** An ISO 3166-1 alpha-2 region, optionally with an ISO 3166-2 subdivision. */
export function RegionCode(description: string, options: FieldOptions = {}) {
  return Pattern(
    `${description} An ISO 3166-1 alpha-2 country or region code, optionally followed by an ISO 3166-2 subdivision (for example CN, CN-SH, DE-BY).`,
    REGION_CODE,
    // Longer than any code, so a country name gets the format message rather than "Too long".
    16,
    "an ISO 3166-1 alpha-2 code with an optional ISO 3166-2 subdivision, such as CN or CN-SH",
    options,
  );
}

export function CurrencyCode(description: string, options: FieldOptions = {}) {
  return Pattern(
    `${description} An ISO 4217 alphabetic code (for example CNY, EUR, USD).`,
    CURRENCY_CODE,
    16,
    "an ISO 4217 currency code of three capital letters, such as CNY",
    options,
  );
}

/** Money is never a float: an exact decimal string in the space's currency. */
export function DecimalAmount(description: string, options: FieldOptions = {}) {
  return Pattern(
    `${description} An exact decimal string with at most 6 fractional digits (for example "0.0125"); never a float.`,
    DECIMAL_AMOUNT,
    22,
    'a non-negative decimal string with at most 6 fractional digits, such as "0.0125"',
    options,
  );
}

export function Token(description: string, options: FieldOptions = {}) {
  return Pattern(
    description,
    TOKEN,
    63,
    "lowercase letters and digits separated by single '-' or '.'",
    options,
  );
}

/** A Kubernetes resource quantity (integer or string), as in Pod resources. */
export function Quantity(description: string, options: FieldOptions = {}): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    description: `${description} A Kubernetes quantity (for example 500m, 2, 4Gi).`,
    anyOf: [{ type: "integer" }, { type: "string" }],
    maxLength: 64,
    "x-kubernetes-int-or-string": true,
    ...options,
    "x-kubernetes-validations": [
      {
        // Amounts of resources are never negative. A rule rather than
        // `pattern` so the message names the format in words.
        rule: `type(self) == int ? self >= 0 : self.matches(${celString(QUANTITY)})`,
        message: "must be a non-negative Kubernetes quantity such as 500m, 2 or 4Gi",
      },
      {
        // 1e1000 matches the format but is no amount of anything: every
        // quantity fits in 63 bits, as Kubernetes' own resource values do.
        rule: `type(self) == int || !self.matches(${celString(QUANTITY)}) || quantity(self).compareTo(quantity(${celString(MAX_QUANTITY)})) <= 0`,
        message: `must be at most ${MAX_QUANTITY}`,
      },
      ...(options["x-kubernetes-validations"] ?? []),
    ],
  });
}

/** An RFC 3339 timestamp. CEL sees it as a timestamp, so windows compare directly. */
export function DateTime(description: string, options: FieldOptions = {}) {
  return Type.String({
    description: `${description} RFC 3339, for example 2026-01-01T00:00:00Z.`,
    format: "date-time",
    maxLength: 64,
    ...options,
  });
}

/**
 * The root-level rule that keeps a tenant's metadata.name free of "--" (see
 * TENANT_NAME); `kind` names it in the message.
 */
export function tenantNameRule(kind: string): ValidationRule {
  return {
    rule: `self.metadata.name.matches(${celString(TENANT_NAME)})`,
    messageExpression: `'${kind} name "' + self.metadata.name + '" must not contain "--": it separates the space and the participant in namespace names'`,
    fieldPath: ".metadata.name",
  };
}

export function Immutable(what: string): ValidationRule {
  return { rule: "self == oldSelf", message: `${what} is immutable` };
}

// ---------------------------------------------------------------------------
// Shared object types.

export const ConditionSchema = Obj(
  "A condition of the resource, as in metav1.Condition. Types are Ready plus kind-specific ones; reasons are CamelCase.",
  {
    type: Type.String({
      description: "Type of the condition in CamelCase, for example Ready.",
      pattern: CONDITION_TYPE,
      maxLength: 316,
    }),
    status: StringEnum("Status of the condition: True, False or Unknown.", [
      "True",
      "False",
      "Unknown",
    ] as const),
    reason: Type.String({
      description: "A CamelCase code for the last transition, stable enough for automation to match on.",
      pattern: CONDITION_REASON,
      minLength: 1,
      maxLength: 1024,
    }),
    message: Str("A human-readable explanation of the last transition.", 32768),
    lastTransitionTime: DateTime("When the condition last changed status."),
    observedGeneration: Type.Optional(
      Int("The metadata.generation the condition was computed from.", { minimum: 0 }),
    ),
  },
);
export type Condition = Static<typeof ConditionSchema>;

export function Conditions() {
  return Type.Optional(
    MapList(
      "Current conditions of the resource. Ready summarises the others.",
      ConditionSchema,
      ["type"],
      16,
    ),
  );
}

export function ObservedGeneration() {
  return Type.Optional(
    Int(
      "The metadata.generation the controller last acted on. Compare with metadata.generation to tell whether the status is current.",
      {
        minimum: 0,
      },
    ),
  );
}

/** A pointer into the space's tamper-evident evidence log. */
export const EvidencePointerSchema = Obj(
  "A pointer to an entry of the space's evidence log. The entry's inclusion proof is served by the dashboard API.",
  {
    logIndex: Int("Zero-based index of the entry in the space's evidence log.", { minimum: 0 }),
    leafHash: Pattern(
      "SHA-256 leaf hash of the entry, lowercase hex.",
      SHA256_HEX,
      64,
      "64 lowercase hexadecimal digits",
    ),
    recordedAt: Type.Optional(DateTime("When the entry was appended.")),
  },
);
export type EvidencePointer = Static<typeof EvidencePointerSchema>;

export function LatestEvidence() {
  return Type.Optional(
    Obj(
      "The most recent entry of the space's evidence log about this resource; its inclusion proof is served by the dashboard API.",
      EvidencePointerSchema.properties,
    ),
  );
}

/** A validity window; used by offers and contracts. */
export function ValidityWindow(description: string, requireEnd: boolean) {
  const notAfter = DateTime("End of the window (exclusive).");
  return Obj(
    description,
    {
      notBefore: Type.Optional(DateTime("Start of the window. Unset means from creation.")),
      ...(requireEnd ? { notAfter } : { notAfter: Type.Optional(notAfter) }),
    },
    {
      "x-kubernetes-validations": [
        {
          rule: "!has(self.notBefore) || !has(self.notAfter) || self.notAfter > self.notBefore",
          message: "notAfter must be later than notBefore",
          fieldPath: ".notAfter",
        },
      ],
    },
  );
}

/** CPU and memory for a sandbox. */
export function ResourceAmounts(description: string) {
  return Obj(description, {
    cpu: Type.Optional(Quantity("CPU cores.")),
    memory: Type.Optional(Quantity("Memory in bytes.")),
  });
}

/** The subset of ObjectMeta that TDS code reads and writes; compatible with client-node's V1ObjectMeta. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A TDS custom resource. */
export interface Resource<K extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** Names, scope and printer columns of one kind: what the generator needs beside the schema. */
export interface ResourceInfo<K extends string = string> {
  group: typeof GROUP;
  version: typeof VERSION;
  apiVersion: typeof API_VERSION;
  kind: K;
  plural: string;
  singular: string;
  listKind: `${K}List`;
  shortNames: readonly string[];
  scope: "Cluster" | "Namespaced";
  /** One sentence for the CRD and docs/api.md. */
  description: string;
  printerColumns: readonly PrinterColumn[];
  /** Fields usable in field selectors (`kubectl get --field-selector`, informers). */
  selectableFields?: readonly string[];
}

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

export const READY_COLUMN: PrinterColumn = {
  name: "Ready",
  type: "string",
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: "Status of the Ready condition",
};
export const AGE_COLUMN: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "Time since the resource was created",
};

/** The root openAPIV3Schema of a kind: apiVersion, kind, metadata, spec, status. */
export function RootSchema<S extends TSchema, St extends TSchema>(
  description: string,
  spec: S,
  status: St,
  metadata: TSchema = Type.Unsafe({ type: "object" }),
  options: FieldOptions = {},
) {
  return Type.Object(
    {
      apiVersion: Type.Optional(
        Str(
          "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
          253,
        ),
      ),
      kind: Type.Optional(
        Str(
          "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
          63,
        ),
      ),
      metadata: Type.Optional(metadata),
      spec,
      status: Type.Optional(status),
    },
    { description, ...options },
  );
}
