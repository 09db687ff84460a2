import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { WorkQueue } from "./workqueue.ts";

test("a key added twice before processing is processed once", async () => {
  const q = new WorkQueue();
  q.add("a");
  q.add("a");
  q.add("b");
  assert.equal(q.depth, 2);
  assert.equal(await q.get(), "a");
  assert.equal(await q.get(), "b");
});

test("a key re-added while in flight is deferred until done, never processed twice at once", async () => {
  const q = new WorkQueue();
  q.add("a");
  const first = await q.get();
  assert.equal(first, "a");
  q.add("a");
  assert.equal(q.depth, 0, "in-flight key must not be handed to a second worker");
  q.done("a");
  assert.equal(q.depth, 1);
  assert.equal(await q.get(), "a");
});

test("failures back off exponentially per key and forget resets them", () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => q.addRateLimited("k")),
    [10, 20, 40, 80, 100],
  );
  assert.equal(q.addRateLimited("other"), 10);
  q.forget("k");
  assert.equal(q.retries("k"), 0);
  q.shutdown();
});

test("addAfter delivers the key after the delay, and the earliest delay wins", async () => {
  const q = new WorkQueue();
  // Far apart, so that a loaded machine's timer lag cannot blur which one fired.
  q.addAfter("k", 2000);
  q.addAfter("k", 20);
  const t0 = Date.now();
  assert.equal(await q.get(), "k");
  assert.ok(Date.now() - t0 < 1900, "the 20ms delay should win over the 2000ms one");
  q.done("k");
  await sleep(2100);
  assert.equal(q.depth, 0, "the superseded timer must not add the key again");
});

test("waiting workers receive keys and are released on shutdown", async () => {
  const q = new WorkQueue();
  const waiting = q.get();
  q.add("x");
  assert.equal(await waiting, "x");
  const idle = q.get();
  q.shutdown();
  assert.equal(await idle, undefined);
});
