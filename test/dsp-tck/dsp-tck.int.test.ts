// The Eclipse DSP TCK (1.0.0-RC6, the tests of 1.0.1) against this API's DSP
// endpoints, with the fixture space seeded (fixtures.ts). The jars come from
// Maven Central through `make dsp-tck-deps` (.tools/dsp-tck). Prints
// "DSP TCK: N passed, M failed, S skipped" and requires all 65 runnable tests
// to pass (2 are @Disabled upstream).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createTestDatabase } from "@tds/test/database";
import { freePort } from "@tds/test/server";
import { repoRoot } from "../harness/environment.ts";
import { startTckTarget } from "./target.ts";

const JARS = join(repoRoot, ".tools", "dsp-tck");
const EXPECTED_PASSED = 65;

export function tckArgs(
  baseUrl: string,
  authorization: string,
  callbackPort: number,
  settings: Record<string, string>,
) {
  const origin = new URL(baseUrl).origin;
  return [
    `dataspacetck.dsp.connector.http.url=${baseUrl}/2025-1`,
    `dataspacetck.dsp.connector.http.base.url=${baseUrl}`,
    `dataspacetck.dsp.connector.http.headers.authorization=${authorization}`,
    `dataspacetck.dsp.connector.negotiation.initiate.url=${origin}/tck/negotiations/requests`,
    `dataspacetck.dsp.connector.transfer.initiate.url=${origin}/tck/transfers/requests`,
    `dataspacetck.callback.address=http://localhost:${callbackPort.toString()}`,
    "dataspacetck.host=127.0.0.1",
    `dataspacetck.port=${callbackPort.toString()}`,
    "dataspacetck.dsp.default.wait=5",
    "dataspacetck.ansi=false",
    ...Object.entries(settings).map(([k, v]) => `${k}=${v}`),
  ];
}

test("the DSP TCK passes against the fixture space", { timeout: 300_000 }, async () => {
  assert.ok(existsSync(JARS), `${JARS} is missing: run make dsp-tck-deps`);
  const db = await createTestDatabase("tds_dsp_tck");
  const target = await startTckTarget(db.url, await freePort());
  try {
    const args = tckArgs(target.baseUrl, target.authorization, await freePort(), target.settings);
    const java = spawn(
      "java",
      [
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Xmx512m",
        "-cp",
        `${JARS}/*`,
        join(import.meta.dirname, "DspTck.java"),
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    java.stdout.on("data", (d: Buffer) => (out += d.toString()));
    java.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => java.kill("SIGKILL"), 240_000);
    const code = await new Promise<number | null>((r) => java.on("exit", r));
    clearTimeout(killer);
    const failures = out
      .split("\n")
      .filter((l, i, all) => l.startsWith("FAILED") || all[i - 1]?.startsWith("FAILED"));
    const m = /DSP TCK: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(out);
    assert.ok(m, `the TCK printed no summary (exit ${String(code)}):\n${out.slice(-4000)}`);
    const [passed, failed, skipped] = [Number(m[1]), Number(m[2]), Number(m[3])];
    console.log(
      `DSP TCK: ${passed.toString()} passed, ${failed.toString()} failed, ${skipped.toString()} skipped`,
    );
    assert.deepEqual(
      { passed, failed, skipped },
      { passed: EXPECTED_PASSED, failed: 0, skipped: 2 },
      failures.join("\n"),
    );
  } finally {
    await target.close();
    await db.drop();
  }
});
