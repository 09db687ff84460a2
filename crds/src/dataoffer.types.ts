// DataOffer: data a provider publishes in its participant namespace, with a
// classification, an asset in its bucket, a usage policy (an ODRL-like
// subset) and a price. The operator checks the asset exists, derives a
// content identifier, lists the offer in the catalog and holds the policy to
// the space's classification and cross-border rules.
import { Type, type Static } from "@sinclair/typebox";
import {
  AGE_COLUMN,
  API_VERSION,
  Conditions,
  CurrencyCode,
  DateTime,
  DecimalAmount,
  DnsLabel,
  GROUP,
  Int,
  LatestEvidence,
  Obj,
  ObservedGeneration,
  READY_COLUMN,
  RegionCode,
  RootSchema,
  SetOf,
  Str,
  StringEnum,
  StringMap,
  Token,
  VERSION,
  type Resource,
  ValidityWindow,
  type ResourceInfo,
} from "./common.types.ts";
import { ACCESS_MODES } from "./dataspace.types.ts";

export const SCHEMA_FORMATS = ["JSONSchema", "Avro", "Parquet", "CSVW", "SQL"] as const;
export const CONTRACT_APPROVAL = ["Automatic", "Manual"] as const;

const objectKeyRules = [
  { rule: "!self.startsWith('/')", message: "must be relative to the bucket, without a leading '/'" },
  {
    rule: "!self.split('/').exists(s, s == '..' || s == '.')",
    message: "must not contain '.' or '..' segments",
  },
];

export const DataOfferSpecSchema = Obj(
  "What is offered, to whom, under which policy and at what price.",
  {
    title: Str("Title shown in the catalog.", 200, { minLength: 1 }),
    description: Type.Optional(Str("What the data is, how it was collected and how to use it.", 8192)),
    keywords: Type.Optional(
      SetOf("Keywords for catalog search.", Str("A keyword.", 64, { minLength: 1 }), 32),
    ),
    classification: DnsLabel(
      "Classification level, one of the space's spec.classification.levels (for example public, internal, important, core). The level's default policy bounds this offer's policy.",
    ),
    dataCategory: Token(
      "Category of the data, matched against the space's export negative list, for example industrial.telemetry.",
    ),
    regionOfOrigin: RegionCode("Where the data was collected or produced."),
    personalData: Type.Optional(
      Type.Boolean({
        description:
          "Whether the data contains personal information; such offers need the data subjects' recorded consent.",
        default: false,
      }),
    ),
    asset: Obj(
      "The data in the provider's bucket: one object (key) or every object under a prefix. Set exactly one of key or prefix.",
      {
        key: Type.Optional(
          Str("Object key, for example telemetry/2026-01.parquet.", 1024, {
            minLength: 1,
            "x-kubernetes-validations": objectKeyRules,
          }),
        ),
        prefix: Type.Optional(
          Str("Key prefix ending in '/', for example telemetry/2026/.", 1024, {
            minLength: 1,
            "x-kubernetes-validations": [
              ...objectKeyRules,
              { rule: "self.endsWith('/')", message: "a prefix must end with '/'" },
            ],
          }),
        ),
        format: Str(
          "IANA media type of the data, for example text/csv or application/vnd.apache.parquet.",
          127,
          {
            "x-kubernetes-validations": [
              {
                rule: "self.matches('^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$')",
                message: "must be a media type such as text/csv",
              },
            ],
          },
        ),
        schema: Type.Optional(
          Obj(
            "Structure of the data, so consumers can use it without downloading it first. Set inline or uri.",
            {
              format: StringEnum("Language of the schema.", SCHEMA_FORMATS),
              inline: Type.Optional(Str("The schema document itself.", 65536)),
              uri: Type.Optional(
                Str("Where the schema is published.", 2048, {
                  "x-kubernetes-validations": [{ rule: "isURL(self)", message: "must be an absolute URL" }],
                }),
              ),
            },
            {
              "x-kubernetes-validations": [
                {
                  rule: "has(self.inline) != has(self.uri)",
                  message: "exactly one of inline or uri must be set",
                },
              ],
            },
          ),
        ),
      },
      {
        "x-kubernetes-validations": [
          { rule: "has(self.key) != has(self.prefix)", message: "exactly one of key or prefix must be set" },
        ],
      },
    ),
    policy: Obj(
      "The usage policy, an ODRL-like subset. Evaluated when a contract is made and again at every access.",
      {
        purposes: SetOf(
          "Permitted purposes; a contract must name one, for example predictive-maintenance or research.",
          Token("A purpose."),
          32,
          { minItems: 1 },
        ),
        allowedConsumers: Type.Optional(
          Obj(
            "Who may contract for the offer. A participant qualifies if it is named or matches the selector. Unset means every consumer in the space.",
            {
              participants: Type.Optional(SetOf("Participant names.", DnsLabel("A Participant name."), 256)),
              participantSelector: Type.Optional(
                Obj("Participants whose labels match, for example an industry or certification label.", {
                  matchLabels: StringMap("Labels a Participant must carry, all of them.", 16),
                }),
              ),
            },
            {
              "x-kubernetes-validations": [
                {
                  rule: "has(self.participants) || has(self.participantSelector)",
                  message:
                    "set participants, participantSelector or both; omit allowedConsumers to allow every consumer",
                },
              ],
            },
          ),
        ),
        allowedRegions: Type.Optional(
          SetOf(
            "Regions where consumers may use the data (their organisation region). Unset means any region the space's cross-border rules allow.",
            RegionCode("A region."),
            250,
            { minItems: 1 },
          ),
        ),
        validity: Type.Optional(ValidityWindow("When contracts for the offer may be made and used.", false)),
        maxAccesses: Type.Optional(
          Int("Most accesses a single contract may make (downloads or sandbox runs). Unset means no limit.", {
            minimum: 1,
          }),
        ),
        accessMode: Type.Optional(
          StringEnum(
            "download: consumers fetch the data through the metered gateway. computeOnly: the data never leaves; consumers run SandboxJobs next to it and see only reviewed outputs.",
            ACCESS_MODES,
            { default: "download" },
          ),
        ),
        contractApproval: Type.Optional(
          StringEnum(
            "Automatic: a contract that satisfies the policy is agreed at once. Manual: the provider approves each one.",
            CONTRACT_APPROVAL,
            { default: "Automatic" },
          ),
        ),
      },
    ),
    price: Type.Optional(
      Obj("What the consumer pays the provider, on top of the platform's price sheet. Unset means free.", {
        currency: Type.Optional(
          CurrencyCode(
            "Currency of the amounts; must be the space currency. Unset means the space currency.",
          ),
        ),
        perContract: Type.Optional(DecimalAmount("One-off amount when a contract is agreed.")),
        perAccess: Type.Optional(DecimalAmount("Amount for each access.")),
        perGBDownloaded: Type.Optional(
          DecimalAmount("Amount per GB (10^9 bytes) downloaded. Not allowed for computeOnly offers."),
        ),
        perSandboxCPUHour: Type.Optional(
          DecimalAmount("Amount per CPU-hour of SandboxJobs that read the data."),
        ),
      }),
    ),
  },
  {
    "x-kubernetes-validations": [
      {
        rule: "!has(self.policy.accessMode) || self.policy.accessMode != 'computeOnly' || !has(self.price) || !has(self.price.perGBDownloaded)",
        message: "a computeOnly offer cannot be downloaded, so it has no download price",
        fieldPath: ".price.perGBDownloaded",
      },
    ],
  },
);

