// The gateway beside an API under test: the gateway's own app (@tds/gateway,
// as its process builds it) on the test's database, listening on a free
// loopback port, with the harness's S3 and API server. Tests call /v1/data and
// /v1/sandbox here, and the API's routes on the API's app.
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { eventually } from "../harness/testkit.ts";
import { buildGatewayApp, gatewayFromEnv, type GatewayAppOptions, type GatewayOptions } from "@tds/gateway";

export interface TestGateway {
  readonly app: FastifyInstance;
  /** http(s)://127.0.0.1:<port> */
  readonly url: string;
  /** GET /v1/data/<agreement>/<key> with a bearer token (and more headers: idempotency-key, say). */
  data(agreementId: string, key: string, token: string, headers?: Record<string, string>): Promise<Response>;
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
  return {
    app,
    url,
    data: (agreementId, key, token, headers = {}) =>
      fetch(`${url}/v1/data/${agreementId}/${key}`, {
        headers: { authorization: `Bearer ${token}`, ...headers },
      }),
    close: () => app.close(),
  };
}

/**
 * Repeats a request until it is served (200), cancelling the bodies of the
 * answers before; the served response. For access that comes back a little
 * after its contract does (the gateway's grants follow the contracts' watch).
 */
export function servedEventually(what: string, request: () => Promise<Response>): Promise<Response> {
  return eventually(
    what,
    async () => {
      const res = await request();
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    },
    60_000,
  );
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
