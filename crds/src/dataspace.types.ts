// DataSpace: a trusted data space, declared by its space operator. It holds
// the rules every participant agrees to: admission, trust anchors,
// classification levels and their default policies, cross-border rules,
// storage, sandbox limits, the price sheet and evidence settings.
import { Type, type Static } from "@sinclair/typebox";
import {
  AGE_COLUMN,
  API_VERSION,
  Bool,
  Conditions,
  celString,
  CurrencyCode,
  DateTime,
  DecimalAmount,
  DNS1123_LABEL,
  DnsLabel,
  DnsSubdomain,
  GROUP,
  Immutable,
  Int,
  LatestEvidence,
  MapList,
  Obj,
  ObservedGeneration,
  Quantity,
  READY_COLUMN,
  RegionCode,
  RESERVED_SPACE_NAMES,
  RESERVED_SPACE_PREFIXES,
  TENANT_NAME,
  ResourceAmounts,
  RootSchema,
  tenantNameRule,
  SetOf,
  Str,
  StringEnum,
  Token,
  VERSION,
  type Resource,
  type ResourceInfo,
} from "./common.types.ts";
import { RiskRulesSchema } from "./risk.types.ts";

export const SPACE_TYPES = ["Enterprise", "Industry", "City", "Personal", "CrossBorder"] as const;
export const ADMISSION_MODES = ["Manual", "Automatic"] as const;
export const IDENTITY_METHODS = ["Certificate", "OIDC", "DID"] as const;
export const ACCESS_MODES = ["download", "computeOnly"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];
export const CROSS_BORDER_TRANSFER = ["Allowed", "RequiresApproval", "Forbidden"] as const;
export const BILLING_PERIODS = ["Monthly", "Quarterly"] as const;
export const REVENUE_SHARING_RULES = ["ProportionalToUsage", "ProportionalToAccesses", "Equal"] as const;
export const STORAGE_DRIVERS = ["S3"] as const;
export const KEY_ALGORITHMS = ["ECDSAP256", "ECDSAP384", "Ed25519"] as const;

/** The four levels of the national classification scheme, used when a space lists none. */
export const DEFAULT_CLASSIFICATION_LEVELS = [
  {
    name: "public",
    rank: 0,
    description: "Open data; no restriction beyond the offer's own policy.",
    defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Allowed" },
  },
  {
    name: "internal",
    rank: 1,
    description: "Data for the participants of the space.",
    defaultPolicy: {
      allowedAccessModes: ["download", "computeOnly"],
      crossBorderTransfer: "RequiresApproval",
    },
  },
  {
    name: "important",
    rank: 2,
    description: "Important data: leaves the provider only through a contract and stays in the home region.",
    defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Forbidden" },
  },
  {
    name: "core",
    rank: 3,
    description: "Core data: used only inside sandboxes, never downloaded or exported.",
    defaultPolicy: { allowedAccessModes: ["computeOnly"], crossBorderTransfer: "Forbidden" },
  },
] as const;

const ClassificationLevel = Obj(
  "A classification level and the default policy that offers at this level get.",
  {
    name: DnsLabel("Name of the level, for example public, internal, important or core."),
    rank: Int("Sensitivity of the level; higher is more sensitive. Ranks are unique within the space.", {
      minimum: 0,
      maximum: 100,
    }),
    description: Type.Optional(Str("What data belongs at this level.", 1024)),
    defaultPolicy: Obj(
      "The policy every offer at this level is held to. An offer can be stricter, never looser.",
      {
        allowedAccessModes: SetOf(
          "Access modes an offer at this level may use. download lets consumers fetch the data through the metered gateway; computeOnly allows only SandboxJobs next to the data.",
          StringEnum("An access mode.", ACCESS_MODES),
          2,
          { minItems: 1 },
        ),
        crossBorderTransfer: Type.Optional(
          StringEnum(
            "Whether data at this level may be used by a consumer outside the home region: Allowed, RequiresApproval (the space operator approves each contract) or Forbidden.",
            CROSS_BORDER_TRANSFER,
            { default: "Forbidden" },
          ),
        ),
        maxContractDurationSeconds: Type.Optional(
          Int(
            "Longest validity a contract for data at this level may have, in seconds. Unset means no limit.",
            {
              minimum: 60,
            },
          ),
        ),
        requireProviderApproval: Type.Optional(
          Bool("Whether the provider must approve each contract for data at this level.", { default: false }),
        ),
      },
    ),
  },
);

