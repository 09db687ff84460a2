// The dashboard API under test, in this process, as the integration tests
// start it: a private database with the API's migrations (database.ts), a
// signing key whose tokens the API accepts, the gateway beside it
// (gateway.ts) and the API's own app (buildApp) listening on loopback, with
// the API's Kubernetes access to the harness's cluster. close() stops both
// servers, then drops the database.
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { ApiClientOptions } from "@tds/wire";
import { buildApp, type BuildAppOptions } from "@tds/dashboard-api/app";
import {
  generateDevKey,
  jwksOf,
  mintToken,
  type DevKey,
  type MintOptions,
} from "@tds/dashboard-api/auth-keys";
import { createTokenVerifier, type TokenVerifier } from "@tds/dashboard-api/auth-tokens";
import { apiKubeClient } from "@tds/dashboard-api/kube";
import { eventually, kubeConfig } from "../harness/testkit.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { startGateway, type TestGateway } from "./gateway.ts";

export interface TestApi {
  readonly db: TestDatabase;
  /** The database's pool, which the API and the gateway share. */
  readonly pool: pg.Pool;
  readonly key: DevKey;
  /** Verifies the key's tokens: for a second API on the same database. */
  readonly verifyToken: TokenVerifier;
  readonly gateway: TestGateway;
  readonly app: FastifyInstance;
  /** http(s)://127.0.0.1:<port> */
  readonly url: string;
  /** A token of the key, which the API accepts. */
  token(claims: MintOptions): Promise<string>;
  /** The operator's API client options: the API's URL and an operator token. */
  operatorClient(): Promise<ApiClientOptions>;
  /** The actions of a space's evidence entries about one object (its uid), in log order. */
  evidenceActions(space: string, uid: string): Promise<string[]>;
  /** Waits (60 s at most) until a space's evidence about one object (its uid) has an entry of `action`; the actions then. */
  untilEvidence(space: string, uid: string, action: string): Promise<string[]>;
  close(): Promise<void>;
}

/** How the API and the gateway are wired, where a test needs more than the defaults. */
export interface ApiWiring {
  /** The gateway's options (support/gateway.ts). */
  readonly gateway?: Parameters<typeof startGateway>[1];
  /** More of buildApp's options (dsp, evidence, https, …); kube is the harness cluster's unless given. */
  readonly app?: Omit<Partial<BuildAppOptions>, "pool" | "verifyToken">;
  /** A port picked before (freePort), when the API's URL must be known before it starts; default any. */
  readonly port?: number;
  /** What the API verifies tokens with, given the key's verifier (withOidc around it, say); the key's alone by default. */
  readonly verifyToken?: (key: TokenVerifier) => TokenVerifier;
}

/**
 * Starts the API and its gateway on a new database named `<prefix>_<random>`.
 * `wire` may depend on the pool and the key (a DSP engine, a token minted
 * before the servers start); it runs after the database is migrated.
 */
export async function startApi(
  prefix: string,
  wire:
    ApiWiring | ((base: { pool: pg.Pool; token: TestApi["token"] }) => ApiWiring | Promise<ApiWiring>) = {},
  opts: { readonly maxConnections?: number } = {},
): Promise<TestApi> {
  const db = await createTestDatabase(prefix, { migrate: true, maxConnections: opts.maxConnections });
  const pool = db.pool;
  const key = await generateDevKey();
  const token = (claims: MintOptions) => mintToken(key, claims);
  const w = typeof wire === "function" ? await wire({ pool, token }) : wire;
  const verifyToken = createTokenVerifier({ jwks: jwksOf(key) });
  const gateway = await startGateway(pool, w.gateway);
  const app = await buildApp({
    kube: apiKubeClient(kubeConfig()),
    ...w.app,
    pool,
    verifyToken: w.verifyToken ? w.verifyToken(verifyToken) : verifyToken,
  });
  const url = await app.listen({ host: "127.0.0.1", port: w.port ?? 0 });
  const evidenceActions: TestApi["evidenceActions"] = async (space, uid) => {
    const r = await pool.query<{ action: string }>(
      "select convert_from(entry, 'UTF8')::jsonb ->> 'action' as action from evidence_entries where space = $1 and convert_from(entry, 'UTF8')::jsonb -> 'object' ->> 'uid' = $2 order by leaf_index",
      [space, uid],
    );
    return r.rows.map((x) => x.action);
  };
  return {
    db,
    pool,
    key,
    verifyToken,
    gateway,
    app,
    url,
    token,
    async operatorClient() {
      const t = await token({ role: "operator", subject: "system:tds-operator" });
      return { url, token: () => Promise.resolve(t) };
    },
    evidenceActions,
    untilEvidence: (space, uid, action) =>
      eventually(
        `evidence ${action} about ${uid}`,
        async () => {
          const actions = await evidenceActions(space, uid);
          return actions.includes(action) ? actions : undefined;
        },
        60_000,
      ),
    async close() {
      await app.close();
      await gateway.close();
      await db.drop();
    },
  };
}
