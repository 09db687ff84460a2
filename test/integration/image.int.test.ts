// The production image as a node runs it: infra/image/build.ts writes the OCI
// layout; this test checks the layout (digests, config, what the layer holds
// and does not), has crane push it to a registry and validate it, unpacks the layer as a runtime would, and runs both entry
// points with Debian's runc: read-only root filesystem, uid 65532, a tmpfs
// at /tmp (the chart's emptyDir), host networking. The dashboard API must
// answer /healthz, /readyz (it migrated a real database) and serve its docs
// page (the copied swagger-ui assets); the operator must answer /healthz and
// /metrics against the local kube-apiserver.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import pg from "pg";
import { join } from "node:path";
import {
  buildImage,
  entryPoints,
  IMAGE_USER,
  NODE_PATH,
  pinnedNode,
  type BuiltImage,
} from "../../infra/image/build.ts";
import { MEDIA_TYPES, readBlob, sha256 } from "../../infra/image/oci-layout.ts";
import { createTestDatabase, type TestDatabase } from "@tds/test/database";
import { freePort } from "../harness/processes.ts";
import { releaseToolsDir } from "../harness/chart.ts";
import { env, eventually, kubectl } from "../harness/testkit.ts";

const run = randomBytes(3).toString("hex");
const scratch = mkdtempSync(join(tmpdir(), "tds-image-"));
let built: BuiltImage;
let db: TestDatabase;
const rootfs = join(scratch, "unpacked");
const operatorNs = `tds-image-${run}`;

before(async () => {
  built = await buildImage({ out: join(scratch, "build"), node: pinnedNode() });
  db = await createTestDatabase("tds_image");
});
after(async () => {
  await db.drop();
  try {
    kubectl(["delete", "namespace", operatorNs, "--wait=false", "--ignore-not-found"]);
  } catch {
    // the namespace was never made
  }
  rmSync(scratch, { recursive: true, force: true });
});

interface Manifest {
  mediaType: string;
  config: { digest: string; size: number; mediaType: string };
  layers: { digest: string; size: number; mediaType: string }[];
}
interface Config {
  config: { User: string; Entrypoint: string[]; Env: string[] };
  rootfs: { diff_ids: string[] };
}

