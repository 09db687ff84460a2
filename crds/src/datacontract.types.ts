// DataContract: a consumer's request to use a DataOffer for a purpose. The
// operator decides it against the offer's policy and the space's rules, and
// records the agreement (or the rejection and its reason), the grant and its
// expiry or revocation.
import { Type, type Static } from "@sinclair/typebox";
import {
  AGE_COLUMN,
  API_VERSION,
  Bool,
  Conditions,
  DateTime,
  DnsLabel,
  DnsSubdomain,
  GROUP,
  Immutable,
  Int,
  LatestEvidence,
  MapList,
  Obj,
  ObservedGeneration,
  READY_COLUMN,
  RootSchema,
  Str,
  StringEnum,
  Token,
  VERSION,
  type Resource,
  ValidityWindow,
  type ResourceInfo,
} from "./common.types.ts";

export const CONTRACT_STATES = [
  "Requested",
  "Agreed",
  "Rejected",
  "Active",
  "Suspended",
  "Expired",
  "Revoked",
] as const;
export type ContractState = (typeof CONTRACT_STATES)[number];

export const DataContractSpecSchema = Obj("What the consumer asks for.", {
  offerRef: Obj(
    "The DataOffer, in the provider's participant namespace. Immutable: ask for another offer with a new contract.",
    {
      namespace: DnsLabel("Namespace of the offer, <space>--<provider>."),
      name: DnsSubdomain("Name of the offer."),
    },
    { "x-kubernetes-validations": [Immutable("offerRef")] },
  ),
  purpose: Token("Why the data is used; one of the offer's spec.policy.purposes. Immutable.", {
    "x-kubernetes-validations": [Immutable("purpose")],
  }),
  requestedValidity: Type.Optional(
    ValidityWindow("When the consumer wants to use the data. Unset means the offer's validity window.", true),
  ),
  requestedAccesses: Type.Optional(
    Int("How many accesses the consumer needs; at most the offer's maxAccesses.", { minimum: 1 }),
  ),
  justification: Type.Optional(Str("Free text for a provider who approves contracts manually.", 4096)),
});

export const DataContractStatusSchema = Obj("The decision and the state of the agreement.", {
  observedGeneration: ObservedGeneration(),
  conditions: Conditions(),
  state: Type.Optional(
    StringEnum(
      "Requested: awaiting a decision. Agreed: accepted, not yet valid. Rejected: see rejection. Active: access is granted. Suspended: a change of the space's rules (or the offer's policy) no longer allows it; access stops until the provider reinstates it. Expired: the validity window ended or the accesses ran out. Revoked: the provider or the space operator withdrew it.",
      CONTRACT_STATES,
    ),
  ),
  agreementId: Type.Optional(Str("Identifier of the agreement, recorded in the evidence log.", 128)),
  agreedAt: Type.Optional(DateTime("When the contract was agreed.")),
  terms: Type.Optional(
    Obj(
      "The terms agreed, fixed when the contract is agreed. The gateway enforces these (and status.validity), never the live spec or offer.",
      {
        maxAccesses: Type.Optional(
          Int(
            "The agreed maximum number of accesses: the request, else the offer's maximum at agreement. Unset means no limit.",
            { minimum: 1 },
          ),
        ),
      },
    ),
  ),
  validity: Type.Optional(
    Obj("The agreed validity window.", {
      notBefore: Type.Optional(DateTime("Start of the agreed window.")),
      notAfter: Type.Optional(DateTime("End of the agreed window.")),
    }),
  ),
  rejection: Type.Optional(
    Obj("Why the contract was rejected.", {
      reason: Str(
        "A CamelCase code, for example PurposeNotPermitted, ConsumerNotAllowed, CrossBorderForbidden.",
        128,
      ),
      message: Str("A sentence for the consumer.", 4096),
    }),
  ),
  revocation: Type.Optional(
    Obj("Who revoked the contract and why.", {
      revokedBy: Str("The provider or the space operator.", 253),
      reason: Str("Why.", 4096),
      revokedAt: DateTime("When."),
    }),
  ),
  credentialsSecret: Type.Optional(
    Str("Secret in the contract's namespace with the gateway credentials for this contract.", 253),
  ),
  credentialsDigest: Type.Optional(
    Str(
      "SHA-256 of the token in the credentials Secret, as sha256:<hex>. The gateway authenticates the token against it, so it never reads the Secret; the token has 256 random bits, so the digest reveals nothing usable.",
      71,
      { pattern: "^sha256:[0-9a-f]{64}$" },
    ),
  ),
  suspension: Type.Optional(
    Obj(
      "Why the contract is Suspended: the rule of the space (or of the offer's policy) that no longer allows it.",
      {
        rule: Str("The CamelCase rule that failed, as the policy engine names it.", 128),
        message: Str("What the rule found.", 1024),
        suspendedAt: DateTime("When the contract was suspended."),
      },
    ),
  ),
  crossBorderExport: Type.Optional(
    Bool(
      "The consumer is outside the space's home region and the transfer is allowed: the agreement is recorded as a cross-border export.",
    ),
  ),
  transitions: Type.Optional(
    Int("Number of state transitions so far; each has an entry in history and in the evidence log.", {
      minimum: 0,
    }),
  ),
  history: Type.Optional(
    MapList(
      "Every state transition (and a cross-border export), oldest first, with its evidence-log entry.",
      Obj("One transition.", {
        action: Str("What happened, for example contract.agreed or contract.cross-border-export.", 64),
        state: Type.Optional(StringEnum("The state entered.", CONTRACT_STATES)),
        reason: Str(
          "The CamelCase reason of the transition; for a suspension, the rule of the space that no longer allows the contract.",
          128,
        ),
        message: Type.Optional(Str("What the rule found, for a suspension or a reinstatement.", 1024)),
        time: DateTime("When the transition happened."),
        eventId: Str("Idempotency key of the evidence-log entry, derived from the contract uid.", 200),
        logIndex: Type.Optional(
          Int("Index of the entry in the space's evidence log; unset while the entry is pending.", {
            minimum: 0,
          }),
        ),
      }),
      ["action"],
      16,
    ),
  ),
  accesses: Type.Optional(Int("Accesses made so far.", { minimum: 0 })),
  transfers: Type.Optional(Int("Completed data transfers through the gateway.", { minimum: 0 })),
  bytesTransferred: Type.Optional(Int("Bytes transferred through the gateway so far.", { minimum: 0 })),
  latestEvidence: LatestEvidence(),
});

