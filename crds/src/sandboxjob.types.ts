// SandboxJob: a consumer's computation next to the data of a contract. The
// operator runs it as a Job in an isolated sandbox namespace (runtime class
// from the space, no egress but the gateway, no ServiceAccount token, limits,
// deadline) and holds its outputs for the provider's review.
import { Type, type Static } from "@sinclair/typebox";
import {
  AGE_COLUMN,
  API_VERSION,
  Conditions,
  DateTime,
  DnsLabel,
  DnsSubdomain,
  GROUP,
  Immutable,
  Int,
  LatestEvidence,
  List,
  MapList,
  Obj,
  ObservedGeneration,
  Pattern,
  Quantity,
  READY_COLUMN,
  ResourceAmounts,
  RootSchema,
  SHA256_HEX,
  Str,
  StringEnum,
  VERSION,
  type Resource,
  type ResourceInfo,
} from "./common.types.ts";
import { REVENUE_SHARING_RULES } from "./dataspace.types.ts";

export const SANDBOX_PHASES = [
  "Pending",
  "Running",
  "Succeeded",
  "Failed",
  "DeadlineExceeded",
  "Rejected",
] as const;
export type SandboxPhase = (typeof SANDBOX_PHASES)[number];
export const REVIEW_STATES = ["PendingReview", "Released", "Withheld"] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];
/**
 * The automatic checks that withhold a job's outputs without the provider
 * (operator sandboxjob.review.ts: autoWithhold). The three Input* checks are
 * an output that copies an input: whole, embedded, or named by its SHA-256.
 */
export const WITHHOLD_CHECKS = [
  "OutputTooLarge",
  "InputCopied",
  "InputEmbedded",
  "InputDigest",
  "ScanIncomplete",
] as const;
export type WithholdCheck = (typeof WITHHOLD_CHECKS)[number];
/** The checks that find an output copying an input (the copiedInputs risk rule counts them). */
export const INPUT_COPY_CHECKS: readonly WithholdCheck[] = ["InputCopied", "InputEmbedded", "InputDigest"];
/**
 * The step of the evidence entry the operator appends for a job withheld by
 * one of them: event id sandbox/<uid>/input-copied, action sandbox.input-copied.
 */
export const INPUT_COPIED_STEP = "input-copied";
/** How a run's usage was found: measured on the node, or the requests times the run time. */
export const USAGE_BASES = ["Measured", "Reserved"] as const;
export type UsageBasis = (typeof USAGE_BASES)[number];

const ENV_NAME = "^[A-Za-z_][A-Za-z0-9_]*$";

export const SandboxJobSpecSchema = Obj(
  "What to run. Immutable once created: submit a new SandboxJob to run something else.",
  {
    contractRef: Obj(
      "The Active DataContract, in the same namespace, whose offer the job reads. Immutable.",
      { name: DnsSubdomain("Name of the DataContract.") },
      { "x-kubernetes-validations": [Immutable("contractRef")] },
    ),
    inputs: Type.Optional(
      MapList(
        "Further inputs, each under its own Active computeOnly DataContract in this namespace, usually of other providers. spec.contractRef is always the first input, named main; it holds the outbox and its provider reviews the outputs. The job reads each input through its own contract's grant (GET /v1/sandbox/{job}/inputs/{key}?input=<name>), and its metered usage is split among the inputs' providers by the space's spec.metering.revenueSharing. Immutable.",
        Obj("An input under a further contract.", {
          name: DnsLabel(
            "Name of the input: in the job's TDS_INPUTS environment variable and the gateway's ?input= parameter.",
            {
              "x-kubernetes-validations": [
                { rule: "self != 'main'", message: "main is the name of spec.contractRef's input" },
              ],
            },
          ),
          contractRef: Obj("The DataContract of this input, in the same namespace.", {
            name: DnsSubdomain("Name of the DataContract."),
          }),
        }),
        ["name"],
        15,
      ),
    ),
    image: Str("Container image, preferably pinned by digest (image@sha256:...).", 512, {
      minLength: 1,
      "x-kubernetes-validations": [
        { rule: "!self.contains(' ')", message: "an image reference has no spaces" },
      ],
    }),
    command: Type.Optional(
      List("Entrypoint, replacing the image's ENTRYPOINT.", Str("An argument.", 4096), 64),
    ),
    args: Type.Optional(List("Arguments, replacing the image's CMD.", Str("An argument.", 4096), 256)),
    env: Type.Optional(
      MapList(
        "Environment variables. Values are plain text; secrets do not belong in a sandbox.",
        Obj("An environment variable.", {
          name: Pattern("Name of the variable.", ENV_NAME, 128, "a C identifier such as MODEL_PATH"),
          value: Str("Value of the variable.", 32768),
        }),
        ["name"],
        64,
      ),
    ),
    resources: Type.Optional(
      ResourceAmounts(
        "CPU and memory for the job; both request and limit. Unset values come from the space's sandbox.defaultResources; values above sandbox.maxResources are rejected.",
      ),
    ),
    maxDurationSeconds: Type.Optional(
      Int("Deadline of the job in seconds; at most the space's sandbox.maxDurationSeconds.", {
        minimum: 1,
        maximum: 604800,
        default: 3600,
      }),
    ),
    outputs: Type.Optional(
      MapList(
        "Files or directories the job writes and wants back. They are held for the provider's review before the consumer can read them.",
        Obj("An output.", {
          name: DnsLabel("Name of the output."),
          path: Str("Absolute path under /outputs where the job writes it.", 1024, {
            "x-kubernetes-validations": [
              {
                // A file or directory strictly below /outputs: /outputs/ itself would
                // claim every output at once.
                rule: "self.matches('^/outputs(/[^/]+)+/?$') && !self.split('/').exists(s, s == '..' || s == '.')",
                message:
                  "must name a file or directory below /outputs/, such as /outputs/report.csv, without '.' or '..' segments",
              },
            ],
          }),
          maxSize: Type.Optional(Quantity("Largest size accepted for the output.", { default: "1Gi" })),
        }),
        ["name"],
        16,
      ),
    ),
  },
  {
    "x-kubernetes-validations": [
      { rule: "self == oldSelf", message: "spec is immutable; create a new SandboxJob" },
      {
        rule: "!has(self.inputs) || self.inputs.all(i, i.contractRef.name != self.contractRef.name && self.inputs.exists_one(j, j.contractRef.name == i.contractRef.name))",
        message: "each input names a different DataContract, and none is spec.contractRef's",
        fieldPath: ".inputs",
      },
    ],
  },
);

