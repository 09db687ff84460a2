// The API server as a child process for integration tests (so they can
// SIGKILL it), and a free port for servers a test starts itself.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

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

// The entry point as a file to run, not a module to import (importing it starts a server).
const serverEntry = fileURLToPath(new URL("../../dashboard-api/src/server.ts", import.meta.url));

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
  // Two minutes: a loaded machine compiles the API (tsx) and applies every migration first.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early: ${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      // A server left running would keep the test process alive after the failure.
      child.kill("SIGKILL");
      throw new Error(`server not ready after 120 s: ${out}`);
    }
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