const NegativeListEntry = Obj(
  "A data category that must not be transferred to the listed destination regions (the export negative list).",
  {
    dataCategory: Token("Data category, as in DataOffer spec.dataCategory, for example geospatial.survey."),
    destinationRegions: Type.Optional(
      SetOf(
        "Destination regions the category must not go to. Empty or unset means every region outside the home region.",
        RegionCode("A destination region."),
        250,
      ),
    ),
    reason: Type.Optional(Str("Why the entry exists, for example the regulation it implements.", 1024)),
  },
);

const ResourceLimits = ResourceAmounts("CPU and memory.");

/** A key of a Secret in the space's control namespace tds-<space>. */
function DspSecretRef(description: string) {
  return Obj(description, {
    name: DnsSubdomain("Name of the Secret in tds-<space>."),
    key: Str("Key in the Secret's data.", 253, { minLength: 1, pattern: "^[-._a-zA-Z0-9]+$" }),
  });
}

export const DataSpaceSpecSchema = Obj("The rules of the data space.", {
  displayName: Str("Human-readable name of the space, shown in the catalog and statements.", 128),
  description: Type.Optional(Str("What the space is for and who takes part.", 4096)),
  spaceType: Type.Optional(
    StringEnum(
      "The kind of space: Enterprise, Industry, City, Personal (consent-based) or CrossBorder. CrossBorder spaces enforce the negative list on every transfer.",
      SPACE_TYPES,
      { default: "Industry" },
    ),
  ),
  admission: Type.Optional(
    Obj(
      "How participants join the space.",
      {
        mode: Type.Optional(
          StringEnum(
            "Manual: a Participant is onboarded only after a space operator sets its spec.approved to true. Automatic: every Participant with a verified identity is onboarded.",
            ADMISSION_MODES,
            { default: "Manual" },
          ),
        ),
        allowedIdentityMethods: Type.Optional(
          SetOf(
            "Identity methods a participant may use: Certificate (issued by the space CA or a trust anchor), OIDC, DID.",
            StringEnum("An identity method.", IDENTITY_METHODS),
            3,
            { minItems: 1, default: ["Certificate", "OIDC", "DID"] },
          ),
        ),
      },
      { default: {} },
    ),
  ),
  trustAnchors: Type.Optional(
    Obj("Who else the space trusts to vouch for a participant's identity.", {
      caBundles: Type.Optional(
        MapList(
          "PEM certificate authority bundles whose client certificates identify participants, besides the space's own CA.",
          Obj("A named CA bundle.", {
            name: DnsLabel("Name of the bundle, unique within the space."),
            pem: Str("One or more PEM-encoded CA certificates.", 65536, {
              "x-kubernetes-validations": [
                {
                  rule: "self.contains('-----BEGIN CERTIFICATE-----')",
                  message: "must contain at least one PEM certificate",
                },
              ],
            }),
          }),
          ["name"],
          16,
        ),
      ),
      trustedSpaces: Type.Optional(
        MapList(
          "Other data spaces whose participants are recognised here: their certified identities are accepted without a second onboarding.",
          Obj("A trusted space.", {
            name: DnsLabel("Name of the other DataSpace."),
            caBundle: Type.Optional(
              Str(
                "PEM CA bundle of the other space, when it runs on another cluster. Unset means the DataSpace of this name on this cluster.",
                65536,
              ),
            ),
          }),
          ["name"],
          16,
        ),
      ),
    }),
  ),
  dsp: Type.Optional(
    Obj(
      "The space's Dataspace Protocol (DSP 2025-1) endpoint and who may call it besides its own participants (docs/dsp.md). Credentials are Secret references in the control namespace tds-<space>, never literals.",
      {
        participantId: Type.Optional(
          Str("This space's DSP participant id (assigner of its agreements). Default urn:tds:<space>.", 512, {
            minLength: 1,
          }),
        ),
        consumer: Type.Optional(
          DnsLabel("The Participant this space's connector acts for when it is the consumer."),
        ),
        counterparties: Type.Optional(
          MapList(
            "Declared external counterparties: each caller is recognised by exactly one credential and maps to this counterparty alone.",
            Obj(
              "A declared external counterparty.",
              {
                id: Str("The counterparty's DSP participant id, unique within the space.", 512, {
                  minLength: 1,
                }),
                participant: Type.Optional(
                  DnsLabel(
                    "The Participant of this space that stands for the counterparty: its DataContracts are made in that participant's namespace. Without one it can browse the catalog but not negotiate.",
                  ),
                ),
                authorizationSecretRef: Type.Optional(
                  DspSecretRef(
                    "A key of a Secret in tds-<space> holding the exact Authorization header value the counterparty sends.",
                  ),
                ),
                certificate: Type.Optional(
                  Obj(
                    "The counterparty is a participant of another data space, recognised by its client certificate: that space must be in trustAnchors.trustedSpaces, else the certificate is refused (untrustedSpace).",
                    {
                      space: DnsLabel("The other DataSpace, whose CA issued the certificate."),
                      participant: Type.Optional(
                        DnsLabel("Only this participant of that space; unset means any of its participants."),
                      ),
                    },
                  ),
                ),
                outgoingAuthorizationSecretRef: Type.Optional(
                  DspSecretRef(
                    "A key of a Secret in tds-<space> holding the Authorization value this connector sends to the counterparty.",
                  ),
                ),
                presentCertificate: Type.Optional(
                  Bool(
                    "When calling the counterparty, present the client certificate the operator issued to this space's consumer participant (mTLS).",
                    { default: false },
                  ),
                ),
                serverCaBundle: Type.Optional(
                  Str(
                    "PEM CA bundle the counterparty's HTTPS server certificate is verified against, besides the system's.",
                    65536,
                    {
                      "x-kubernetes-validations": [
                        {
                          rule: "self.contains('-----BEGIN CERTIFICATE-----')",
                          message: "must contain at least one PEM certificate",
                        },
                      ],
                    },
                  ),
                ),
              },
              {
                "x-kubernetes-validations": [
                  {
                    rule: "has(self.authorizationSecretRef) != has(self.certificate)",
                    message: "set exactly one of authorizationSecretRef and certificate",
                  },
                ],
              },
            ),
            ["id"],
            64,
          ),
        ),
      },
    ),
  ),
  certificateAuthority: Type.Optional(
    Obj(
      "The space's own certificate authority, which signs participant client certificates.",
      {
        keyAlgorithm: Type.Optional(
          StringEnum("Key algorithm of the CA and of the certificates it issues.", KEY_ALGORITHMS, {
            default: "ECDSAP256",
          }),
        ),
        validityDays: Type.Optional(
          Int("Validity of the CA certificate in days.", { minimum: 30, maximum: 7300, default: 3650 }),
        ),
        clientCertificateValidityDays: Type.Optional(
          Int(
            "Validity of participant client certificates in days, at most the CA's; they are renewed at two thirds, and none outlives the CA certificate that signs it.",
            {
              minimum: 1,
              maximum: 825,
              default: 90,
            },
          ),
        ),
      },
      {
        default: {},
        "x-kubernetes-validations": [
          {
            rule: "!has(self.clientCertificateValidityDays) || !has(self.validityDays) || self.clientCertificateValidityDays <= self.validityDays",
            message: "must not exceed validityDays, the CA's: a certificate cannot outlive its CA",
            fieldPath: ".clientCertificateValidityDays",
          },
        ],
      },
    ),
  ),
  classification: Type.Optional(
    Obj(
      "Data classification levels and the default policy each implies.",
      {
        levels: Type.Optional(
          MapList(
            "The levels, least sensitive first. Unset means public, internal, important and core, where core is compute-only.",
            ClassificationLevel,
            ["name"],
            16,
            {
              minItems: 1,
              default: DEFAULT_CLASSIFICATION_LEVELS,
              "x-kubernetes-validations": [
                {
                  rule: "self.all(a, self.exists_one(b, b.rank == a.rank))",
                  message: "ranks must be unique",
                },
              ],
            },
          ),
        ),
        defaultLevel: Type.Optional(
          DnsLabel("Level of an offer that does not name one.", { default: "internal" }),
        ),
      },
      {
        default: {},
        "x-kubernetes-validations": [
          {
            rule: "!has(self.defaultLevel) || !has(self.levels) || self.levels.exists(l, l.name == self.defaultLevel)",
            messageExpression: "'defaultLevel \"' + self.defaultLevel + '\" is not one of the levels'",
            fieldPath: ".defaultLevel",
          },
        ],
      },
    ),
  ),
  crossBorder: Obj(
    "Where the space is and what may leave it.",
    {
      homeRegion: RegionCode("The region the space operates in and whose law applies."),
      negativeList: Type.Optional(
        MapList(
          "The export negative list: data categories that must not leave for given regions.",
          NegativeListEntry,
          ["dataCategory"],
          256,
        ),
      ),
      recordExports: Type.Optional(
        Bool(
          "Record the agreement of each cross-border contract in the evidence log (a contract.cross-border-export entry in its history). Transfers abroad are recorded whatever this says: each download to a destination outside the home region is a data.export-allowed or data.export-refused entry and a row of the export report, which the space's filing needs.",
          {
            default: true,
          },
        ),
      ),
    },
    {
      "x-kubernetes-validations": [
        {
          // The negative list governs exports: a destination inside the home
          // region (or the country that contains it) is not an export.
          rule: "!has(self.negativeList) || self.negativeList.all(e, !has(e.destinationRegions) || e.destinationRegions.all(r, r != self.homeRegion && !r.startsWith(self.homeRegion + '-') && !self.homeRegion.startsWith(r + '-')))",
          messageExpression:
            "'negativeList: destinationRegions must not name the home region ' + self.homeRegion + ' or a region inside it: data that stays home is not exported'",
          fieldPath: ".negativeList",
        },
      ],
    },
  ),
  freeze: Type.Optional(
    Obj(
      "An emergency freeze, set and lifted by the space's administrators. While it is set, every data access and every sandbox job of the frozen parties stops: their Active contracts are Suspended with rule SpaceFrozen or ParticipantFrozen, the gateway refuses their requests and cuts their open streams, and their running jobs are stopped. Removing it lifts the freeze, and the contracts it suspended are Active again. Setting and lifting it are evidence entries (space.frozen, space.unfrozen).",
      {
        reason: Str("Why, as the refusals and the evidence log show it.", 512, { minLength: 1 }),
        incident: Type.Optional(Str("The incident or ticket this freeze answers, for the record.", 128)),
        participants: Type.Optional(
          SetOf(
            "The participants frozen. Absent, the whole space is frozen.",
            DnsLabel("A participant of the space.", { maxLength: 63 }),
            256,
            { minItems: 1 },
          ),
        ),
      },
    ),
  ),
  risk: Type.Optional(RiskRulesSchema),
  storage: Type.Optional(
    Obj(
      "Object storage for participant buckets.",
      {
        driver: Type.Optional(
          StringEnum(
            "Storage protocol. S3 covers AWS S3, MinIO, Alibaba Cloud OSS, Huawei OBS and Ceph RGW.",
            STORAGE_DRIVERS,
            { default: "S3" },
          ),
        ),
        storageClass: Type.Optional(
          Str("Storage class for new objects, as the provider names it, for example STANDARD.", 64),
        ),
        bucketPrefix: Type.Optional(
          DnsLabel(
            'Prefix of every participant bucket name; the bucket is <prefix>--<space>--<participant>, so the prefix has no "--". Immutable: the buckets already made keep their names.',
            {
              default: "tds",
              maxLength: 16,
              "x-kubernetes-validations": [
                {
                  rule: `self.matches(${celString(TENANT_NAME)}) && self != 'xn' && !self.startsWith('sthree-') && !self.startsWith('amzn-s3-demo-')`,
                  message:
                    'must not contain "--" (it separates prefix, space and participant in bucket names), and must not be xn or begin with sthree- or amzn-s3-demo- (S3 reserves those)',
                },
                Immutable("bucketPrefix"),
              ],
            },
          ),
        ),
        participantQuota: Type.Optional(
          Obj(
            "Storage quota per participant.",
            {
              default: Type.Optional(
                Quantity("Quota a participant gets unless it overrides it.", { default: "100Gi" }),
              ),
              maximum: Type.Optional(
                Quantity("Largest quota a participant may request with spec.quota.storage.", {
                  default: "10Ti",
                }),
              ),
            },
            {
              default: {},
              "x-kubernetes-validations": [
                {
                  rule: "!has(self.default) || !has(self.maximum) || quantity(string(self.default)).compareTo(quantity(string(self.maximum))) <= 0",
                  message: "default must not exceed maximum",
                  fieldPath: ".default",
                },
              ],
            },
          ),
        ),
      },
      { default: {} },
    ),
  ),
  sandbox: Type.Optional(
    Obj(
      "Isolated compute next to the data (SandboxJobs).",
      {
        runtimeClassName: Type.Optional(
          DnsSubdomain("RuntimeClass of sandbox pods, for example gvisor or kata.", { default: "gvisor" }),
        ),
        defaultResources: Type.Optional(ResourceLimits),
        maxResources: Type.Optional(ResourceLimits),
        maxDurationSeconds: Type.Optional(
          Int("Longest a SandboxJob may run, in seconds.", { minimum: 60, maximum: 604800, default: 3600 }),
        ),
        maxConcurrentJobsPerParticipant: Type.Optional(
          Int("How many SandboxJobs of one participant may run at once.", {
            minimum: 1,
            maximum: 1000,
            default: 5,
          }),
        ),
        outputReview: Type.Optional(
          StringEnum(
            "Required: the provider reviews every job's outputs before the consumer can read them. Automatic: outputs are released when the job succeeds.",
            ["Required", "Automatic"] as const,
            { default: "Required" },
          ),
        ),
      },
      {
        default: {},
        "x-kubernetes-validations": [
          {
            rule: "!has(self.defaultResources) || !has(self.maxResources) || !has(self.defaultResources.cpu) || !has(self.maxResources.cpu) || quantity(string(self.defaultResources.cpu)).compareTo(quantity(string(self.maxResources.cpu))) <= 0",
            message: "defaultResources.cpu must not exceed maxResources.cpu",
            fieldPath: ".defaultResources.cpu",
          },
          {
            rule: "!has(self.defaultResources) || !has(self.maxResources) || !has(self.defaultResources.memory) || !has(self.maxResources.memory) || quantity(string(self.defaultResources.memory)).compareTo(quantity(string(self.maxResources.memory))) <= 0",
            message: "defaultResources.memory must not exceed maxResources.memory",
            fieldPath: ".defaultResources.memory",
          },
        ],
      },
    ),
  ),
  metering: Obj("How use of the space is priced and settled.", {
    currency: CurrencyCode(
      "Currency of every price and statement in the space. Immutable: statements and ledgers already kept are in it.",
      { "x-kubernetes-validations": [Immutable("currency")] },
    ),
    priceSheet: Obj("What the platform charges. GB means 10^9 bytes; amounts are in the space currency.", {
      storagePerGBMonth: Type.Optional(
        DecimalAmount("Price of storing one GB for one month.", { default: "0" }),
      ),
      transferPerGB: Type.Optional(
        DecimalAmount("Price of one GB transferred through the gateway.", { default: "0" }),
      ),
      computePerCPUHour: Type.Optional(
        DecimalAmount("Price of one CPU-hour of sandbox compute.", { default: "0" }),
      ),
      memoryPerGBHour: Type.Optional(
        DecimalAmount("Price of one GB-hour of sandbox memory.", { default: "0" }),
      ),
      perAccess: Type.Optional(DecimalAmount("Fee for each access to an offer's data.", { default: "0" })),
    }),
    billingPeriod: Type.Optional(
      StringEnum("How often settlement statements are issued.", BILLING_PERIODS, { default: "Monthly" }),
    ),
    platformFeeBasisPoints: Type.Optional(
      Int("The platform's share of offer revenue in basis points (1/100 of a percent): 250 is 2.5%.", {
        minimum: 0,
        maximum: 10000,
        default: 0,
      }),
    ),
    revenueSharing: Type.Optional(
      StringEnum(
        "How revenue that is not tied to one offer (for example sandbox compute over several offers) is split between providers: ProportionalToUsage (by the bytes of each provider's data the job read through the gateway), ProportionalToAccesses (by its reads of it), or Equal (one share per provider, then per input). A SandboxJob is split by the mode in force when it is metered, after it has finished.",
        REVENUE_SHARING_RULES,
        { default: "ProportionalToUsage" },
      ),
    ),
  }),
  evidence: Type.Optional(
    Obj(
      "The space's tamper-evident evidence log.",
      {
        checkpointIntervalSeconds: Type.Optional(
          Int("How often a signed checkpoint of the log is published, in seconds.", {
            minimum: 10,
            maximum: 86400,
            default: 300,
          }),
        ),
        retentionDays: Type.Optional(
          Int("How long entries are kept, in days.", { minimum: 30, maximum: 36500, default: 3650 }),
        ),
        signatureAlgorithm: Type.Optional(
          StringEnum("Algorithm of checkpoint signatures.", KEY_ALGORITHMS, { default: "Ed25519" }),
        ),
      },
      { default: {} },
    ),
  ),
});