export const DataOfferStatusSchema = Obj("What the operator observed and did.", {
  observedGeneration: ObservedGeneration(),
  conditions: Conditions(),
  contentId: Type.Optional(
    Str("Stable content-derived identifier of the asset, sha256:<hex> over the object digests.", 80),
  ),
  assetObjects: Type.Optional(Int("Number of objects in the asset.", { minimum: 0 })),
  assetBytes: Type.Optional(Int("Total size of the asset in bytes.", { minimum: 0 })),
  catalogId: Type.Optional(Str("Identifier of the offer's catalog entry.", 253)),
  effectivePolicy: Type.Optional(
    Obj("The policy after the classification level's defaults were applied.", {
      accessMode: StringEnum("Effective access mode.", ACCESS_MODES),
      crossBorderTransfer: StringEnum("Effective cross-border rule.", [
        "Allowed",
        "RequiresApproval",
        "Forbidden",
      ] as const),
    }),
  ),
  activeContracts: Type.Optional(Int("Number of Active contracts for the offer.", { minimum: 0 })),
  publishedAt: Type.Optional(DateTime("When the offer entered the catalog.")),
  latestEvidence: LatestEvidence(),
});

export const DataOfferSchema = RootSchema(
  "Data a provider publishes in the space, with a classification, a usage policy and a price.",
  DataOfferSpecSchema,
  DataOfferStatusSchema,
);

export type DataOfferSpec = Static<typeof DataOfferSpecSchema>;
export type DataOfferStatus = Static<typeof DataOfferStatusSchema>;
export type DataOffer = Resource<"DataOffer", DataOfferSpec, DataOfferStatus>;

export const dataOfferResource = {
  group: GROUP,
  version: VERSION,
  apiVersion: API_VERSION,
  kind: "DataOffer",
  listKind: "DataOfferList",
  plural: "dataoffers",
  singular: "dataoffer",
  shortNames: ["dof"],
  scope: "Namespaced",
  description: DataOfferSchema.description ?? "",
  selectableFields: [".spec.classification", ".spec.dataCategory"],
  printerColumns: [
    { name: "Title", type: "string", jsonPath: ".spec.title", description: "Catalog title" },
    { name: "Class", type: "string", jsonPath: ".spec.classification", description: "Classification level" },
    { name: "Mode", type: "string", jsonPath: ".spec.policy.accessMode", description: "Access mode" },
    {
      name: "Category",
      type: "string",
      jsonPath: ".spec.dataCategory",
      description: "Data category",
      priority: 1,
    },
    {
      name: "Content",
      type: "string",
      jsonPath: ".status.contentId",
      description: "Content identifier",
      priority: 1,
    },
    READY_COLUMN,
    {
      name: "Reason",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
      description: "Reason of the Ready condition",
    },
    AGE_COLUMN,
  ],
} as const satisfies ResourceInfo<"DataOffer">;
