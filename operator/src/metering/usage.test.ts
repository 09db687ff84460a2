// Storage usage events: windows, backfill and deterministic ids, without I/O.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storageEvents, UsageReporter, usageReporterFromEnv, type StorageSample } from "./usage.ts";

const sample = (at: string, bytes = 1000n): StorageSample => ({
  space: "s",
  participant: "p",
  uid: "u-1",
  bytes,
  at: new Date(at),
});

test("a sample bills its window once, with an id that a restart reproduces", () => {
  const a = storageEvents(sample("2025-03-01T10:00:42Z"), undefined, 60_000);
  const b = storageEvents(sample("2025-03-01T10:00:59.999Z"), undefined, 60_000);
  assert.deepEqual(
    a.map((e) => [e.id, e.time, e.data.quantity]),
    // 1000 bytes x 60 s
    [["storage/u-1/2025-03-01T10:00:00.000Z", "2025-03-01T10:00:00.000Z", "60000"]],
  );
  assert.deepEqual(a, b);
});

test("windows missed since the last sample are filled; the same window is never repeated", () => {
  const last = Date.parse("2025-03-01T10:00:00Z");
  const ids = storageEvents(sample("2025-03-01T10:03:10Z"), last, 60_000).map((e) => e.time);
  assert.deepEqual(ids, ["2025-03-01T10:01:00.000Z", "2025-03-01T10:02:00.000Z", "2025-03-01T10:03:00.000Z"]);
  assert.deepEqual(storageEvents(sample("2025-03-01T10:00:30Z"), last, 60_000), []);
  // Backfill is bounded.
  assert.equal(storageEvents(sample("2025-03-02T10:00:00Z"), last, 60_000, 5).length, 6);
});

test("big buckets stay exact", () => {
  const e = storageEvents(sample("2025-03-01T10:00:00Z", 2n ** 60n), undefined, 60_000);
  assert.deepEqual(
    e.map((x) => x.data.quantity),
    [(2n ** 60n * 60n).toString()],
  );
});

test("unacknowledged events are retried with the same ids", async () => {
  const bodies: { id: string }[][] = [];
  let up = false;
  const reporter = new UsageReporter({
    url: "http://dashboard.invalid",
    token: () => Promise.resolve("t"),
    fetch: (_url, init) => {
      bodies.push(JSON.parse(init?.body as string) as { id: string }[]);
      return Promise.resolve(
        up
          ? new Response(JSON.stringify({ accepted: 1, replayed: 0, conflicts: 0, results: [] }), {
              status: 200,
            })
          : new Response("unavailable", { status: 503 }),
      );
    },
  });
  await reporter.sample(sample("2025-03-01T10:00:10Z"));
  up = true;
  await reporter.sample(sample("2025-03-01T10:01:10Z"));
  await reporter.sample(sample("2025-03-01T10:01:40Z")); // same window: nothing new to send
  assert.deepEqual(
    bodies.map((b) => b.map((e) => e.id)),
    [
      ["storage/u-1/2025-03-01T10:00:00.000Z"],
      ["storage/u-1/2025-03-01T10:00:00.000Z", "storage/u-1/2025-03-01T10:01:00.000Z"],
    ],
  );
});

test("the token comes from TDS_DASHBOARD_TOKEN_FILE too (the chart's projected token), re-read per post", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tds-usage-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const file = join(dir, "token");
  writeFileSync(file, "first\n");
  const env = { TDS_DASHBOARD_URL: "http://dashboard.invalid", TDS_DASHBOARD_TOKEN_FILE: file };
  assert.equal(usageReporterFromEnv({ TDS_DASHBOARD_URL: "http://dashboard.invalid" }), null);
  const seen: string[] = [];
  const reporter = usageReporterFromEnv(env, (_url, init) => {
    seen.push(new Headers(init?.headers).get("authorization") ?? "");
    return Promise.resolve(new Response("unavailable", { status: 503 }));
  });
  assert.ok(reporter, "a reporter from the token file");
  await reporter.sample(sample("2025-03-01T10:00:10Z"));
  writeFileSync(file, "rotated\n");
  await reporter.flush();
  assert.deepEqual(seen, ["Bearer first", "Bearer rotated"]);
});
