// `tds evidence verify`: checks a space's evidence log without trusting the
// server. Reads an export from a file (no server needed) or from the API,
// recomputes the tree, checks every checkpoint signature, the consistency of
// the trusted checkpoint with the latest one and any inclusion proofs given.
//
//   node --import tsx dashboard-api/src/evidence/verify.ts \
//     --export export.json | --url https://api/v1/spaces/acme/evidence [--token T] \
//     --public-key space-key.pub.pem [--key-name tds.dev/evidence/acme] \
//     [--trusted-checkpoint checkpoint.txt] [--inclusion proof.json ...]
//
// Prints one line per check and exits 1 when any fails, 2 on bad usage.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { publicKeyFromPem } from "./checkpoint.ts";
import type { EvidenceExport } from "./export.ts";
import { type Check, type InclusionClaim, verifyExport } from "./verifier.ts";

const USAGE =
  "usage: tds evidence verify (--export FILE | --url URL [--token TOKEN]) --public-key PEM-FILE " +
  "[--key-name NAME] [--trusted-checkpoint FILE] [--inclusion FILE]...";

async function fetchJson(url: string, token: string | undefined): Promise<unknown> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

export async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        export: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        "public-key": { type: "string" },
        "key-name": { type: "string" },
        "trusted-checkpoint": { type: "string" },
        inclusion: { type: "string", multiple: true },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if ((values.export === undefined) === (values.url === undefined) || values["public-key"] === undefined) {
    console.error(USAGE);
    return 2;
  }
  const checks: Check[] = [];
  try {
    const publicKey = publicKeyFromPem(await readFile(values["public-key"], "utf8"));
    const base = values.url?.replace(/\/+$/u, "");
    const exported = (
      base !== undefined
        ? await fetchJson(`${base}/export`, values.token)
        : JSON.parse(await readFile(values.export ?? "", "utf8"))
    ) as EvidenceExport;
    const trusted =
      values["trusted-checkpoint"] === undefined
        ? undefined
        : await readFile(values["trusted-checkpoint"], "utf8");
    const inclusion: InclusionClaim[] = [];
    for (const file of values.inclusion ?? []) {
      inclusion.push(JSON.parse(await readFile(file, "utf8")) as InclusionClaim);
    }
    if (trusted === undefined) {
      checks.push({
        ok: true,
        what: "no trusted checkpoint given: only the export's own checkpoints are checked",
      });
    }
    checks.push(
      ...verifyExport({
        export: exported,
        publicKey,
        ...(values["key-name"] === undefined ? {} : { keyName: values["key-name"] }),
        ...(trusted === undefined ? {} : { trustedCheckpoint: trusted }),
        inclusion,
      }),
    );
  } catch (err) {
    checks.push({ ok: false, what: `cannot verify: ${(err as Error).message}` });
  }
  for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.what}`);
  const failed = checks.filter((c) => !c.ok).length;
  console.log(
    failed === 0
      ? `verified: ${checks.length} checks passed`
      : `NOT VERIFIED: ${failed} of ${checks.length} checks failed`,
  );
  return failed === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
