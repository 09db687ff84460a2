// The gateway beside an API under test: the gateway's own app (@tds/gateway,
// as its process builds it) on the test's database, listening on a free
// loopback port, with the harness's S3 and API server. Tests call /v1/data and
// /v1/sandbox here, and the API's routes on the API's app.
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { buildGatewayApp, gatewayFromEnv, type GatewayAppOptions, type GatewayOptions } from "@tds/gateway";

export interface TestGateway {
  readonly app: FastifyInstance;
  /** http(s)://127.0.0.1:<port> */
  readonly url: string;
  close(): Promise<void>;
}

export async function startGateway(
  pool: pg.Pool,
  opts: {
    /** Over process.env: TDS_GATEWAY_MONITOR_MS, say. */
    readonly env?: Record<string, string>;
    /** Over the options from the environment: transferTokens, participantTokens. */
    readonly gateway?: Partial<GatewayOptions>;
    /** HTTPS and client certificates, as the process serves them with TDS_TLS_*. */
    readonly tls?: Pick<GatewayAppOptions, "https" | "certificates">;
    /** A port picked before (freePort), when the gateway's URL must be known before it starts; default any. */
    readonly port?: number;
  } = {},
): Promise<TestGateway> {
  const gateway = gatewayFromEnv({ ...process.env, ...opts.env }, pool);
  const app = await buildGatewayApp({ ...opts.tls, pool, gateway: { ...gateway, ...opts.gateway } });
  const url = await app.listen({ host: "127.0.0.1", port: opts.port ?? 0 });
  return { app, url, close: () => app.close() };
}

/**
 * Reads an open download until it ends or fails: true when it was cut before
 * all `total` bytes arrived (the gateway stopping a stream it no longer allows).
 */
export async function cutShort(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  total: number,
): Promise<boolean> {
  let n = 0;
  try {
    for (let i = 0; i < 100_000; i++) {
      const r = await reader.read();
      if (r.done) return n < total;
      n += r.value.length;
    }
  } catch {
    return true;
  }
  return false;
}
