// A TDS dashboard API with the DSP TCK's fixture space seeded, listening on
// loopback: startTckTarget() for the test, and `make dsp-tck-target` (this
// file's main) for anyone who runs the TCK from outside. It prints
// "DSP TCK target: <BASE_URL>", "DSP TCK authorization: <value>" and the
// fixture settings as "DSP TCK setting: key=value", then serves until Ctrl-C.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pg from "pg";
import { buildApp } from "@tds/dashboard-api/app";
import { TdsError } from "@tds/dashboard-api/errors";
import { sha256Hex } from "../../dashboard-api/src/dsp/identity.ts";
import { migrate } from "@tds/dashboard-api/migrate";
import { fixtureSettings, seed, tckBehaviour, TCK_PARTICIPANT, TCK_SPACE } from "./fixtures.ts";

export interface TckTarget {
  readonly baseUrl: string;
  readonly authorization: string;
  readonly participantId: string;
  /** Settings beyond the stock ones the TCK needs for this target (fixture ids, agent id). */
  readonly settings: Record<string, string>;
  readonly close: () => Promise<void>;
}

export async function startTckTarget(databaseUrl: string, port: number): Promise<TckTarget> {
  await migrate(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const participantId = `urn:tds:${TCK_SPACE}`;
  await seed(pool, participantId);
  const authorization = `Bearer tck-${randomBytes(16).toString("hex")}`;
  const origin = `http://127.0.0.1:${port.toString()}`;
  const app = await buildApp({
    pool,
    closePool: true,
    verifyToken: () => Promise.reject(new TdsError("unauthenticated", "No TDS tokens on the TCK target")),
    logger: { level: process.env.LOG_LEVEL ?? "warn" },
    dsp: {
      config: {
        [TCK_SPACE]: {
          participantId,
          counterparties: [{ id: TCK_PARTICIPANT, authorizationSha256: sha256Hex(authorization) }],
        },
      },
      behaviour: tckBehaviour,
      publicUrl: origin,
      tckTriggerSpace: TCK_SPACE,
      stepDelayMs: 300,
    },
  });
  await app.listen({ host: "127.0.0.1", port });
  return {
    baseUrl: `${origin}/dsp/${TCK_SPACE}`,
    authorization,
    participantId,
    settings: { "dataspacetck.dsp.connector.agent.id": participantId, ...fixtureSettings() },
    close: () => app.close(),
  };
}

async function main(): Promise<void> {
  const { startPostgres } = await import("../harness/postgres.ts");
  const { defaultStateDir } = await import("../harness/environment.ts");
  const pgServer = process.env.DATABASE_URL
    ? undefined
    : await startPostgres(join(defaultStateDir, "dsp-tck-postgres"));
  const url = process.env.DATABASE_URL ?? pgServer?.url ?? "";
  const target = await startTckTarget(url, Number(process.env.PORT ?? 8282));
  console.log(`DSP TCK target: ${target.baseUrl}`);
  console.log(`DSP TCK authorization: ${target.authorization}`);
  for (const [k, v] of Object.entries(target.settings)) console.log(`DSP TCK setting: ${k}=${v}`);
  await new Promise<void>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const)
      process.once(s, () => {
        resolve();
      });
  });
  await target.close();
  await pgServer?.stop();
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) await main();
