// The fuzz run: Schemathesis (pinned, installed by the Makefile into
// .tools/schemathesis) against the real dashboard API, built from its own
// /openapi.json, on a private PostgreSQL database with the local
// kube-apiserver (so the contract routes are served),
// once with a platform administrator's token and once without any. Every
// response must be below 500 and conform to the document: status, content
// type, headers and body schema, 405 with Allow for undeclared methods, and
// schema-violating requests refused. Examples and time are bounded; a failure
// prints Schemathesis's failing cases with a curl line to reproduce each.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadOrCreateDevKey, mintToken } from "@tds/dashboard-api/auth-keys";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { startServer, stopServer, type ServerProcess } from "@tds/test/server";
import { repoRoot } from "../harness/environment.ts";
import { installCrds } from "../harness/testkit.ts";

const SCHEMATHESIS = join(repoRoot, ".tools/schemathesis/bin/schemathesis");
/** Examples per operation and cycle in the fuzzing phase (the coverage phase's cases come from the schemas). */
const MAX_EXAMPLES = Number(process.env.TDS_FUZZ_MAX_EXAMPLES ?? 8);
/**
 * Each run's time budget in seconds: Schemathesis shares it among the
 * operations, stops at it and reports (on a loaded machine it covers less,
 * but still ends with its summary). The kill is only a safety net.
 */
const MAX_TIME_S = Number(process.env.TDS_FUZZ_MAX_TIME ?? 75);
const KILL_AFTER_MS = (MAX_TIME_S + 90) * 1000;
const SEED = process.env.TDS_FUZZ_SEED ?? "20261201";
/**
 * Every check Schemathesis has, but positive_data_acceptance: a schema-valid
 * request may still be refused on meaning the schema cannot say (a meter the
 * space does not price, `from` after `to`, an unknown space), and the API
 * answers those with a documented 4xx. The stateful checks need resources
 * the run cannot create (contracts come from Kubernetes objects).
 */
const EXCLUDED_CHECKS = [
  "positive_data_acceptance",
  "use_after_free",
  "ensure_resource_availability",
  "object_level_authorization",
];

let db: TestDatabase;
let server: ServerProcess;
let token: string;
let work: string;

before(async () => {
  assert.ok(existsSync(SCHEMATHESIS), `${SCHEMATHESIS} is missing: run make test (it installs Schemathesis)`);
  installCrds();
  db = await createTestDatabase("tds_fuzz");
  work = mkdtempSync(join(tmpdir(), "tds-fuzz-"));
  // A refusal of a schema-violating request may also be 413, 414 or 431 (an over-long query).
  writeFileSync(
    join(work, "schemathesis.toml"),
    "[checks.negative_data_rejection]\nexpected-statuses = " +
      JSON.stringify([
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "409",
        "413",
        "414",
        "415",
        "422",
        "428",
        "429",
        "431",
      ]) +
      "\n",
  );
  const keyFile = join(work, "key.json");
  const key = await loadOrCreateDevKey(keyFile);
  token = await mintToken(key, { role: "platform-admin", subject: "fuzz" });
  // KUBECONFIG comes from the harness: the contract and signing-key routes are live.
  server = await startServer({
    DATABASE_URL: db.url,
    TDS_AUTH_DEV_KEY_FILE: keyFile,
    TDS_RATE_LIMIT_PER_MINUTE: "1000000",
  });
});
after(async () => {
  await stopServer(server);
  await db.drop();
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly output: string;
  readonly ms: number;
}

function schemathesis(args: readonly string[]): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, {
      cwd: work,
      env: { ...process.env, NO_COLOR: "1", SCHEMATHESIS_TELEMETRY: "false", PYTHONUNBUFFERED: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      output += `\n[killed after ${String(KILL_AFTER_MS)} ms]\n`;
      child.kill("SIGKILL");
    }, KILL_AFTER_MS);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

/** The failures and the summary: what a reader of a red run needs. */
function report(output: string): string {
  const from = output.search(/^=+ (FAILURES|ERRORS) =+$/m);
  const text = from >= 0 ? output.slice(from) : output;
  return text.length > 60_000 ? `${text.slice(0, 30_000)}\n…\n${text.slice(-30_000)}` : text;
}

async function fuzz(
  label: string,
  maxExamples: number,
  maxTime: number,
  extra: readonly string[],
): Promise<void> {
  const run = await schemathesis([
    "--config-file",
    join(work, "schemathesis.toml"),
    "run",
    `${server.url}/openapi.json`,
    "--checks",
    "all",
    "--exclude-checks",
    EXCLUDED_CHECKS.join(","),
    "--max-examples",
    String(maxExamples),
    "--max-time",
    String(maxTime),
    "--seed",
    SEED,
    // One worker: the machine is shared, and Python 3.11's ast module is not safe across threads.
    "--workers",
    "1",
    "--request-timeout",
    "20",
    "--generation-database",
    "none",
    "--no-color",
    ...extra,
  ]);
  const summary = /Test cases:\s*\n\s*(.*)/.exec(run.output)?.[1] ?? "no summary";
  console.log(`schemathesis ${label}: ${summary}; ${(run.ms / 1000).toFixed(1)} s, exit ${String(run.code)}`);
  assert.equal(run.code, 0, `schemathesis ${label} failed:\n${report(run.output)}`);
  assert.match(summary, /^\d+ generated, \d+ passed/, `schemathesis ${label}:\n${report(run.output)}`);
  assert.doesNotMatch(summary, /fail|error/i, `schemathesis ${label}:\n${report(run.output)}`);
}

test("schemathesis with a platform administrator's token: no 5xx, every answer as documented", async () => {
  await fuzz("with a token", MAX_EXAMPLES, MAX_TIME_S, ["--header", `Authorization: Bearer ${token}`]);
});

test("schemathesis without a token: no 5xx, every answer as documented", async () => {
  // Without a token nearly every answer is the same 401; the stateful phase has nothing to link.
  await fuzz("without a token", Math.ceil(MAX_EXAMPLES / 2), Math.ceil(MAX_TIME_S / 2), [
    "--phases",
    "examples,coverage,fuzzing",
  ]);
});
