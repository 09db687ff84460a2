import assert from "node:assert/strict";
import { test } from "node:test";
import type { SandboxJob, SandboxJobStatus } from "@tds/crds";
import type { KubeObject } from "@tds/kube";
import {
  autoWithhold,
  sandboxEvidence,
  type AutoWithhold,
  type OutputManifest,
} from "./sandboxjob.review.ts";

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
  const cases: [string, Partial<OutputManifest>, AutoWithhold | undefined][] = [
    ["nothing matched", { inputMatches: [], scanComplete: true }, undefined],
    ["an older manifest without a scan", {}, undefined],
    [
      "over its size",
      { bytes: 2048 },
      {
        check: { rule: "OutputTooLarge", output: "report" },
        reason: "Output report is 2048 bytes, over its limit of 1024 bytes",
      },
    ],
    [
      "identical",
      { inputMatches: [{ key: "data/a.csv", sha256: sha, match: "identical" }] },
      {
        check: { rule: "InputCopied", output: "report", input: "data/a.csv" },
        reason: "Output report is a copy of input object data/a.csv",
      },
    ],
    [
      "embedded",
      {
        inputMatches: [
          { key: "data/b.bin", sha256: sha, match: "embedded", offset: 17, inputOffset: 8192, length: 4096 },
        ],
      },
      {
        check: { rule: "InputEmbedded", output: "report", input: "data/b.bin" },
        reason: "Output report contains bytes 8192-12287 of input object data/b.bin at byte 17",
      },
    ],
    [
      "digest",
      { inputMatches: [{ key: "data/a.csv", sha256: sha, match: "digest", offset: 40, encoding: "base64" }] },
      {
        check: { rule: "InputDigest", output: "report", input: "data/a.csv" },
        reason: "Output report contains the SHA-256 of input object data/a.csv as base64 text at byte 40",
      },
    ],
    [
      "a legacy manifest's copy",
      { inputHashes: ["data/a.csv"] },
      {
        check: { rule: "InputCopied", output: "report", input: "data/a.csv" },
        reason: "Output report is a copy of input object data/a.csv",
      },
    ],
    [
      "a scan that could not finish",
      { inputMatches: [], scanComplete: false },
      {
        check: { rule: "ScanIncomplete", output: "report" },
        reason: "Output report could not be fully checked against the job's inputs",
      },
    ],
  ];
  for (const [what, manifest, withheld] of cases)
    assert.deepEqual(autoWithhold(job, [report(manifest)]), withheld, what);
});

test("an output withheld for copying an input is an evidence entry of its own; one withheld for its size or by the provider is not", () => {
  const status = (check?: NonNullable<NonNullable<SandboxJobStatus["review"]>["check"]>) =>
    ({
      phase: "Succeeded",
      startTime: "2026-12-03T10:00:00Z",
      completionTime: "2026-12-03T10:05:00Z",
      review: {
        state: "Withheld",
        reviewer: check ? "system:tds-operator" : "provider-admin",
        reviewedAt: "2026-12-03T10:05:00Z",
        reason: "no",
        ...(check ? { check } : {}),
      },
    }) satisfies SandboxJobStatus;
  const steps = (s: SandboxJobStatus) =>
    sandboxEvidence("s1", job as SandboxJob & KubeObject, s).map((e) => [
      e.eventId,
      e.action,
      e.time,
      e.object.namespace,
    ]);
  const copied = steps(status({ rule: "InputEmbedded", output: "report", input: "data/b.bin" }));
  assert.deepEqual(copied.at(-1), [
    "sandbox/job-uid-1/input-copied",
    "sandbox.input-copied",
    "2026-12-03T10:05:00Z",
    "s1--consumer",
  ]);
  assert.equal(copied.length, 5, "pending, running, succeeded, withheld, input-copied");
  for (const s of [status({ rule: "OutputTooLarge", output: "report" }), status()])
    assert.deepEqual(
      steps(s).map(([id]) => id),
      ["Pending", "Running", "Succeeded", "review-Withheld"].map((step) => `sandbox/job-uid-1/${step}`),
    );
});
