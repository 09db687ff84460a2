// The harness stops everything it started, even when the command it runs fails:
// no process and no listening port is left behind, and its real node leaves no
// mounts, network namespaces, links, cgroups, firewall rules, ipsets or changed sysctls.
// `make test` runs this file on its own before the suite's environment starts,
// because one machine runs one real node (see test/harness/node.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { nodeLeftovers, nodeNames, realNodeUnavailable } from "../harness/node.ts";

const cli = resolve(import.meta.dirname, "../harness/cli.ts");

/** The environment without the overrides that would make the harness use an existing database or store. */
function embeddedOnly(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([k]) => k !== "DATABASE_URL" && k !== "TDS_CLUSTER" && !k.startsWith("TDS_S3_"),
    ),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((r) => {
    const s = connect(Number(u.port), u.hostname);
    s.once("connect", () => {
      s.destroy();
      r(true);
    });
    s.once("error", () => {
      r(false);
    });
  });
}

test("a failing command run through the harness leaves no processes or ports behind", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tds-harness-"));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must reach its data folder
  const snapshot = join(dir, "snapshot.json");
  try {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", cli, "run", "--", "sh", "-c", `cp "$TDS_STATE_DIR/env.json" "${snapshot}"; exit 3`],
      {
        env: { ...embeddedOnly(process.env), TDS_STATE_DIR: join(dir, "state") },
        encoding: "utf8",
        timeout: 300_000,
      },
    );
    assert.equal(r.status, 3, `the command's exit code is passed through; stderr: ${r.stderr}`);
    const state = JSON.parse(readFileSync(snapshot, "utf8")) as {
      pids: number[];
      info: {
        KUBECONFIG: string;
        DATABASE_URL: string;
        TDS_S3_ENDPOINT: string;
        TDS_ETCD_ENDPOINT: string;
        TDS_REAL_NODE: string;
        TDS_NODE_ABSENT: string;
      };
    };
    const names = nodeNames(join(dir, "state"));
    assert.ok(
      state.info.TDS_REAL_NODE,
      `the environment had a real node (absent: ${state.info.TDS_NODE_ABSENT || String(realNodeUnavailable(join(dir, "state")))})`,
    );
    assert.deepEqual(nodeLeftovers(names), [], "the real node left nothing behind");
    assert.ok(
      state.pids.length >= 5,
      "etcd, kube-apiserver, kube-controller-manager, postgres and the S3 server ran",
    );
    for (const pid of state.pids) assert.equal(alive(pid), false, `process ${pid} is still running`);
    const server = readFileSync(state.info.KUBECONFIG, "utf8").match(/server: (\S+)/)?.[1] ?? "";
    const pgPort = new URL(state.info.DATABASE_URL).port;
    for (const url of [
      server,
      state.info.TDS_S3_ENDPOINT,
      state.info.TDS_ETCD_ENDPOINT,
      `tcp://127.0.0.1:${pgPort}`,
    ]) {
      assert.equal(await listening(url), false, `${url} is still listening`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
