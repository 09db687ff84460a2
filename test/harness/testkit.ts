// Helpers for integration tests against the local environment: a KubeConfig
// from $KUBECONFIG, idempotent CRD installation, polling, and a TCP proxy that
// injects network faults between a client and the real API server.
import { execFileSync } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@tds/kube";
import { repoRoot } from "./environment.ts";

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run integration tests through the harness (make test)`);
  return v;
}

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(env("KUBECONFIG"));
  return kc;
}

/** A kubeconfig for the harness's API server that authenticates with a bearer token (a ServiceAccount's). */
export function kubeConfigWithToken(token: string, user = "token-user"): KubeConfig {
  const cluster = kubeConfig().getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: cluster.name, user }],
    currentContext: user,
  });
  return kc;
}

export function kubectl(args: readonly string[], input?: string): string {
  return execFileSync(join(env("TDS_BIN_DIR"), "kubectl"), args, {
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: env("KUBECONFIG") },
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Installs the generated CRDs with server-side apply (safe to run from parallel test files). */
export function installCrds(): void {
  const dir = join(repoRoot, "crds/generated");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=tds-tests",
    ...files.flatMap((f) => ["-f", join(dir, f)]),
  ]);
  kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...files.map((f) => `crd/${f.replace(/\.yaml$/, "")}`),
  ]);
}

/** Polls until `check` returns a value other than undefined/false, or fails with the last observation. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last: ${String(last)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A TCP proxy in front of a real server. `freeze()` keeps current connections
 * open but stops forwarding bytes (a silent, half-dead connection, as after a
 * NAT or load-balancer timeout); `cut()` resets current connections.
 */
export class FaultProxy {
  private readonly sockets = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  private server: Server | undefined;
  port = 0;
  /** Connections accepted since start. */
  accepted = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      this.accepted++;
      const upstream = connect(this.targetPort, this.host);
      const pair = { client, upstream, frozen: false };
      this.sockets.add(pair);
      const forward = (from: Socket, to: Socket) => {
        from.on("data", (chunk) => {
          if (!pair.frozen) to.write(chunk);
        });
      };
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        this.sockets.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", close);
      upstream.on("error", close);
      client.on("close", close);
      upstream.on("close", close);
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const addr = server.address();
    this.port = typeof addr === "object" && addr ? addr.port : 0;
  }

  /** Stops forwarding on the connections open now; new connections work normally. */
  freeze(): void {
    for (const pair of this.sockets) pair.frozen = true;
  }

  /** Resets every open connection. */
  cut(): void {
    for (const { client, upstream } of this.sockets) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.sockets.clear();
  }

  get connections(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    this.cut();
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
  }
}

/** A KubeConfig like the environment's, but pointed at a proxy on `port`. */
export function kubeConfigVia(port: number): KubeConfig {
  const kc = kubeConfig();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const clusters = kc.clusters.map((c) =>
    c.name === cluster.name ? { ...c, server: `https://127.0.0.1:${port}` } : c,
  );
  const next = new KubeConfig();
  next.loadFromOptions({
    clusters,
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return next;
}

/**
 * Reads a response body to its end: the bytes read, and whether it ended in an
 * error (a cut stream) rather than cleanly.
 */
export async function readRest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ bytes: number; cut: boolean }> {
  let bytes = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { bytes, cut: false };
      bytes += value.length;
    }
  } catch {
    return { bytes, cut: true };
  }
}
