// The embedded PostgreSQL: Debian's server binaries (installed by the Makefile
// when missing), with a throwaway cluster in the environment folder. Running
// as root, the server runs as the `postgres` system user, as PostgreSQL requires.
// That user must traverse every folder above the cluster; when the state folder
// sits where others cannot (a clone in /root, mode 0700), the cluster's files
// live in a folder of their own under the system's temporary folder, and the
// state folder's data/ and sock/ are links to it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
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

/** The first folder above `dir` (itself excluded) that others cannot traverse, if any. */
export function untraversableAncestor(dir: string): string | undefined {
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) return d;
  }
  return undefined;
}

/**
 * Where the cluster's files live: `dir` itself, or, when the postgres user
 * cannot reach `dir`, a folder under the temporary folder named after `dir`,
 * that `dir`/data and `dir`/sock link to.
 */
export function postgresHome(dir: string): { home: string; linked: boolean } {
  const blocked = untraversableAncestor(dir);
  if (!blocked) return { home: dir, linked: false };
  const base = tmpdir();
  if (untraversableAncestor(join(base, "x")) !== undefined || (statSync(base).mode & 0o001) === 0) {
    throw new Error(
      `PostgreSQL runs as the postgres user and cannot reach ${dir} (${blocked} is not traversable by others), nor ${base}: set TMPDIR to a folder others can traverse, or choose another TDS_STATE_DIR`,
    );
  }
  const id = createHash("sha256").update(dir).digest("hex").slice(0, 12);
  return { home: join(base, `tds-postgres-${id}`), linked: true };
}

export async function startPostgres(dirIn: string): Promise<Postgres> {
  const dir = resolve(dirIn);
  const bin = findPostgresBinDir();
  const logs = join(dir, "..", "logs");
  mkdirSync(dir, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const user = runAs();
  const { home, linked } = user ? postgresHome(dir) : { home: dir, linked: false };
  const dataDir = join(home, "data");
  const sockDir = join(home, "sock");
  if (linked) {
    const isLink = (p: string) => {
      try {
        return lstatSync(p).isSymbolicLink();
      } catch {
        return false;
      }
    };
    // A state folder without its links is a fresh one: so is the cluster.
    if (!isLink(join(dir, "data"))) rmSync(home, { recursive: true, force: true });
    mkdirSync(home, { recursive: true });
    chmodSync(home, 0o700);
    for (const name of ["data", "sock"]) {
      const at = join(dir, name);
      if (!isLink(at)) {
        rmSync(at, { recursive: true, force: true });
        symlinkSync(join(home, name), at);
      }
    }
  }
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(sockDir, { recursive: true });
  if (user) for (const d of new Set([dir, home, dataDir, sockDir])) chownSync(d, user.uid, user.gid);
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
