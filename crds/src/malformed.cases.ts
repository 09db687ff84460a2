// The table of malformed manifests that the API server must reject, each with
// the field path its error has to name. Every case starts from a valid sample
// in crds/samples/ and breaks one thing. Pure data; crds.int.test.ts sends
// the cases to a real API server.

export type KindName = "DataSpace" | "Participant" | "DataOffer" | "DataContract" | "SandboxJob";

/** Marks a field to delete instead of set. */
export const DELETE = Symbol("delete");

export interface MalformedCase {
  /** Unique, readable name of the case. */
  name: string;
  kind: KindName;
  /** Which sample document to start from (by metadata.name); the first of the kind if unset. */
  base?: string;
  edits: readonly (readonly [path: string, value: unknown])[];
  /** The field path the API server's message must name, e.g. spec.crossBorder.homeRegion. */
  field: string;
  /** A fragment the message must also contain. */
  text?: string;
}

/** Sets (or deletes) a dotted path such as spec.levels[0].name, creating objects on the way. */
export function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.match(/[^.[\]]+/g) ?? [];
  let node: Record<string, unknown> = root;
  for (const [i, key] of keys.entries()) {
    if (i === keys.length - 1) {
      if (value === DELETE) {
        if (Array.isArray(node)) node.splice(Number(key), 1);
        else Reflect.deleteProperty(node, key);
      } else node[key] = value;
      return;
    }
    const next = node[key];
    if (typeof next !== "object" || next === null) node[key] = /^\d+$/.test(keys[i + 1] ?? "") ? [] : {};
    node = node[key] as Record<string, unknown>;
  }
}

function one(
  kind: KindName,
  path: string,
  value: unknown,
  field = path,
  text?: string,
  base?: string,
): MalformedCase {
  const shown = value === DELETE ? "missing" : `= ${JSON.stringify(value)}`;
  return {
    name: `${kind} ${path} ${shown}`,
    kind,
    ...(base ? { base } : {}),
    edits: [[path, value]],
    field,
    ...(text ? { text } : {}),
  };
}

function many(
  kind: KindName,
  name: string,
  edits: readonly (readonly [string, unknown])[],
  field: string,
  text?: string,
  base?: string,
): MalformedCase {
  return {
    name: `${kind} ${name}`,
    kind,
    ...(base ? { base } : {}),
    edits,
    field,
    ...(text ? { text } : {}),
  };
}

const long = (n: number): string => "x".repeat(n);
const level = (name: string, rank: number) => ({
  name,
  rank,
  defaultPolicy: { allowedAccessModes: ["download"] },
});

const DS = "DataSpace";
const P = "Participant";
const O = "DataOffer";
const C = "DataContract";
const J = "SandboxJob";
const COMPUTE_ONLY = "turbine-maintenance-logs";