export const DataContractSchema = RootSchema(
  "A consumer's contract to use a DataOffer for a purpose: requested, then agreed or rejected, active, and finally expired or revoked.",
  DataContractSpecSchema,
  DataContractStatusSchema,
  undefined,
  {
    "x-kubernetes-validations": [
      {
        // Once agreed, what was agreed stays: the gateway enforces status.terms
        // and status.validity, and the spec they were decided from is frozen.
        rule: "!has(oldSelf.status) || !has(oldSelf.status.agreementId) || self.spec == oldSelf.spec",
        message:
          "spec is frozen once the contract is agreed (status.agreementId is set): request new terms with a new DataContract",
        fieldPath: ".spec",
      },
    ],
  },
);

export type DataContractSpec = Static<typeof DataContractSpecSchema>;
export type DataContractStatus = Static<typeof DataContractStatusSchema>;
export type DataContract = Resource<"DataContract", DataContractSpec, DataContractStatus>;

export const dataContractResource = {
  group: GROUP,
  version: VERSION,
  apiVersion: API_VERSION,
  kind: "DataContract",
  listKind: "DataContractList",
  plural: "datacontracts",
  singular: "datacontract",
  shortNames: ["dct"],
  scope: "Namespaced",
  description: DataContractSchema.description ?? "",
  selectableFields: [".spec.offerRef.namespace", ".spec.offerRef.name"],
  printerColumns: [
    { name: "Offer", type: "string", jsonPath: ".spec.offerRef.name", description: "The DataOffer" },
    {
      name: "Provider",
      type: "string",
      jsonPath: ".spec.offerRef.namespace",
      description: "Namespace of the offer",
      priority: 1,
    },
    { name: "Purpose", type: "string", jsonPath: ".spec.purpose", description: "Purpose", priority: 1 },
    { name: "State", type: "string", jsonPath: ".status.state", description: "Contract state" },
    { name: "Agreement", type: "string", jsonPath: ".status.agreementId", description: "Agreement id" },
    { ...READY_COLUMN, priority: 1 },
    AGE_COLUMN,
  ],
} as const satisfies ResourceInfo<"DataContract">;
