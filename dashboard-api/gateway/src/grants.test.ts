import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bearer,
  contractRefusal,
  digestToken,
  downloadRefusal,
  outputExportRefusal,
  rangeStart,
  tokenMatches,
  transferId,
  withinAsset,
  type ContractGrant,
} from "./grants.ts";

const grant = (over: Partial<ContractGrant["contract"]> = {}, offer: Partial<ContractGrant["offer"]> = {}) =>
  ({
    agreementId: "agr-1",
    space: "s",
    consumer: "c",
    provider: "p",
    contract: { namespace: "s--c", name: "k", uid: "u", state: "Active", ...over },
    offer: { namespace: "s--p", name: "o", uid: "v", prefix: "data/", accessMode: "download", ...offer },
    bucket: "tds-s-p",
    tokenDigest: digestToken("secret"),
  }) satisfies ContractGrant;

const now = new Date("2026-03-01T00:00:00Z");

test("contract states and validity windows", () => {
  const cases: [Partial<ContractGrant["contract"]>, string | undefined][] = [
    [{}, undefined],
    [{ state: "Revoked" }, "TDS_ERR_CONTRACT_REVOKED"],
    [{ state: "Expired" }, "TDS_ERR_CONTRACT_EXPIRED"],
    [{ state: "Agreed" }, "TDS_ERR_CONTRACT_NOT_ACTIVE"],
    [{ state: "" }, "TDS_ERR_CONTRACT_NOT_ACTIVE"],
    [{ notAfter: "2026-03-01T00:00:00Z" }, "TDS_ERR_CONTRACT_EXPIRED"],
    [{ notAfter: "2026-03-01T00:00:01Z" }, undefined],
    [{ notBefore: "2026-03-01T00:00:01Z" }, "TDS_ERR_CONTRACT_NOT_ACTIVE"],
  ];
  for (const [c, want] of cases) assert.equal(contractRefusal(grant(c), now)?.code, want, JSON.stringify(c));
});

test("keys within the asset", () => {
  const cases: [string, { key?: string; prefix?: string }, boolean][] = [
    ["data/a.csv", { prefix: "data/" }, true],
    ["data/sub/a.csv", { prefix: "data/" }, true],
    ["data/", { prefix: "data/" }, false],
    ["datax/a.csv", { prefix: "data/" }, false],
    ["data/../private/a", { prefix: "data/" }, false],
    ["data/./a", { prefix: "data/" }, false],
    ["/data/a", { prefix: "data/" }, false],
    ["a.csv", { key: "a.csv" }, true],
    ["a.csvx", { key: "a.csv" }, false],
    ["", { key: "a.csv" }, false],
    ["a", {}, false],
  ];
  for (const [key, asset, want] of cases)
    assert.equal(withinAsset(key, asset), want, `${key} in ${JSON.stringify(asset)}`);
});

test("download refusals: access mode and asset after the contract", () => {
  assert.equal(downloadRefusal(grant(), "data/a", now), undefined);
  assert.equal(
    downloadRefusal(grant({}, { accessMode: "computeOnly" }), "data/a", now)?.code,
    "TDS_ERR_ACCESS_MODE",
  );
  assert.equal(downloadRefusal(grant(), "other/a", now)?.code, "TDS_ERR_OUTSIDE_ASSET");
  assert.equal(
    downloadRefusal(grant({ state: "Revoked" }, { accessMode: "computeOnly" }), "x", now)?.code,
    "TDS_ERR_CONTRACT_REVOKED",
  );
});

test("tokens, bearer headers, transfer ids, ranges and namespaces", () => {
  assert.equal(tokenMatches("secret", digestToken("secret")), true);
  assert.equal(tokenMatches("secret2", digestToken("secret")), false);
  assert.equal(tokenMatches("", digestToken("")), false);
  assert.equal(tokenMatches(undefined, digestToken("secret")), false);
  assert.equal(bearer("Bearer abc"), "abc");
  assert.equal(bearer("bearer  abc "), "abc");
  assert.equal(bearer("Basic abc"), undefined);
  assert.equal(transferId("a", "k"), transferId("a", "k"));
  assert.notEqual(transferId("a", "k"), transferId("b", "k"));
  assert.equal(transferId("a", "k").length, 40);
  assert.equal(rangeStart(undefined), 0);
  assert.equal(rangeStart("bytes 100-199/1000"), 100);
  assert.equal(rangeStart("bytes 5-9/*"), 5);
});

test("policy at every access: a grant the space's current rules no longer allow is refused, with the rule", () => {
  const policy = {
    space: {
      homeRegion: "CN",
      recordExports: true,
      levels: [
        {
          name: "public",
          defaultPolicy: { allowedAccessModes: ["download"], crossBorderTransfer: "Allowed" },
        },
      ],
      negativeList: [],
    },
    offer: {
      name: "o",
      classification: "public",
      dataCategory: "industrial.telemetry",
      policy: { purposes: ["research"] },
    },
    provider: { name: "p", admitted: true, suspended: false, roles: ["provider"], labels: {}, region: "CN" },
    consumer: { name: "c", admitted: true, suspended: false, roles: ["consumer"], labels: {}, region: "DE" },
    contract: { purpose: "research", createdAt: "2026-01-01T00:00:00Z" },
    current: "Active" as const,
  };
  const lawful: ContractGrant = { ...grant(), policy };
  assert.equal(downloadRefusal(lawful, "data/a.csv", now), undefined);
  assert.equal(outputExportRefusal(lawful), undefined);
  const listed: ContractGrant = {
    ...lawful,
    policy: {
      ...policy,
      space: { ...policy.space, negativeList: [{ dataCategory: "industrial.telemetry" }] },
    },
  };
  const r = downloadRefusal(listed, "data/a.csv", now);
  assert.equal(r?.code, "TDS_ERR_POLICY_REFUSED");
  assert.ok(r);
  assert.match(r.message, /ExportNegativeListed/);
  assert.equal(outputExportRefusal(listed)?.code, "TDS_ERR_EXPORT_REFUSED");
  assert.equal(
    contractRefusal({ ...lawful, contract: { ...lawful.contract, state: "Suspended" } }, now)?.code,
    "TDS_ERR_CONTRACT_SUSPENDED",
  );
});
