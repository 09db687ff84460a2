import assert from "node:assert/strict";
import { test } from "node:test";
import type { SandboxJob } from "@tds/crds";
import { autoWithhold, type OutputManifest } from "./sandboxjob.review.ts";

const job: SandboxJob = {
  apiVersion: "tds.dev/v1alpha1",
  kind: "SandboxJob",
  metadata: { name: "train", namespace: "s1--consumer", uid: "job-uid-1" },
  spec: {
    contractRef: { name: "c1" },
    image: "registry.example/model@sha256:abc",
    outputs: [{ name: "report", path: "/outputs/report.json", maxSize: "1Ki" }],
  },
};
const sha = "ab".repeat(32);
const report = (m: Partial<OutputManifest>): OutputManifest => ({
  name: "report",
  key: "tds-outbox/job-uid-1/report",
  bytes: 100,
  sha256: "cd".repeat(32),
  ...m,
});

test("outputs are withheld for their size, for each way they match an input, or an unfinished scan", () => {
  const cases: [string, Partial<OutputManifest>, string | undefined][] = [
    ["nothing matched", { inputMatches: [], scanComplete: true }, undefined],
    ["an older manifest without a scan", {}, undefined],
    ["over its size", { bytes: 2048 }, "Output report is 2048 bytes, over its limit of 1024 bytes"],
    [
      "identical",
      { inputMatches: [{ key: "data/a.csv", sha256: sha, match: "identical" }] },
      "Output report is a copy of input object data/a.csv",
    ],
    [
      "embedded",
      {
        inputMatches: [
          { key: "data/b.bin", sha256: sha, match: "embedded", offset: 17, inputOffset: 8192, length: 4096 },
        ],
      },
      "Output report contains bytes 8192-12287 of input object data/b.bin at byte 17",
    ],
    [
      "digest",
      { inputMatches: [{ key: "data/a.csv", sha256: sha, match: "digest", offset: 40, encoding: "base64" }] },
      "Output report contains the SHA-256 of input object data/a.csv as base64 text at byte 40",
    ],
    [
      "a legacy manifest's copy",
      { inputHashes: ["data/a.csv"] },
      "Output report is a copy of input object data/a.csv",
    ],
    [
      "a scan that could not finish",
      { inputMatches: [], scanComplete: false },
      "Output report could not be fully checked against the job's inputs",
    ],
  ];
  for (const [what, manifest, reason] of cases)
    assert.equal(autoWithhold(job, [report(manifest)]), reason, what);
});