export const MALFORMED_CASES: readonly MalformedCase[] = [
  // DataSpace: names and texts
  one(DS, "metadata.name", "Yangtze", "metadata.name"),
  one(DS, "metadata.name", long(41), "metadata.name"),
  // Tenancy: "--" separates space and participant in namespace and bucket names.
  one(DS, "metadata.name", "s--zz", "metadata.name", 'must not contain "--"'),
  one(DS, "metadata.name", "system", "metadata.name", "is reserved"),
  one(DS, "metadata.name", "sbx-0123456789abcdef", "metadata.name", "is reserved"),
  one(DS, "spec.storage.bucketPrefix", "a--b", "spec.storage.bucketPrefix", 'must not contain "--"'),
  one(DS, "spec.storage.bucketPrefix", "xn", "spec.storage.bucketPrefix", "S3 reserves"),
  one(
    DS,
    "spec.risk.downloadVolume.factor",
    1,
    "spec.risk.downloadVolume.factor",
    "greater than or equal to 2",
  ),
  one(
    DS,
    "spec.risk.copiedInputs.threshold",
    0,
    "spec.risk.copiedInputs.threshold",
    "greater than or equal to 1",
  ),
  many(
    DS,
    "a download baseline too short for its windows",
    [
      ["spec.risk.downloadVolume.baselineDays", 1],
      ["spec.risk.downloadVolume.windowMinutes", 1440],
      ["spec.risk.downloadVolume.minBaselineWindows", 2],
    ],
    "spec.risk.downloadVolume.minBaselineWindows",
    "must fit in the baseline",
  ),
  many(
    DS,
    "more active days than the unusual-hours baseline",
    [
      ["spec.risk.unusualHours.baselineDays", 7],
      ["spec.risk.unusualHours.minActiveDays", 8],
    ],
    "spec.risk.unusualHours.minActiveDays",
    "must not exceed baselineDays",
  ),
  many(
    DS,
    "client certificates that outlive the CA",
    [
      ["spec.certificateAuthority.validityDays", 30],
      ["spec.certificateAuthority.clientCertificateValidityDays", 825],
    ],
    "spec.certificateAuthority.clientCertificateValidityDays",
    "cannot outlive its CA",
  ),
  one(
    DS,
    "spec.crossBorder.negativeList",
    [{ dataCategory: "industrial.telemetry", destinationRegions: ["CN"] }],
    "spec.crossBorder.negativeList",
    "must not name the home region CN",
  ),
  one(
    DS,
    "spec.crossBorder.negativeList",
    [{ dataCategory: "industrial.telemetry", destinationRegions: ["US", "CN-SH"] }],
    "spec.crossBorder.negativeList",
    "or a region inside it",
  ),
  one(DS, "spec.displayName", DELETE, "spec.displayName", "Required value"),
  one(DS, "spec.displayName", long(129), "spec.displayName", "Too long"),
  one(DS, "spec.displayName", 42, "spec.displayName", "string"),
  one(DS, "spec.description", long(4097), "spec.description", "Too long"),
  one(DS, "spec.spaceType", "Galactic", "spec.spaceType", "Unsupported value"),
  // admission and identity
  one(DS, "spec.admission.mode", "Sometimes", "spec.admission.mode", "Unsupported value"),
  one(DS, "spec.admission.allowedIdentityMethods", ["Password"], "spec.admission.allowedIdentityMethods[0]"),
  one(DS, "spec.admission.allowedIdentityMethods", [], "spec.admission.allowedIdentityMethods"),
  one(
    DS,
    "spec.admission.allowedIdentityMethods",
    ["OIDC", "OIDC"],
    "spec.admission.allowedIdentityMethods[1]",
    "Duplicate",
  ),
  one(
    DS,
    "spec.trustAnchors.caBundles",
    [{ name: "partner-ca", pem: "not a certificate" }],
    "spec.trustAnchors.caBundles[0].pem",
    "PEM",
  ),
  one(
    DS,
    "spec.trustAnchors.caBundles",
    [
      { name: "ca", pem: "-----BEGIN CERTIFICATE-----" },
      { name: "ca", pem: "-----BEGIN CERTIFICATE-----" },
    ],
    "spec.trustAnchors.caBundles[1]",
    "Duplicate",
  ),
  one(
    DS,
    "spec.trustAnchors.trustedSpaces",
    [{ name: "Other_Space" }],
    "spec.trustAnchors.trustedSpaces[0].name",
    "DNS-1123",
  ),
  one(
    DS,
    "spec.dsp.counterparties",
    [
      {
        id: "urn:tds:other",
        authorizationSecretRef: { name: "dsp", key: "in" },
        certificate: { space: "other" },
      },
    ],
    "spec.dsp.counterparties[0]",
    "exactly one of authorizationSecretRef and certificate",
  ),
  one(
    DS,
    "spec.dsp.counterparties",
    [{ id: "urn:tds:other", authorizationSecretRef: { name: "dsp", key: "a key" } }],
    "spec.dsp.counterparties[0].authorizationSecretRef.key",
  ),
  one(DS, "spec.certificateAuthority.keyAlgorithm", "RSA1024", "spec.certificateAuthority.keyAlgorithm"),
  one(DS, "spec.certificateAuthority.validityDays", 10, "spec.certificateAuthority.validityDays"),
  one(
    DS,
    "spec.certificateAuthority.clientCertificateValidityDays",
    1000,
    "spec.certificateAuthority.clientCertificateValidityDays",
  ),
  // classification
  one(DS, "spec.classification.levels", [], "spec.classification.levels"),
  one(DS, "spec.classification.levels[0].name", "Public!", "spec.classification.levels[0].name", "DNS-1123"),
  many(
    DS,
    "classification ranks not unique",
    [["spec.classification.levels[1].rank", 0]],
    "spec.classification.levels",
    "ranks must be unique",
  ),
  one(
    DS,
    "spec.classification.levels[0].defaultPolicy.allowedAccessModes",
    ["stream"],
    "spec.classification.levels[0].defaultPolicy.allowedAccessModes[0]",
  ),
  one(
    DS,
    "spec.classification.levels[0].defaultPolicy.allowedAccessModes",
    [],
    "spec.classification.levels[0].defaultPolicy.allowedAccessModes",
  ),
  one(
    DS,
    "spec.classification.levels[0].defaultPolicy.crossBorderTransfer",
    "Maybe",
    "spec.classification.levels[0].defaultPolicy.crossBorderTransfer",
  ),
  one(
    DS,
    "spec.classification.levels[0].defaultPolicy.maxContractDurationSeconds",
    5,
    "spec.classification.levels[0].defaultPolicy.maxContractDurationSeconds",
  ),
  one(DS, "spec.classification.levels[0].rank", -1, "spec.classification.levels[0].rank"),
  one(
    DS,
    "spec.classification.levels[0].defaultPolicy",
    DELETE,
    "spec.classification.levels[0].defaultPolicy",
    "Required value",
  ),
  one(
    DS,
    "spec.classification.defaultLevel",
    "secret",
    "spec.classification.defaultLevel",
    "is not one of the levels",
  ),
  many(
    DS,
    "classification levels with a duplicate name",
    [["spec.classification.levels", [level("open", 0), level("open", 1)]]],
    "spec.classification.levels[1]",
    "Duplicate",
  ),
  // cross-border
  one(DS, "spec.crossBorder", DELETE, "spec.crossBorder", "Required value"),
  one(DS, "spec.crossBorder.homeRegion", "China", "spec.crossBorder.homeRegion", "ISO 3166-1"),
  one(DS, "spec.crossBorder.homeRegion", "cn", "spec.crossBorder.homeRegion", "ISO 3166-1"),
  one(DS, "spec.crossBorder.homeRegion", "CN-SHANGHAI", "spec.crossBorder.homeRegion"),
  one(
    DS,
    "spec.crossBorder.negativeList[0].dataCategory",
    "Geo Survey",
    "spec.crossBorder.negativeList[0].dataCategory",
  ),
  one(
    DS,
    "spec.crossBorder.negativeList[1].destinationRegions",
    ["USA"],
    "spec.crossBorder.negativeList[1].destinationRegions[0]",
  ),
  one(
    DS,
    "spec.crossBorder.negativeList[1].dataCategory",
    "geospatial.survey",
    "spec.crossBorder.negativeList[1]",
    "Duplicate",
  ),
  one(DS, "spec.crossBorder.recordExports", "always", "spec.crossBorder.recordExports", "boolean"),
  // storage
  one(DS, "spec.storage.driver", "NFS", "spec.storage.driver", "Unsupported value"),
  one(
    DS,
    "spec.storage.participantQuota.default",
    "lots",
    "spec.storage.participantQuota.default",
    "quantity",
  ),
  one(
    DS,
    "spec.storage.participantQuota.default",
    "20Ti",
    "spec.storage.participantQuota.default",
    "must not exceed maximum",
  ),
  one(DS, "spec.storage.bucketPrefix", "TDS", "spec.storage.bucketPrefix"),
  one(DS, "spec.storage.bucketPrefix", "a-very-long-prefix", "spec.storage.bucketPrefix", "Too long"),
  one(DS, "spec.storage.storageClass", long(65), "spec.storage.storageClass", "Too long"),
  // sandbox
  one(DS, "spec.sandbox.runtimeClassName", "gVisor", "spec.sandbox.runtimeClassName", "DNS-1123"),
  one(DS, "spec.sandbox.defaultResources.cpu", "16", "spec.sandbox.defaultResources.cpu", "must not exceed"),
  one(
    DS,
    "spec.sandbox.defaultResources.memory",
    "64Gi",
    "spec.sandbox.defaultResources.memory",
    "must not exceed",
  ),
  one(DS, "spec.sandbox.maxResources.cpu", "eight", "spec.sandbox.maxResources.cpu", "quantity"),
  one(DS, "spec.sandbox.maxDurationSeconds", 30, "spec.sandbox.maxDurationSeconds"),
  one(DS, "spec.sandbox.maxDurationSeconds", 1000000, "spec.sandbox.maxDurationSeconds"),
  one(DS, "spec.sandbox.maxConcurrentJobsPerParticipant", 0, "spec.sandbox.maxConcurrentJobsPerParticipant"),
  one(DS, "spec.sandbox.outputReview", "Never", "spec.sandbox.outputReview", "Unsupported value"),
  // metering
  one(DS, "spec.metering", DELETE, "spec.metering", "Required value"),
  one(DS, "spec.metering.currency", "yuan", "spec.metering.currency", "ISO 4217"),
  one(DS, "spec.metering.currency", "CN", "spec.metering.currency", "ISO 4217"),
  one(DS, "spec.metering.priceSheet", DELETE, "spec.metering.priceSheet", "Required value"),
  one(
    DS,
    "spec.metering.priceSheet.storagePerGBMonth",
    0.12,
    "spec.metering.priceSheet.storagePerGBMonth",
    "string",
  ),
  one(
    DS,
    "spec.metering.priceSheet.transferPerGB",
    "-1",
    "spec.metering.priceSheet.transferPerGB",
    "decimal",
  ),
  one(
    DS,
    "spec.metering.priceSheet.computePerCPUHour",
    "0.1234567",
    "spec.metering.priceSheet.computePerCPUHour",
    "decimal",
  ),
  one(DS, "spec.metering.priceSheet.perAccess", "1e3", "spec.metering.priceSheet.perAccess", "decimal"),
  one(
    DS,
    "spec.metering.priceSheet.memoryPerGBHour",
    "007",
    "spec.metering.priceSheet.memoryPerGBHour",
    "decimal",
  ),
  one(DS, "spec.metering.billingPeriod", "Weekly", "spec.metering.billingPeriod", "Unsupported value"),
  one(DS, "spec.metering.platformFeeBasisPoints", 10001, "spec.metering.platformFeeBasisPoints"),
  one(DS, "spec.metering.platformFeeBasisPoints", 2.5, "spec.metering.platformFeeBasisPoints", "integer"),
  one(
    DS,
    "spec.metering.revenueSharing",
    "WinnerTakesAll",
    "spec.metering.revenueSharing",
    "Unsupported value",
  ),
  // evidence
  one(DS, "spec.evidence.checkpointIntervalSeconds", 5, "spec.evidence.checkpointIntervalSeconds"),
  one(DS, "spec.evidence.retentionDays", 1, "spec.evidence.retentionDays"),
  one(DS, "spec.evidence.signatureAlgorithm", "MD5", "spec.evidence.signatureAlgorithm", "Unsupported value"),

  // Participant
  one(P, "metadata.name", "Shanghai_Turbines", "metadata.name"),
  one(P, "metadata.name", "a".repeat(45), "metadata.name", "longer than 63 characters"),
  one(P, "metadata.name", "zz--q", "metadata.name", 'must not contain "--"'),
  one(P, "spec.quota.storage", "1e1000", "spec.quota.storage", "at most 8E"),
  one(P, "spec.quota.storage", "9E", "spec.quota.storage", "at most 8E"),
  one(P, "spec.quota.storage", "8Ei", "spec.quota.storage", "at most 8E"),
  one(P, "spec.dataSpace", DELETE, "spec.dataSpace", "Required value"),
  one(P, "spec.dataSpace", "Yangtze Industrial", "spec.dataSpace", "DNS-1123"),
  one(P, "spec.displayName", long(129), "spec.displayName", "Too long"),
  one(P, "spec.organization", DELETE, "spec.organization", "Required value"),
  one(P, "spec.organization.legalName", "", "spec.organization.legalName"),
  one(P, "spec.organization.registrationId", long(65), "spec.organization.registrationId", "Too long"),
  one(P, "spec.organization.region", "Germany", "spec.organization.region", "ISO 3166-1"),
  one(P, "spec.organization.contactEmail", "not-an-email", "spec.organization.contactEmail", "email"),
  one(P, "spec.identity", {}, "spec.identity", "exactly one of certificate, oidc or did"),
  many(
    P,
    "identity with certificate and did",
    [["spec.identity.did", "did:web:acme.example"]],
    "spec.identity",
    "exactly one of certificate, oidc or did",
  ),
  one(P, "spec.identity.certificate.subject", "", "spec.identity.certificate.subject"),
  one(
    P,
    "spec.identity.certificate.issuedBy",
    "Partner CA",
    "spec.identity.certificate.issuedBy",
    "DNS-1123",
  ),
  one(
    P,
    "spec.identity",
    { oidc: { issuer: "http://login.acme.example", subject: "x" } },
    "spec.identity.oidc.issuer",
    "https",
  ),
  one(
    P,
    "spec.identity",
    { oidc: { issuer: "https://login.acme.example" } },
    "spec.identity.oidc.subject",
    "Required value",
  ),
  one(P, "spec.identity", { did: "web:acme.example" }, "spec.identity.did", "DID"),
  one(P, "spec.roles", [], "spec.roles"),
  one(P, "spec.roles", ["auditor"], "spec.roles[0]", "Unsupported value"),
  one(P, "spec.roles", ["provider", "provider"], "spec.roles[1]", "Duplicate"),
  one(P, "spec.roles", DELETE, "spec.roles", "Required value"),
  one(P, "spec.admins", [{ kind: "ServiceAccount", name: "x" }], "spec.admins[0].kind", "Unsupported value"),
  one(
    P,
    "spec.admins",
    [
      { kind: "User", name: "a" },
      { kind: "User", name: "a" },
    ],
    "spec.admins[1]",
    "Duplicate",
  ),
  one(P, "spec.admins", [{ kind: "User" }], "spec.admins[0].name", "Required value"),
  one(P, "spec.quota.storage", "1 TB", "spec.quota.storage", "quantity"),
  one(P, "spec.quota.sandboxCPU", "-2", "spec.quota.sandboxCPU", "non-negative"),
  one(P, "spec.quota.storage", -5, "spec.quota.storage", "non-negative"),
  one(P, "spec.quota.maxConcurrentSandboxJobs", -1, "spec.quota.maxConcurrentSandboxJobs"),
  one(P, "spec.approved", "yes", "spec.approved", "boolean"),
  one(P, "spec.suspended", "no", "spec.suspended", "boolean"),

  // DataOffer
  one(O, "spec.title", DELETE, "spec.title", "Required value"),
  one(O, "spec.title", "", "spec.title"),
  one(O, "spec.description", long(8193), "spec.description", "Too long"),
  one(O, "spec.keywords", ["turbine", "turbine"], "spec.keywords[1]", "Duplicate"),
  one(O, "spec.keywords", [long(65)], "spec.keywords[0]", "Too long"),
  one(O, "spec.classification", "Core Data", "spec.classification", "DNS-1123"),
  one(O, "spec.classification", DELETE, "spec.classification", "Required value"),
  one(O, "spec.dataCategory", "Industrial Telemetry", "spec.dataCategory"),
  one(O, "spec.regionOfOrigin", "Shanghai", "spec.regionOfOrigin", "ISO 3166-1"),
  one(O, "spec.personalData", "no", "spec.personalData", "boolean"),
  one(O, "spec.asset.key", "telemetry/2025.parquet", "spec.asset", "exactly one of key or prefix"),
  many(
    O,
    "asset without key or prefix",
    [["spec.asset.prefix", DELETE]],
    "spec.asset",
    "exactly one of key or prefix",
  ),
  one(
    O,
    "spec.asset",
    { key: "/abs/file.csv", format: "text/csv" },
    "spec.asset.key",
    "without a leading '/'",
  ),
  one(O, "spec.asset", { key: "a/../b.csv", format: "text/csv" }, "spec.asset.key", "'..'"),
  one(O, "spec.asset.prefix", "telemetry/2025", "spec.asset.prefix", "must end with '/'"),
  one(O, "spec.asset.format", "parquet", "spec.asset.format", "media type"),
  one(O, "spec.asset.format", DELETE, "spec.asset.format", "Required value"),
  one(O, "spec.asset.schema.inline", "{}", "spec.asset.schema", "exactly one of inline or uri"),
  one(O, "spec.asset.schema.format", "XML", "spec.asset.schema.format", "Unsupported value"),
  one(O, "spec.asset.schema.uri", "not a url", "spec.asset.schema.uri", "URL"),
  one(O, "spec.policy", DELETE, "spec.policy", "Required value"),
  one(O, "spec.policy.purposes", [], "spec.policy.purposes"),
  one(O, "spec.policy.purposes", ["Predictive Maintenance"], "spec.policy.purposes[0]"),
  one(O, "spec.policy.accessMode", "stream", "spec.policy.accessMode", "Unsupported value"),
  one(O, "spec.policy.contractApproval", "Sometimes", "spec.policy.contractApproval", "Unsupported value"),
  one(
    O,
    "spec.policy.validity.notAfter",
    "2025-06-01T00:00:00Z",
    "spec.policy.validity.notAfter",
    "later than notBefore",
  ),
  one(O, "spec.policy.validity.notBefore", "yesterday", "spec.policy.validity.notBefore", "date-time"),
  one(O, "spec.policy.maxAccesses", 0, "spec.policy.maxAccesses"),
  one(O, "spec.policy.allowedRegions", ["eu"], "spec.policy.allowedRegions[0]", "ISO 3166-1"),
  one(O, "spec.policy.allowedRegions", [], "spec.policy.allowedRegions"),
  one(O, "spec.policy.allowedConsumers", {}, "spec.policy.allowedConsumers", "omit allowedConsumers"),
  one(
    O,
    "spec.policy.allowedConsumers.participants",
    ["Wuhan"],
    "spec.policy.allowedConsumers.participants[0]",
    "DNS-1123",
  ),
  many(
    O,
    "computeOnly offer with a download price",
    [["spec.price.perGBDownloaded", "1.00"]],
    "spec.price.perGBDownloaded",
    "computeOnly",
    COMPUTE_ONLY,
  ),
  one(O, "spec.price.currency", "RMB!", "spec.price.currency", "ISO 4217"),
  one(O, "spec.price.perContract", "500,00", "spec.price.perContract", "decimal"),
  one(O, "spec.price.perAccess", 5, "spec.price.perAccess", "string"),

  // DataContract
  one(C, "spec.offerRef", DELETE, "spec.offerRef", "Required value"),
  one(C, "spec.offerRef.namespace", "Bad_NS", "spec.offerRef.namespace", "DNS-1123"),
  one(C, "spec.offerRef.name", DELETE, "spec.offerRef.name", "Required value"),
  one(C, "spec.offerRef.name", "Turbine Logs", "spec.offerRef.name", "DNS-1123"),
  one(C, "spec.purpose", DELETE, "spec.purpose", "Required value"),
  one(C, "spec.purpose", "Train Models", "spec.purpose"),
  // The sample contract names no dates; these give the whole window.
  one(
    C,
    "spec.requestedValidity",
    { notBefore: "2026-01-01T00:00:00Z", notAfter: "2025-12-31T00:00:00Z" },
    "spec.requestedValidity.notAfter",
    "later than notBefore",
  ),
  one(
    C,
    "spec.requestedValidity",
    { notBefore: "2026-01-01T00:00:00Z" },
    "spec.requestedValidity.notAfter",
    "Required value",
  ),
  one(C, "spec.requestedAccesses", 0, "spec.requestedAccesses"),
  one(C, "spec.justification", long(4097), "spec.justification", "Too long"),

  // SandboxJob
  one(J, "spec.contractRef", DELETE, "spec.contractRef", "Required value"),
  one(J, "spec.contractRef.name", "Bad Name", "spec.contractRef.name", "DNS-1123"),
  one(
    J,
    "spec.inputs",
    [{ name: "main", contractRef: { name: "other" } }],
    "spec.inputs[0].name",
    "main is the name",
  ),
  one(J, "spec.inputs", [{ name: "Bad", contractRef: { name: "other" } }], "spec.inputs[0].name", "DNS-1123"),
  one(
    J,
    "spec.inputs",
    [
      { name: "x", contractRef: { name: "other" } },
      { name: "y", contractRef: { name: "other" } },
    ],
    "spec.inputs",
    "different DataContract",
  ),
  one(J, "spec.image", DELETE, "spec.image", "Required value"),
  one(J, "spec.image", "python 3.12", "spec.image", "no spaces"),
  one(
    J,
    "spec.command",
    Array.from({ length: 65 }, () => "x"),
    "spec.command",
    "Too many",
  ),
  one(J, "spec.env[0].name", "1BAD", "spec.env[0].name", "C identifier"),
  one(
    J,
    "spec.env",
    [
      { name: "A", value: "1" },
      { name: "A", value: "2" },
    ],
    "spec.env[1]",
    "Duplicate",
  ),
  one(J, "spec.resources.cpu", "lots", "spec.resources.cpu", "quantity"),
  one(J, "spec.resources.memory", "8 GB", "spec.resources.memory", "quantity"),
  one(J, "spec.maxDurationSeconds", 0, "spec.maxDurationSeconds"),
  one(J, "spec.outputs[0].path", "/tmp/model", "spec.outputs[0].path", "/outputs/"),
  one(J, "spec.outputs[0].path", "/outputs/../etc", "spec.outputs[0].path", "'..'"),
  one(J, "spec.outputs[0].path", "/outputs/", "spec.outputs[0].path", "below /outputs/"),
  one(J, "spec.outputs[0].path", "/outputs", "spec.outputs[0].path", "below /outputs/"),
  one(J, "spec.outputs[0].path", "/outputs//x", "spec.outputs[0].path", "below /outputs/"),
  one(J, "spec.outputs[0].path", "/outputs/./x", "spec.outputs[0].path", "'.'"),
  one(J, "spec.outputs[0].maxSize", "big", "spec.outputs[0].maxSize", "quantity"),
  one(J, "spec.outputs[1].name", "model", "spec.outputs[1]", "Duplicate"),
  one(J, "spec.outputs[0].name", "Model", "spec.outputs[0].name", "DNS-1123"),
];
