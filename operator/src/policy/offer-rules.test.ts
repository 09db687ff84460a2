// Offer rules, as tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DataOfferSpec } from "@tds/crds";
import { validateOffer } from "./offer-rules.ts";
import type { ParticipantFacts, SpaceRules } from "@tds/crds/policy";

const rules: SpaceRules = {
  homeRegion: "CN",
  recordExports: true,
  currency: "CNY",
  levels: [
    {
      name: "public",
      defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Allowed" },
    },
    {
      name: "important",
      defaultPolicy: { allowedAccessModes: ["download", "computeOnly"], crossBorderTransfer: "Forbidden" },
    },
    {
      name: "core",
      defaultPolicy: { allowedAccessModes: ["computeOnly"], crossBorderTransfer: "Forbidden" },
    },
  ],
  negativeList: [
    { dataCategory: "geospatial.survey" },
    { dataCategory: "industrial.process-parameters", destinationRegions: ["US"] },
  ],
};
const provider: ParticipantFacts = {
  name: "p",
  admitted: true,
  suspended: false,
  roles: ["provider"],
  labels: {},
  region: "CN-SH",
};
const base = {
  title: "t",
  classification: "public",
  dataCategory: "industrial.telemetry",
  regionOfOrigin: "CN-SH",
  asset: { prefix: "a/", format: "text/csv" },
  policy: { purposes: ["research"], accessMode: "download" },
} as unknown as DataOfferSpec;
const spec = (over: Record<string, unknown>, policy: Record<string, unknown> = {}) => ({
  ...base,
  ...over,
  policy: { ...base.policy, ...policy },
});

const cases: { name: string; spec: DataOfferSpec; provider?: Partial<ParticipantFacts>; reason: string }[] = [
  { name: "valid", spec: base, reason: "Valid" },
  { name: "provider not admitted", spec: base, provider: { admitted: false }, reason: "ProviderNotAdmitted" },
  { name: "provider suspended", spec: base, provider: { suspended: true }, reason: "ProviderSuspended" },
  {
    name: "consumer-only participant",
    spec: base,
    provider: { roles: ["consumer"] },
    reason: "ProviderRoleMissing",
  },
  { name: "unknown term", spec: spec({}, { retention: "30d" }), reason: "UnknownPolicyTerm" },
  { name: "unknown level", spec: spec({ classification: "secret" }), reason: "UnknownClassification" },
  {
    name: "core asking for download",
    spec: spec({ classification: "core" }),
    reason: "AccessModeNotAllowed",
  },
  {
    name: "core compute-only",
    spec: spec({ classification: "core" }, { accessMode: "computeOnly" }),
    reason: "Valid",
  },
  {
    name: "negative-listed category offered abroad",
    spec: spec({ dataCategory: "geospatial.survey" }, { allowedRegions: ["CN", "DE"] }),
    reason: "CategoryOnNegativeList",
  },
  {
    name: "listed destination",
    spec: spec({ dataCategory: "industrial.process-parameters" }, { allowedRegions: ["US-CA"] }),
    reason: "CategoryOnNegativeList",
  },
  {
    name: "other destination",
    spec: spec({ dataCategory: "industrial.process-parameters" }, { allowedRegions: ["DE"] }),
    reason: "Valid",
  },
  {
    name: "important offered abroad",
    spec: spec({ classification: "important" }, { allowedRegions: ["DE"] }),
    reason: "CrossBorderForbidden",
  },
  {
    name: "important at home",
    spec: spec({ classification: "important" }, { allowedRegions: ["CN-SH"] }),
    reason: "Valid",
  },
  {
    name: "download price on computeOnly",
    spec: spec({ price: { perGBDownloaded: "1" } }, { accessMode: "computeOnly" }),
    reason: "PriceNotForAccessMode",
  },
  {
    name: "sandbox price on download",
    spec: spec({ price: { perSandboxCPUHour: "1" } }),
    reason: "PriceNotForAccessMode",
  },
  {
    name: "other currency",
    spec: spec({ price: { currency: "EUR", perContract: "1" } }),
    reason: "CurrencyMismatch",
  },
];
for (const c of cases) {
  test(`offer rules: ${c.name} → ${c.reason}`, () => {
    const v = validateOffer(rules, c.spec, { ...provider, ...c.provider });
    assert.equal(v.reason, c.reason, v.message);
  });
}
