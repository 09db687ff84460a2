// Helpers for integration tests: a private database per test file on the shared
// server, and the API server as a child process (so tests can SIGKILL it).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import pg from "pg";

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop: () => Promise<void>;
}

export async function createTestDatabase(prefix = "tds_api"): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error("DATABASE_URL is not set: run under `make test` or eval the harness env");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        // pg's Pool.end() resolves before its clients' connections have closed: give them up to
        // 5 s to go, so FORCE does not cut a closing client (an uncaught error in the test process).
        for (let i = 0; i < 100; i++) {
          const { rows } = await c.query<{ n: string }>(
            "select count(*)::text as n from pg_stat_activity where datname = $1",
            [name],
          );
          if (rows[0]?.n === "0") break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

export interface ServerProcess {
  readonly url: string;
  /** Prometheus /metrics, on the metrics port (TDS_METRICS_PORT). */
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

const serverEntry = fileURLToPath(new URL("./server.ts", import.meta.url));

export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", serverEntry], {
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      TDS_METRICS_PORT: String(metricsPort),
      HOST: "127.0.0.1",
      LOG_LEVEL: env.LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early: ${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, metricsUrl: `http://127.0.0.1:${String(metricsPort)}/metrics`, child, output: () => out };
}

export async function stopServer(s: ServerProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill(signal);
  await exited;
}
