// The package boundaries of docs/architecture.md, kept by a test: which
// workspace package may import which, that no relative import crosses a
// package's root, that every package imported is declared, that crds depends at
// run time on TypeBox alone, and that the operator's dependency tree holds no
// web server or database driver. A new workspace must be placed in IMPORTS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";

const root = resolve(import.meta.dirname, "../..");

/**
 * The direction of imports between TDS packages, for production code (files
 * that are not tests). Leaves first; each package names the TDS packages it
 * may import. Tests (`*.test.ts`) may also import `@tds/test`.
 */
const IMPORTS: Readonly<Record<string, readonly string[]>> = {
  "@tds/telemetry": [],
  "@tds/crds": [],
  "@tds/kube": ["@tds/crds"],
  "@tds/oidc": [],
  "@tds/wire": ["@tds/crds"],
  "@tds/operator": ["@tds/crds", "@tds/kube", "@tds/oidc", "@tds/wire", "@tds/telemetry"],
  "@tds/dashboard-api": ["@tds/crds", "@tds/kube", "@tds/oidc", "@tds/wire", "@tds/telemetry"],
  "@tds/gateway": [
    "@tds/crds",
    "@tds/kube",
    "@tds/oidc",
    "@tds/wire",
    "@tds/telemetry",
    "@tds/dashboard-api",
  ],
  "@tds/cdk8s": ["@tds/crds"],
  "@tds/infra": ["@tds/crds"],
  // The harness and the cross-package tests use every package.
  "@tds/test": [
    "@tds/telemetry",
    "@tds/crds",
    "@tds/kube",
    "@tds/oidc",
    "@tds/wire",
    "@tds/operator",
    "@tds/dashboard-api",
    "@tds/gateway",
    "@tds/cdk8s",
    "@tds/infra",
  ],
};

interface Pkg {
  readonly name: string;
  readonly dir: string;
  readonly dependencies: Readonly<Record<string, string>>;
  readonly devDependencies: Readonly<Record<string, string>>;
}

const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

const { workspaces } = readJson(join(root, "package.json")) as { workspaces: string[] };
const packages: Pkg[] = workspaces.map((ws) => {
  const p = readJson(join(root, ws, "package.json")) as Partial<Pkg> & { name: string };
  return {
    name: p.name,
    dir: join(root, ws),
    dependencies: p.dependencies ?? {},
    devDependencies: p.devDependencies ?? {},
  };
});

/** The package a file belongs to: the deepest workspace folder holding it. */
function packageOf(file: string): Pkg | undefined {
  let best: Pkg | undefined;
  for (const p of packages)
    if (file.startsWith(p.dir + sep) && (!best || p.dir.length > best.dir.length)) best = p;
  return best;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", "dist", "generated", ".tds", ".tools"].includes(e.name)) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.(ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

const SPECIFIER =
  /(?:^|[^.\w])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3] ?? "").filter(Boolean);
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
const packageName = (spec: string): string =>
  spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec);

const builtin = (spec: string): boolean =>
  spec.startsWith("node:") || builtinModules.includes(packageName(spec));

const isTest = (file: string): boolean => /\.test\.ts$/.test(file) || file.includes(`${sep}test${sep}`);
/** Build tools (generators, the image build) run from a checkout, with dev dependencies. */
const isTool = (file: string): boolean =>
  file.includes(`${sep}scripts${sep}`) || file.includes(`${sep}infra${sep}image${sep}`);

/**
 * What breaks the boundaries today, written down so that it can only shrink
 * (issue 15): a check fails on anything not listed, and the last test fails on
 * an entry that no longer occurs, so a fix removes its line.
 */
const KNOWN: ReadonlySet<string> = new Set<string>(
  JSON.parse(readFileSync(join(import.meta.dirname, "boundaries.known.json"), "utf8")) as string[],
);
const seen = new Set<string>();
function onlyKnown(found: readonly string[]): void {
  for (const f of found) seen.add(f);
  assert.deepEqual(
    [...new Set(found)].filter((f) => !KNOWN.has(f)),
    [],
    "a new boundary break (fix it; do not add it to test/integration/boundaries.known.json)",
  );
}

const files = packages.flatMap((p) =>
  sourceFiles(p.dir)
    .filter((f) => packageOf(f) === p)
    .map((f) => ({ file: f, pkg: p })),
);