export const SandboxJobStatusSchema = Obj("Progress of the job and the review of its outputs.", {
  observedGeneration: ObservedGeneration(),
  conditions: Conditions(),
  phase: Type.Optional(
    StringEnum(
      "Pending: waiting to start. Running. Succeeded. Failed. DeadlineExceeded: stopped at maxDurationSeconds. Rejected: the contract or space rules do not allow it (see conditions).",
      SANDBOX_PHASES,
    ),
  ),
  sandboxNamespace: Type.Optional(Str("Namespace the job runs in.", 63)),
  credential: Type.Optional(
    Obj(
      "What the gateway needs to serve the job's reads and writes, written before the job starts. The token itself is only in the credential Secret of the sandbox namespace; this is its digest, so the gateway reads no Secret.",
      {
        id: Str("The credential id: in the job's environment and the gateway's /v1/sandbox URLs.", 32, {
          pattern: "^[0-9a-f]{32}$",
        }),
        tokenDigest: Str("SHA-256 of the job token, as sha256:<hex>.", 71, {
          pattern: "^sha256:[0-9a-f]{64}$",
        }),
        agreementId: Str("The agreement of the job's contract.", 63),
        inputs: Type.Optional(
          MapList(
            "The agreements of spec.inputs, by input name: the gateway checks each read against its own.",
            Obj("A further input's agreement.", {
              name: Str("Name of the input, as in spec.inputs.", 63),
              agreementId: Str("The agreement of the input's contract.", 63),
            }),
            ["name"],
            15,
          ),
        ),
        outbox: Obj("Where the job's outputs are written, held for review.", {
          bucket: Str("Bucket of the outbox (the provider's).", 63),
          prefix: Str("Key prefix of this job's outputs.", 1024),
        }),
        outputs: MapList(
          "The outputs the job may write, with their size limits.",
          Obj("An output the job may write.", {
            name: Str("Name of the output, as in spec.outputs.", 63),
            maxBytes: Int("Largest size accepted, in bytes.", { minimum: 0 }),
          }),
          ["name"],
          16,
        ),
      },
    ),
  ),
  jobName: Type.Optional(Str("Name of the Kubernetes Job.", 63)),
  startTime: Type.Optional(DateTime("When the job started.")),
  completionTime: Type.Optional(DateTime("When the job finished.")),
  cpuSeconds: Type.Optional(
    Int("CPU-seconds used, as metered (status.usage.cpuMilliseconds, rounded down).", { minimum: 0 }),
  ),
  usage: Type.Optional(
    Obj(
      "What the run used. Measured: from the kubelet's summary API (the pod's cgroup), sampled while the pod runs and once after, so a last interval of under a second can be missed. Reserved: the node reported no usage (a node without a kubelet, such as KWOK's), and the requests are multiplied by the run time. The metered quantities are cpuMilliseconds and memoryByteSeconds; the reserved ones are kept beside them, named apart.",
      {
        basis: StringEnum("Measured or Reserved, as described above.", USAGE_BASES),
        cpuMilliseconds: Int("CPU used, in core-milliseconds (metered as sandbox.cpu_milliseconds).", {
          minimum: 0,
        }),
        memoryByteSeconds: Int(
          "Memory working set integrated over the run, in byte-seconds (metered as sandbox.memory_byte_seconds).",
          { minimum: 0 },
        ),
        memoryPeakBytes: Type.Optional(Int("Largest working set sampled, in bytes.", { minimum: 0 })),
        samples: Type.Optional(Int("How many kubelet samples the measurement has.", { minimum: 0 })),
        sampledAt: Type.Optional(DateTime("When the latest sample was taken.")),
        reservedCpuMilliseconds: Int(
          "The CPU request times the run time, in core-milliseconds (not metered).",
          {
            minimum: 0,
          },
        ),
        reservedMemoryByteSeconds: Int(
          "The memory request times the run time, in byte-seconds (not metered).",
          {
            minimum: 0,
          },
        ),
      },
    ),
  ),
  revenueShares: Type.Optional(
    MapList(
      "How the run's metered usage was split among its inputs' providers (crds/src/revenue.ts): by the space's spec.metering.revenueSharing, weighed by what the job read of each input through the gateway. Set once, when the usage is posted.",
      Obj("One input's share of the run's usage.", {
        input: Str("Name of the input (main for spec.contractRef).", 63),
        provider: Str("The provider of the input's offer.", 63),
        contract: Str("The input's DataContract.", 253),
        basis: StringEnum(
          "What the share was weighed by: the space's mode, or Equal when the job read nothing.",
          REVENUE_SHARING_RULES,
        ),
        bytes: Int("Bytes of the input the job read.", { minimum: 0 }),
        reads: Int("Reads of the input (gateway transfers).", { minimum: 0 }),
        cpuMilliseconds: Int("The input's part of usage.cpuMilliseconds.", { minimum: 0 }),
        memoryByteSeconds: Int("The input's part of usage.memoryByteSeconds.", { minimum: 0 }),
      }),
      ["input"],
      16,
    ),
  ),
  review: Type.Optional(
    Obj("The provider's review of the outputs.", {
      state: StringEnum(
        "PendingReview: held for the provider. Released: the consumer can read the outputs. Withheld: the provider refused them.",
        REVIEW_STATES,
      ),
      reviewer: Type.Optional(Str("Who reviewed.", 253)),
      reviewedAt: Type.Optional(DateTime("When the review was decided.")),
      reason: Type.Optional(Str("Why the outputs were withheld.", 4096)),
      check: Type.Optional(
        Obj(
          "The automatic check that withheld the outputs; unset when the provider decided. InputCopied, InputEmbedded and InputDigest: an output is a copy of an input object, contains a part of one, or names one by its SHA-256.",
          {
            rule: StringEnum("Which check.", WITHHOLD_CHECKS),
            output: Str("The output that failed it.", 63),
            input: Type.Optional(Str("The input object it copies (the Input* checks).", 1024)),
          },
        ),
      ),
    }),
  ),
  outputs: Type.Optional(
    MapList(
      "Outputs collected from the job.",
      Obj("A collected output.", {
        name: Str("Name of the output, as in spec.outputs.", 63),
        objectKey: Type.Optional(Str("Where the output is stored, in the review area of the space.", 1024)),
        bytes: Type.Optional(Int("Size in bytes.", { minimum: 0 })),
        sha256: Type.Optional(
          Type.String({
            description: "SHA-256 of the output, lowercase hex.",
            pattern: SHA256_HEX,
            maxLength: 64,
          }),
        ),
      }),
      ["name"],
      16,
    ),
  ),
  latestEvidence: LatestEvidence(),
});

