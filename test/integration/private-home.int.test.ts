// A clone inside a folder others cannot traverse (root's home, mode 0700):
// the embedded PostgreSQL, which runs as the postgres user, still starts,
// its files in a traversable folder that the state folder links to, and a
// restart of the environment starts it afresh.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { postgresHome, startPostgres } from "../harness/postgres.ts";

test("PostgreSQL starts from a state folder under a 0700 parent", async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("only root runs PostgreSQL as another user (the postgres user)");
    return;
  }
  const parent = mkdtempSync(join(tmpdir(), "tds-private-"));
  chmodSync(parent, 0o700);
  const state = join(parent, "clone", ".tds");
  const dir = join(state, "postgres");
  const { home, linked } = postgresHome(dir);
  t.after(() => {
    rmSync(parent, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  assert.equal(linked, true);
  assert.ok(statSync(tmpdir()).mode & 0o001, "the temporary folder is traversable");
  for (const round of [1, 2]) {
    mkdirSync(state, { recursive: true });
    const server = await startPostgres(dir);
    try {
      assert.ok(lstatSync(join(dir, "data")).isSymbolicLink());
      assert.equal(readlinkSync(join(dir, "data")), join(home, "data"));
      assert.ok(existsSync(join(home, "data", "PG_VERSION")));
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      try {
        // Round 2 follows a fresh environment start (which removes the state's postgres/): empty again.
        const r = await c.query<{ n: string }>(
          "select count(*) as n from information_schema.tables where table_name = 'private_home'",
        );
        assert.equal(r.rows[0]?.n, "0", `round ${round} starts with an empty cluster`);
        await c.query("create table private_home (id int)");
      } finally {
        await c.end();
      }
    } finally {
      await server.stop();
    }
    rmSync(dir, { recursive: true, force: true }); // as startEnvironment does
  }
});