test("every workspace package is placed in the import direction table", () => {
  const unplaced = packages.map((p) => p.name).filter((n) => !(n in IMPORTS));
  assert.deepEqual(
    unplaced,
    [],
    "add the new package to IMPORTS in test/integration/boundaries.test.ts and docs/architecture.md",
  );
});

test("TDS packages import only in the direction of docs/architecture.md", () => {
  const wrong: string[] = [];
  for (const { file, pkg } of files) {
    const allowed = new Set([...(IMPORTS[pkg.name] ?? []), pkg.name, ...(isTest(file) ? ["@tds/test"] : [])]);
    for (const spec of importsOf(file)) {
      if (!spec.startsWith("@tds/")) continue;
      const target = packageName(spec);
      if (!allowed.has(target))
        wrong.push(`${relative(root, file)} imports ${spec} (${pkg.name} may not import ${target})`);
    }
  }
  onlyKnown(wrong);
});

test("no relative import leaves its package", () => {
  const wrong: string[] = [];
  for (const { file, pkg } of files)
    for (const spec of importsOf(file)) {
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      if (packageOf(target) !== pkg || !target.startsWith(pkg.dir + sep))
        wrong.push(
          `${relative(root, file)} imports ${spec}: import the other package by name and a subpath export`,
        );
    }
  onlyKnown(wrong);
});

test("every package imported is declared in the importing package's package.json", () => {
  const missing: string[] = [];
  const rootPkg = readJson(join(root, "package.json")) as { devDependencies?: Record<string, string> };
  for (const { file, pkg } of files)
    for (const spec of importsOf(file)) {
      if (spec.startsWith(".") || builtin(spec)) continue;
      const name = packageName(spec);
      if (name === pkg.name) continue;
      const prod = name in pkg.dependencies;
      // Tests may use dev dependencies, and the repository's own tools (tsx, esbuild, eslint) from the root.
      const dev = name in pkg.devDependencies || name in (rootPkg.devDependencies ?? {});
      if (!(prod || ((isTest(file) || isTool(file)) && dev) || (pkg.name === "@tds/test" && dev)))
        missing.push(
          `${relative(root, file)} imports ${name}, which ${relative(root, pkg.dir)}/package.json does not declare${dev ? " as a run-time dependency" : ""}`,
        );
    }
  onlyKnown(missing);
});

test("crds depends at run time on TypeBox alone", () => {
  const crds = packages.find((p) => p.name === "@tds/crds");
  assert.ok(crds);
  assert.deepEqual(Object.keys(crds.dependencies), ["@sinclair/typebox"]);
});

/** The installed run-time dependency tree of a package (its dependencies, theirs, …). */
function runtimeTree(pkg: Pkg): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string, from: string): void => {
    if (seen.has(name)) return;
    // Resolve as Node does: the nearest node_modules up from the dependant.
    let dir = from;
    let manifest: string | undefined;
    for (;;) {
      const candidate = join(dir, "node_modules", name, "package.json");
      if (existsSync(candidate)) {
        manifest = realpathSync(candidate);
        break;
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    seen.add(name);
    if (!manifest) return;
    const m = readJson(manifest) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(m.dependencies ?? {})) visit(d, dirname(manifest));
  };
  for (const d of Object.keys(pkg.dependencies)) visit(d, pkg.dir);
  return seen;
}

test("the operator's dependency tree holds no web server or database driver", () => {
  const operator = packages.find((p) => p.name === "@tds/operator");
  assert.ok(operator);
  const tree = runtimeTree(operator);
  const banned = ["fastify", "pg", "@tds/dashboard-api", "@tds/gateway"].filter((n) => tree.has(n));
  assert.deepEqual(banned, []);
});

test('one spelling: "catalog", never "catalogue", in the code (docs/glossary.md)', () => {
  // The exceptions are this test and the pre-rename finalizer, which deletion still removes.
  const found = files.flatMap(({ file }) =>
    file === import.meta.filename
      ? []
      : readFileSync(file, "utf8")
          .split("\n")
          .flatMap((line, i) =>
            /catalogue/i.test(line) && !line.includes("PRE_RENAME_OFFER_FINALIZER =")
              ? [`${relative(root, file)}:${String(i + 1)}`]
              : [],
          ),
  );
  assert.deepEqual(found, []);
});

test("every known boundary break still occurs (remove the fixed ones from test/integration/boundaries.known.json)", () => {
  assert.deepEqual(
    [...KNOWN].filter((k) => !seen.has(k)),
    [],
  );
});
