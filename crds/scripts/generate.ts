// Writes everything derived from the schemas: crds/generated/<plural>.tds.dev.yaml,
// the same files in charts/tds/crds/ for Helm, and docs/api.md.
// Run with `make generate`; `make check-generated` fails when the output drifts.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "prettier";
import { stringify } from "yaml";
import { renderApiReference } from "../src/apidocs.ts";
import { buildAllCustomResourceDefinitions, GENERATED_HEADER } from "../src/crd.ts";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function writeCrds(dir: string, files: ReadonlyMap<string, string>): void {
  mkdirSync(dir, { recursive: true });
  // Remove CRDs of kinds that no longer exist, so a rename cannot leave one behind.
  for (const f of readdirSync(dir)) if (f.endsWith(".tds.dev.yaml") && !files.has(f)) rmSync(join(dir, f));
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
}

const files = new Map<string, string>();
for (const crd of buildAllCustomResourceDefinitions()) {
  files.set(
    `${crd.metadata.name}.yaml`,
    `${GENERATED_HEADER}\n${stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })}`,
  );
}
writeCrds(join(repoRoot, "crds/generated"), files);
writeCrds(join(repoRoot, "charts/tds/crds"), files);

// Prettier owns the formatting of docs/ (`make lint` checks it), so the generator uses it too.
const markdown = await format(renderApiReference(), { parser: "markdown", printWidth: 110 });
writeFileSync(join(repoRoot, "docs/api.md"), markdown);
console.log(`wrote ${files.size} CRDs to crds/generated and charts/tds/crds, and docs/api.md`);
