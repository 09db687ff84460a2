// The embedded PostgreSQL: Debian's server binaries (installed by the Makefile
// when missing), with a throwaway cluster in the environment folder. Running
// as root, the server runs as the `postgres` system user, as PostgreSQL requires.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import pg from "pg";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

export interface Postgres {
  readonly url: string;
  readonly process: ManagedProcess;
  readonly stop: () => Promise<void>;
}

/** Finds the PostgreSQL server binaries: PG_BINDIR, then Debian's newest version. */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.PG_BINDIR;
  if (fromEnv) return fromEnv;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      "PostgreSQL server binaries not found: run `make deps` (installs Debian's postgresql) or set PG_BINDIR",
    );
  }
  return join(base, newest, "bin");
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

export async function startPostgres(dirIn: string): Promise<Postgres> {
  const dir = resolve(dirIn);
  const bin = findPostgresBinDir();
  const dataDir = join(dir, "data");
  const sockDir = join(dir, "sock");
  const logs = join(dir, "..", "logs");
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(sockDir, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const user = runAs();
  if (user) {
    for (const d of [dir, dataDir, sockDir]) chownSync(d, user.uid, user.gid);
    // The server runs as `postgres`: every folder above its data must be traversable.
    for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
      const mode = statSync(d).mode;
      if ((mode & 0o001) === 0) {
        throw new Error(
          `PostgreSQL runs as the postgres user and cannot reach ${dir}: ${d} is not traversable by others (chmod o+x ${d}, or choose another TDS_STATE_DIR)`,
        );
      }
    }
  }
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    execFileSync(
      join(bin, "initdb"),
      [
        "-D",
        dataDir,
        "-U",
        "tds",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
        "--no-instructions",
      ],
      { stdio: ["ignore", "ignore", "pipe"], ...(user ?? {}) },
    );
  }
  const port = await freePort();
  const proc = startProcess({
    name: "postgres",
    command: join(bin, "postgres"),
    args: [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-k",
      sockDir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "max_connections=200",
      "-c",
      "shared_buffers=256MB",
    ],
    logFile: join(logs, "postgres.log"),
    ...(user ?? {}),
  });
  const adminUrl = `postgres://tds@127.0.0.1:${port}/postgres`;
  const stop = () => proc.stop(15_000);
  try {
    await waitUntil(
      "postgres accepting connections",
      proc,
      async () => {
        const c = new pg.Client({ connectionString: adminUrl });
        await c.connect();
        try {
          const r = await c.query<{ exists: boolean }>(
            "select exists(select 1 from pg_database where datname = 'tds') as exists",
          );
          if (!r.rows[0]?.exists) await c.query("create database tds");
        } finally {
          await c.end();
        }
        return true;
      },
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://tds@127.0.0.1:${port}/tds`, process: proc, stop };
}
