// TCP forwarders that make the machine's loopback services (the API server,
// PostgreSQL, the S3 store) reachable from pods, at the node's bridge address,
// an address the harness created itself: pods have no route to the machine's
// loopback. Each listens on the bridge address with the same port as the
// service it forwards to. What a pod may reach is then up to the
// NetworkPolicies (the sandbox egress probes check that none of these is
// reachable from a sandbox).
import { createConnection, createServer, type Server, type Socket } from "node:net";

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
