// `tds evidence verify`: checks a space's evidence log without trusting the
// server. Reads an export from a file (no server needed) or from the API,
// recomputes the tree, checks every checkpoint signature, the consistency of
// the trusted checkpoint with the latest one and any inclusion proofs given.
//
//   node --import tsx dashboard-api/src/evidence/verify-cli.ts \
//     --export export.json | --url https://api/v1/spaces/acme/evidence [--token T] \
//     --public-key space-key.pub.pem [--key-name tds.dev/evidence/acme] \
//     [--trusted-checkpoint checkpoint.txt] [--inclusion proof.json ...]
//
// With --filing, checks a space's filing record (dashboard-api/src/filing/):
// its signature by the space's published key, its embedded checkpoint and its
// export report; with an export or URL as well, against the log.
//
//   node --import tsx dashboard-api/src/evidence/verify-cli.ts \
//     --filing filing.json --public-key space-key.pub.pem [--export export.json | --url URL]
//
// Prints one line per check and exits 1 when any fails, 2 on bad usage.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { publicKeyFromPem } from "./checkpoint.ts";
import type { EvidenceExport } from "./export.ts";
import { type Check, type InclusionClaim, verifyExport } from "./verifier.ts";
import type { FilingDocument } from "../filing/record.ts";
import { verifyFiling } from "../filing/verifier.ts";

const USAGE =
  "usage: tds evidence verify (--export FILE | --url URL [--token TOKEN] | --filing FILE) --public-key PEM-FILE " +
  "[--key-name NAME] [--trusted-checkpoint FILE] [--inclusion FILE]...\n" +
  "       (--filing FILE may be given with --export or --url: the record is then checked against the log)";

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
        filing: { type: "string" },
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
  const logSources = (values.export === undefined ? 0 : 1) + (values.url === undefined ? 0 : 1);
  if (
    logSources > 1 ||
    (logSources === 0 && values.filing === undefined) ||
    values["public-key"] === undefined
  ) {
    console.error(USAGE);
    return 2;
  }
  const checks: Check[] = [];
  try {
    const publicKey = publicKeyFromPem(await readFile(values["public-key"], "utf8"));
    const base = values.url?.replace(/\/+$/u, "");
    const exported =
      logSources === 0
        ? undefined
        : ((base !== undefined
            ? await fetchJson(`${base}/export`, values.token)
            : JSON.parse(await readFile(values.export ?? "", "utf8"))) as EvidenceExport);
    const keyName = values["key-name"] === undefined ? {} : { keyName: values["key-name"] };
    if (values.filing !== undefined) {
      const document = JSON.parse(await readFile(values.filing, "utf8")) as FilingDocument;
      checks.push(
        ...verifyFiling({ document, publicKey, ...keyName, ...(exported ? { export: exported } : {}) }),
      );
    }
    const trusted =
      values["trusted-checkpoint"] === undefined
        ? undefined
        : await readFile(values["trusted-checkpoint"], "utf8");
    const inclusion: InclusionClaim[] = [];
    for (const file of values.inclusion ?? []) {
      inclusion.push(JSON.parse(await readFile(file, "utf8")) as InclusionClaim);
    }
    if (exported) {
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
          ...keyName,
          ...(trusted === undefined ? {} : { trustedCheckpoint: trusted }),
          inclusion,
        }),
      );
    }
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