export const SandboxJobSchema = RootSchema(
  "A computation that runs next to the data of a contract, in an isolated sandbox, with outputs held for the provider's review.",
  SandboxJobSpecSchema,
  SandboxJobStatusSchema,
);

export type SandboxJobSpec = Static<typeof SandboxJobSpecSchema>;
export type SandboxJobStatus = Static<typeof SandboxJobStatusSchema>;
export type SandboxJob = Resource<"SandboxJob", SandboxJobSpec, SandboxJobStatus>;

export const sandboxJobResource = {
  group: GROUP,
  version: VERSION,
  apiVersion: API_VERSION,
  kind: "SandboxJob",
  listKind: "SandboxJobList",
  plural: "sandboxjobs",
  singular: "sandboxjob",
  shortNames: ["sbj"],
  scope: "Namespaced",
  description: SandboxJobSchema.description ?? "",
  selectableFields: [".spec.contractRef.name", ".status.credential.id"],
  printerColumns: [
    { name: "Contract", type: "string", jsonPath: ".spec.contractRef.name", description: "The DataContract" },
    { name: "Image", type: "string", jsonPath: ".spec.image", description: "Container image", priority: 1 },
    { name: "Phase", type: "string", jsonPath: ".status.phase", description: "Phase of the job" },
    {
      name: "Review",
      type: "string",
      jsonPath: ".status.review.state",
      description: "Review state of the outputs",
    },
    { ...READY_COLUMN, priority: 1 },
    AGE_COLUMN,
  ],
} as const satisfies ResourceInfo<"SandboxJob">;

/** The name of spec.contractRef's input. */
export const MAIN_INPUT = "main";

/** A job's inputs: spec.contractRef as main, then spec.inputs, each with the spec field that names it. */
export function jobInputs(spec: SandboxJobSpec): { name: string; contract: string; field: string }[] {
  return [
    { name: MAIN_INPUT, contract: spec.contractRef.name, field: "spec.contractRef" },
    ...(spec.inputs ?? []).map((i, n) => ({
      name: i.name,
      contract: i.contractRef.name,
      field: `spec.inputs[${String(n)}].contractRef`,
    })),
  ];
}
