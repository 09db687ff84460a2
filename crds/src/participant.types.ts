// Participant: an organisation that joins one DataSpace as a provider, a
// consumer or both. Reconciled into the namespace <space>--<participant>, a
// bucket with a quota, network policies, RBAC and a client certificate.
import { Type, type Static } from "@sinclair/typebox";
import {
  AGE_COLUMN,
  API_VERSION,
  Bool,
  Conditions,
  DateTime,
  DNS1123_LABEL,
  DnsLabel,
  GROUP,
  Immutable,
  Int,
  LatestEvidence,
  MapList,
  Obj,
  ObservedGeneration,
  Pattern,
  Quantity,
  READY_COLUMN,
  RegionCode,
  RootSchema,
  SetOf,
  Str,
  tenantNameRule,
  StringEnum,
  VERSION,
  type Resource,
  type ResourceInfo,
} from "./common.types.ts";

export const PARTICIPANT_ROLES = ["provider", "consumer"] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];
export const PARTICIPANT_PHASES = [
  "Pending",
  "PendingApproval",
  "Provisioning",
  "Active",
  "Suspended",
  "Failed",
  "Terminating",
] as const;
export type ParticipantPhase = (typeof PARTICIPANT_PHASES)[number];

export const ParticipantSpecSchema = Obj("Who the participant is and what it may do in the space.", {
  dataSpace: DnsLabel("Name of the DataSpace the participant belongs to. Immutable.", {
    "x-kubernetes-validations": [Immutable("dataSpace")],
  }),
  displayName: Type.Optional(
    Str("Human-readable name shown in the catalog; defaults to the legal name.", 128),
  ),
  organization: Obj("The legal entity behind the participant, as verified at onboarding.", {
    legalName: Str("Registered legal name of the organisation.", 256, { minLength: 1 }),
    registrationId: Str(
      "Official registration identifier, for example the unified social credit code (CN), LEI, or VAT number.",
      64,
      { minLength: 1 },
    ),
    region: RegionCode("Country or region where the organisation is registered."),
    contactEmail: Type.Optional(
      Str("Address for notices about the space, contracts and statements.", 254, { format: "email" }),
    ),
  }),
  identity: Obj(
    "How the participant proves who it is. Set exactly one of certificate, oidc or did.",
    {
      certificate: Type.Optional(
        Obj("A client certificate issued by the space CA (or a trust anchor) with this subject.", {
          subject: Str(
            "Distinguished name of the certificate subject, for example CN=acme,O=Acme Ltd,C=CN.",
            1024,
            {
              minLength: 1,
            },
          ),
          issuedBy: Type.Optional(
            DnsLabel(
              "Name of the trust anchor (spec.trustAnchors.caBundles or trustedSpaces) that issued an existing certificate. Unset means the space CA issues one.",
            ),
          ),
        }),
      ),
      oidc: Type.Optional(
        Obj("An identity from an OpenID Connect provider.", {
          issuer: Str("Issuer URL, https only.", 512, {
            "x-kubernetes-validations": [
              { rule: "self.startsWith('https://') && isURL(self)", message: "issuer must be an https URL" },
            ],
          }),
          subject: Str("The sub claim that identifies the participant at the issuer.", 255, { minLength: 1 }),
        }),
      ),
      did: Type.Optional(
        Pattern(
          "A decentralised identifier, for example did:web:acme.example.",
          "^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$",
          512,
          "a DID such as did:web:acme.example",
        ),
      ),
    },
    {
      "x-kubernetes-validations": [
        {
          rule: "(has(self.certificate) ? 1 : 0) + (has(self.oidc) ? 1 : 0) + (has(self.did) ? 1 : 0) == 1",
          message: "exactly one of certificate, oidc or did must be set",
        },
      ],
    },
  ),
  roles: SetOf(
    "What the participant does in the space: provider publishes DataOffers, consumer makes DataContracts and runs SandboxJobs.",
    StringEnum("A role.", PARTICIPANT_ROLES),
    2,
    { minItems: 1 },
  ),
  admins: Type.Optional(
    MapList(
      "Users and groups who administer the participant's namespace (they get the tds-participant-admin role there).",
      Obj("A Kubernetes user or group.", {
        kind: StringEnum("User or Group.", ["User", "Group"] as const),
        name: Str("User or group name as the cluster's authenticator reports it.", 253, { minLength: 1 }),
      }),
      ["kind", "name"],
      32,
    ),
  ),
  quota: Type.Optional(
    Obj(
      "Overrides of the space's per-participant limits. The operator rejects values above the space maximum (status condition Ready=False, reason QuotaExceedsSpaceMaximum).",
      {
        storage: Type.Optional(Quantity("Storage quota of the participant's bucket.")),
        maxConcurrentSandboxJobs: Type.Optional(
          Int("How many SandboxJobs may run at once.", { minimum: 0, maximum: 1000 }),
        ),
        sandboxCPU: Type.Optional(Quantity("Total CPU of the participant's running SandboxJobs.")),
        sandboxMemory: Type.Optional(Quantity("Total memory of the participant's running SandboxJobs.")),
      },
    ),
  ),
  approved: Type.Optional(
    Bool(
      "In a space with admission mode Manual, the participant is onboarded only once a space operator sets this to true. Ignored in Automatic mode.",
      { default: false },
    ),
  ),
  suspended: Type.Optional(
    Bool(
      "Suspends the participant: its contracts stop granting access, its SandboxJobs are not started, and its offers leave the catalog. Its data is kept.",
      { default: false },
    ),
  ),
});