export const DataSpaceStatusSchema = Obj("What the operator observed and did.", {
  observedGeneration: ObservedGeneration(),
  conditions: Conditions(),
  controlNamespace: Type.Optional(Str("The space's control namespace, tds-<space>.", 63)),
  participants: Type.Optional(Int("Number of Participants in the space.", { minimum: 0 })),
  readyParticipants: Type.Optional(Int("Number of Participants that are Ready.", { minimum: 0 })),
  offers: Type.Optional(Int("Number of DataOffers in the space.", { minimum: 0 })),
  activeContracts: Type.Optional(Int("Number of DataContracts in state Active.", { minimum: 0 })),
  certificateAuthority: Type.Optional(
    Obj("The space's CA.", {
      secretName: Str("Secret in the control namespace that holds the CA key pair.", 253),
      serial: Type.Optional(Str("Serial number of the CA certificate, hex.", 64)),
      notAfter: Type.Optional(DateTime("When the CA certificate expires.")),
    }),
  ),
  latestEvidence: LatestEvidence(),
});

export const DataSpaceSchema = RootSchema(
  "A trusted data space: the rules its participants agree to, reconciled into a control namespace, a certificate authority and policies.",
  DataSpaceSpecSchema,
  DataSpaceStatusSchema,
  Type.Object({
    name: Type.Optional(
      Type.String({
        description:
          'Name of the space: a DNS-1123 label of at most 40 characters without "--", as it prefixes namespaces. Not system, and not beginning with sbx-: those namespaces are the platform\'s.',
        pattern: DNS1123_LABEL,
        maxLength: 40,
      }),
    ),
  }),
  {
    "x-kubernetes-validations": [
      tenantNameRule("DataSpace"),
      {
        rule: `!(self.metadata.name in [${RESERVED_SPACE_NAMES.map(celString).join(", ")}]) && ![${RESERVED_SPACE_PREFIXES.map(celString).join(", ")}].exists(p, self.metadata.name.startsWith(p))`,
        messageExpression: `'DataSpace name "' + self.metadata.name + '" is reserved: its control namespace tds-' + self.metadata.name + ' would be one the platform uses (reserved: ${RESERVED_SPACE_NAMES.join(", ")}, and names beginning with ${RESERVED_SPACE_PREFIXES.join(", ")})'`,
        fieldPath: ".metadata.name",
      },
    ],
  },
);

