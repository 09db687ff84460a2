// TCP forwarders that make the machine's loopback services (the API server,
// PostgreSQL, the S3 store) reachable from pods, at the node's bridge address,
// an address the harness created itself: pods have no route to the machine's
// loopback. Each listens on the bridge address with the same port as the
// service it forwards to. What a pod may reach is then up to the
// NetworkPolicies (the sandbox egress probes check that none of these is
// reachable from a sandbox). The environment runs them as a process of their
// own (startForwarders), so that a synchronous call in the harness's process
// (a `kubectl wait`, say) never stalls a pod's connection:
//   node --import tsx test/harness/forward.ts LISTEN_HOST PORT...
import { connect, createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

export interface Forwarder {
  readonly address: string;
  readonly port: number;
  readonly stop: () => Promise<void>;
}

export async function forwardTcp(
  listenHost: string,
  port: number,
  targetHost = "127.0.0.1",
): Promise<Forwarder> {
  const open = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = createConnection({ host: targetHost, port });
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on("close", () => open.delete(s));
      s.on("error", () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, listenHost, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: listenHost,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** The port of a URL, or of a PostgreSQL connection string. */
export function portOf(url: string): number {
  const u = new URL(url);
  const port = Number(
    u.port ||
      (u.protocol === "https:"
        ? 443
        : u.protocol === "postgresql:" || u.protocol === "postgres:"
          ? 5432
          : 80),
  );
  if (!Number.isSafeInteger(port) || port <= 0) throw new Error(`no port in ${url}`);
  return port;
}

/** `url` with its host replaced (the address pods reach the service at). */
export function withHost(url: string, host: string): string {
  const u = new URL(url);
  u.hostname = host;
  return u.toString().replace(/\/$/, url.endsWith("/") ? "/" : "");
}

/** Starts the forwarders for `ports` on `host` in a process of their own, and waits until each accepts. */
export async function startForwarders(
  host: string,
  ports: readonly number[],
  logDir: string,
): Promise<ManagedProcess> {
  const proc = startProcess({
    name: "forwarder",
    command: process.execPath,
    args: ["--import", "tsx", import.meta.filename, host, ...ports.map(String)],
    logFile: join(logDir, "forwarder.log"),
  });
  for (const port of ports)
    await waitUntil(
      `forwarder ${host}:${String(port)}`,
      proc,
      () =>
        new Promise<boolean>((resolve) => {
          const s = connect({ host, port }, () => {
            s.destroy();
            resolve(true);
          });
          s.on("error", () => {
            resolve(false);
          });
        }),
      30_000,
    );
  return proc;
}

if (import.meta.main) {
  const [host, ...ports] = process.argv.slice(2);
  if (!host || ports.length === 0) {
    console.error("usage: forward.ts LISTEN_HOST PORT...");
    process.exit(2);
  }
  const forwarders = await Promise.all(ports.map((p) => forwardTcp(host, Number(p))));
  console.log(`forwarding ${host}:{${ports.join(",")}} to 127.0.0.1`);
  const stop = () => {
    void Promise.all(forwarders.map((f) => f.stop())).then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