export const ParticipantStatusSchema = Obj("What the operator observed and did.", {
  observedGeneration: ObservedGeneration(),
  conditions: Conditions(),
  phase: Type.Optional(StringEnum("Lifecycle phase of the participant.", PARTICIPANT_PHASES)),
  namespace: Type.Optional(Str("The participant's namespace, <space>--<participant>.", 63)),
  bucket: Type.Optional(Str("Name of the participant's storage bucket.", 63)),
  storageCredentialsSecret: Type.Optional(
    Str("Secret in the participant's namespace with the bucket credentials.", 253),
  ),
  bytesStored: Type.Optional(Int("Bytes stored in the bucket at the last measurement.", { minimum: 0 })),
  storageQuotaBytes: Type.Optional(Int("The effective storage quota, in bytes.", { minimum: 0 })),
  certificate: Type.Optional(
    Obj("The participant's client certificate.", {
      secretName: Str(
        "Secret in the participant's namespace that holds the certificate and key (kubernetes.io/tls).",
        253,
      ),
      serial: Type.Optional(Str("Serial number of the certificate, hex.", 64)),
      notAfter: Type.Optional(DateTime("When the certificate expires.")),
    }),
  ),
  latestEvidence: LatestEvidence(),
});

export const ParticipantSchema = RootSchema(
  "An organisation in a data space: a provider, a consumer or both, with a verified identity, its own namespace, bucket and certificate.",
  ParticipantSpecSchema,
  ParticipantStatusSchema,
  Type.Object({
    name: Type.Optional(
      Type.String({
        description:
          "Name of the participant: a DNS-1123 label; with the space name it forms the namespace <space>--<participant>.",
        pattern: DNS1123_LABEL,
        maxLength: 59,
      }),
    ),
  }),
  {
    "x-kubernetes-validations": [
      tenantNameRule("Participant"),
      {
        // The participant namespace <space>--<participant> is a DNS label of at most 63 characters.
        rule: "size(self.metadata.name) + size(self.spec.dataSpace) <= 61",
        messageExpression:
          "'the namespace \"' + self.spec.dataSpace + '--' + self.metadata.name + '\" would be longer than 63 characters; shorten the participant name'",
        fieldPath: ".metadata.name",
      },
    ],
  },
);

export type ParticipantSpec = Static<typeof ParticipantSpecSchema>;
export type ParticipantStatus = Static<typeof ParticipantStatusSchema>;
export type Participant = Resource<"Participant", ParticipantSpec, ParticipantStatus>;

export const participantResource = {
  group: GROUP,
  version: VERSION,
  apiVersion: API_VERSION,
  kind: "Participant",
  listKind: "ParticipantList",
  plural: "participants",
  singular: "participant",
  shortNames: ["ptc"],
  scope: "Cluster",
  description: ParticipantSchema.description ?? "",
  selectableFields: [".spec.dataSpace"],
  printerColumns: [
    { name: "Space", type: "string", jsonPath: ".spec.dataSpace", description: "The DataSpace" },
    { name: "Roles", type: "string", jsonPath: ".spec.roles", description: "Roles in the space" },
    {
      name: "Region",
      type: "string",
      jsonPath: ".spec.organization.region",
      description: "Region of the organisation",
      priority: 1,
    },
    {
      name: "Namespace",
      type: "string",
      jsonPath: ".status.namespace",
      description: "The participant namespace",
      priority: 1,
    },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Lifecycle phase" },
    READY_COLUMN,
    AGE_COLUMN,
  ],
} as const satisfies ResourceInfo<"Participant">;