test("the OCI layout is consistent: index, manifest, config and layer digests match their bytes", () => {
  const index = JSON.parse(readFileSync(join(built.layout, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations: Record<string, string> }[];
  };
  assert.equal(index.manifests.length, 1);
  const ref = index.manifests[0];
  assert.ok(ref);
  assert.equal(ref.digest, built.digest);
  assert.equal(ref.annotations["org.opencontainers.image.ref.name"], "tds:0.1.0");
  const manifestBytes = readBlob(built.layout, ref.digest);
  assert.equal(sha256(manifestBytes), ref.digest);
  const manifest = JSON.parse(manifestBytes.toString()) as Manifest;
  assert.equal(manifest.mediaType, MEDIA_TYPES.manifest);
  const configBytes = readBlob(built.layout, manifest.config.digest);
  assert.equal(sha256(configBytes), manifest.config.digest);
  assert.equal(configBytes.length, manifest.config.size);
  const config = JSON.parse(configBytes.toString()) as Config;
  assert.equal(config.config.User, `${IMAGE_USER}:${IMAGE_USER}`, "a numeric non-root user");
  assert.deepEqual(config.config.Entrypoint, [NODE_PATH]);
  assert.equal(manifest.layers.length, 1);
  const layer = manifest.layers[0];
  assert.ok(layer);
  const blob = readBlob(built.layout, layer.digest);
  assert.equal(sha256(blob), layer.digest);
  assert.equal(blob.length, layer.size);
  const tar = execFileSync("gzip", ["-dc"], { input: blob, maxBuffer: 2 ** 31 });
  assert.equal(sha256(tar), config.rootfs.diff_ids[0], "diff_id is the uncompressed layer's digest");
  const entries = execFileSync("tar", ["-tvf", "-"], { input: tar, maxBuffer: 2 ** 28, encoding: "utf8" })
    .trim()
    .split("\n");
  const names = new Set(entries.map((l) => l.split(/\s+/).at(-1)?.replace(/^\.\//, "")));
  for (const f of [
    "usr/local/bin/node",
    entryPoints.operator.bundle.slice(1),
    entryPoints["dashboard-api"].bundle.slice(1),
    "app/dashboard-api/migrations/0000000000001_metering.sql",
    "app/node_modules/@fastify/swagger-ui/package.json",
    "etc/passwd",
    "lib64/ld-linux-x86-64.so.2",
  ])
    assert.ok(names.has(f), `${f} in the layer`);
  for (const n of names) {
    assert.ok(!n?.includes("node_modules/tsx/"), `no tsx: ${n ?? ""}`);
    assert.ok(!n?.includes("node_modules/typescript/"), `no typescript: ${n ?? ""}`);
    assert.ok(
      !(n?.startsWith("app/") && !n.includes("node_modules/") && /\.ts$/.test(n)),
      `no sources: ${n ?? ""}`,
    );
  }
  assert.ok(
    entries.every((l) => l.split(/\s+/)[1] === "0/0"),
    "every file owned by root (read-only for the user)",
  );
  // Unpack as a runtime would, for the runs below.
  mkdirSync(rootfs);
  execFileSync("tar", ["-xf", "-", "-C", rootfs], { input: tar, maxBuffer: 2 ** 31 });
});

test("crane (go-containerregistry) pushes the layout to a registry, which serves it under the same digest", async () => {
  const crane = join(releaseToolsDir(), "crane");
  const port = await freePort();
  const registry = spawn(crane, ["registry", "serve", "--address", `127.0.0.1:${port}`], { stdio: "ignore" });
  try {
    const ref = `127.0.0.1:${port}/tds/tds:0.1.0`;
    await eventually(
      "the registry to listen",
      async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined))?.ok === true,
    );
    execFileSync(crane, ["push", built.layout, ref, "--insecure"], { stdio: "pipe" });
    assert.equal(
      execFileSync(crane, ["digest", ref, "--insecure"], { encoding: "utf8" }).trim(),
      built.digest,
    );
    const config = JSON.parse(
      execFileSync(crane, ["config", ref, "--insecure"], { encoding: "utf8" }),
    ) as Config;
    assert.equal(config.config.User, `${IMAGE_USER}:${IMAGE_USER}`);
    execFileSync(crane, ["validate", "--remote", ref, "--insecure"], { stdio: "pipe" });
  } finally {
    registry.kill();
  }
});

/** Runs `args` in the unpacked image with runc; returns a stop function. */
function runc(
  name: string,
  args: string[],
  processEnv: Record<string, string>,
  binds: { src: string; dst: string }[] = [],
) {
  const bundle = join(scratch, `bundle-${name}`);
  mkdirSync(bundle);
  execFileSync("runc", ["spec", "--bundle", bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as {
    root: unknown;
    process: Record<string, unknown>;
    mounts: unknown[];
    linux: { namespaces: { type: string }[] };
  };
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.user = { uid: IMAGE_USER, gid: IMAGE_USER };
  spec.process.args = args;
  spec.process.cwd = "/app";
  spec.process.env = [
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "HOME=/tmp",
    "TMPDIR=/tmp",
    ...Object.entries(processEnv).map(([k, v]) => `${k}=${v}`),
  ];
  // Host networking: the harness's API server, PostgreSQL and S3 listen on loopback.
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
  spec.mounts.push(
    {
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777", "size=64m"],
    },
    ...binds.map((b) => ({ destination: b.dst, type: "bind", source: b.src, options: ["rbind", "ro"] })),
  );
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  const id = `tds-image-${run}-${name}`;
  const log: string[] = [];
  const child = spawn("runc", ["run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d: Buffer) => log.push(d.toString()));
  child.stderr.on("data", (d: Buffer) => log.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return {
    log,
    exited,
    stop: async () => {
      try {
        execFileSync("runc", ["kill", id, "KILL"], { stdio: "ignore" });
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      execFileSync("runc", ["delete", "--force", id], { stdio: "ignore" });
    },
  };
}

test("node runs in the image as uid 65532 on a read-only root, writing only /tmp", async () => {
  const c = runc(
    "node",
    [
      NODE_PATH,
      "-e",
      `const fs = require("node:fs");
     fs.writeFileSync("/tmp/probe", "ok");
     let readOnly = false;
     try { fs.writeFileSync("/app/probe", "x"); } catch (e) { readOnly = e.code === "EROFS"; }
     console.log(JSON.stringify({ version: process.version, uid: process.getuid(), readOnly }));`,
    ],
    {},
  );
  const code = await c.exited;
  await c.stop();
  assert.equal(code, 0, c.log.join(""));
  const out = JSON.parse(c.log.join("").trim()) as { version: string; uid: number; readOnly: boolean };
  assert.equal(out.version, execFileSync(pinnedNode(), ["--version"], { encoding: "utf8" }).trim());
  assert.equal(out.uid, IMAGE_USER);
  assert.equal(out.readOnly, true);
});

/** A copy of the harness kubeconfig the image's user can read. */
function readableKubeconfig(): string {
  const dir = join(scratch, "kube");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "config");
  copyFileSync(env("KUBECONFIG"), file);
  chmodSync(file, 0o644);
  return dir;
}

const s3Env = () => ({
  TDS_S3_ENDPOINT: env("TDS_S3_ENDPOINT"),
  TDS_S3_ADMIN_ENDPOINT: env("TDS_S3_ADMIN_ENDPOINT"),
  TDS_S3_REGION: env("TDS_S3_REGION"),
  TDS_S3_ACCESS_KEY_ID: env("TDS_S3_ACCESS_KEY_ID"),
  TDS_S3_SECRET_ACCESS_KEY: env("TDS_S3_SECRET_ACCESS_KEY"),
});

test("the dashboard API's entry point starts from the image: migrates, answers /healthz, /readyz, /docs and /metrics on its own port", async () => {
  const port = await freePort();
  const metricsPort = await freePort();
  const c = runc(
    "api",
    [NODE_PATH, entryPoints["dashboard-api"].bundle],
    {
      HOST: "127.0.0.1",
      PORT: String(port),
      TDS_METRICS_PORT: String(metricsPort),
      DATABASE_URL: db.url,
      KUBECONFIG: "/etc/tds/kube/config",
      TDS_AUTH_DEV_KEY_FILE: "/tmp/dev-key.json",
    },
    [{ src: readableKubeconfig(), dst: "/etc/tds/kube" }],
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await eventually(`the API in the image to be ready (${c.log.join("").slice(-400)})`, async () => {
      const r = await fetch(`${base}/readyz`).catch(() => undefined);
      return r?.status === 200;
    });
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const docs = await fetch(`${base}/docs/`);
    assert.equal(docs.status, 200, "swagger-ui's static files are in the image");
    assert.match(await docs.text(), /swagger/i);
    assert.equal((await fetch(`${base}/metrics`)).status, 404, "no metrics on the public port");
    assert.match(await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text(), /^# HELP /m);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>("select count(*) as n from tds_migrations");
      assert.ok(Number(rows[0]?.n) >= 5, `migrations applied: ${rows[0]?.n ?? "none"}`);
    } finally {
      await client.end();
    }
  } finally {
    await c.stop();
  }
});

test("the operator's entry point starts from the image against the local API server: /healthz and /metrics", async () => {
  const port = await freePort();
  const c = runc(
    "operator",
    [NODE_PATH, entryPoints.operator.bundle],
    {
      TDS_OPERATOR_HOST: "127.0.0.1",
      TDS_OPERATOR_PORT: String(port),
      TDS_OPERATOR_NAMESPACE: operatorNs,
      TDS_LEASE_NAME: `tds-image-${run}`,
      // Reconciles no space of the other tests.
      TDS_SPACE_SELECTOR: `tds.dev/image-test=${run}`,
      KUBECONFIG: "/etc/tds/kube/config",
      ...s3Env(),
    },
    [{ src: readableKubeconfig(), dst: "/etc/tds/kube" }],
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await eventually(`the operator in the image to answer (${c.log.join("").slice(-400)})`, async () => {
      const r = await fetch(`${base}/healthz`).catch(() => undefined);
      return r?.status === 200;
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /tds_leader/);
    await eventually("the operator in the image to lead", async () =>
      /^tds_leader 1$/m.test(await (await fetch(`${base}/metrics`)).text()),
    );
  } finally {
    await c.stop();
  }
});