export type DataSpaceSpec = Static<typeof DataSpaceSpecSchema>;
export type DataSpaceStatus = Static<typeof DataSpaceStatusSchema>;
export type DataSpace = Resource<"DataSpace", DataSpaceSpec, DataSpaceStatus>;

export const dataSpaceResource = {
  group: GROUP,
  version: VERSION,
  apiVersion: API_VERSION,
  kind: "DataSpace",
  listKind: "DataSpaceList",
  plural: "dataspaces",
  singular: "dataspace",
  shortNames: ["dsp"],
  scope: "Cluster",
  description: DataSpaceSchema.description ?? "",
  printerColumns: [
    {
      name: "Display Name",
      type: "string",
      jsonPath: ".spec.displayName",
      description: "Display name",
      priority: 1,
    },
    {
      name: "Region",
      type: "string",
      jsonPath: ".spec.crossBorder.homeRegion",
      description: "Home region",
      priority: 1,
    },
    {
      name: "Participants",
      type: "integer",
      jsonPath: ".status.participants",
      description: "Number of participants",
    },
    { name: "Offers", type: "integer", jsonPath: ".status.offers", description: "Number of data offers" },
    READY_COLUMN,
    AGE_COLUMN,
  ],
} as const satisfies ResourceInfo<"DataSpace">;
