// The runtime against the real kube-apiserver: a reconcile reads its object
// from the informer cache, but never a version older than its own last write
// (read your own writes); keys mapped from other objects' events are coalesced;
// a watch's `relevant` drops updates that change nothing it depends on; and
// Events are sent in the background, all of them there after a flush.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, kubeConfig } from "@tds/test/testkit";
import { runId } from "@tds/test/operator";
import { KubeClient, kinds, type KubeObject } from "@tds/kube";
import { Manager } from "./manager.ts";
import { createLogger } from "./log.ts";
import type { Context, Reconciler, Request } from "./reconcile.ts";

const run = runId();
const ns = "default";
const label = "tds.dev/runtime-test";
const client = new KubeClient(kubeConfig());
const log = createLogger({ component: "runtime-test", run }, "error");

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

interface Seen {
  readonly key: string;
  readonly at: number;
  /** The resourceVersion the reconcile read, and the last one it had written before. */
  readonly read: number;
  readonly lastWritten: number;
}

/** Brings data.done up to data.want, one step a reconcile, re-queueing itself at once (so its next read can beat the watch). */
class Stepper implements Reconciler {
  readonly name = `stepper-${run}`;
  readonly resource = kinds.configMap;
  readonly labelSelector = `${label}=${run}-primary`;
  readonly seen: Seen[] = [];
  private readonly written = new Map<string, number>();
  manager: Manager | undefined;

  async reconcile(req: Request, ctx: Context): Promise<undefined> {
    const key = `${req.namespace ?? ""}/${req.name}`;
    const cm = await ctx.primary<ConfigMap>();
    if (!cm) return undefined;
    this.seen.push({
      key,
      at: Date.now(),
      read: Number(cm.metadata.resourceVersion),
      lastWritten: this.written.get(key) ?? 0,
    });
    const want = Number(cm.data?.want ?? 0);
    const done = Number(cm.data?.done ?? 0);
    if (done >= want) return undefined;
    // Marked dirty while in flight: the next reconcile starts as soon as this one ends.
    this.manager?.controller(this.name)?.queue.add(key);
    const patched = await ctx.client.mergePatch<ConfigMap>(kinds.configMap, req.name, req.namespace, {
      metadata: { resourceVersion: cm.metadata.resourceVersion },
      data: { done: String(done + 1) },
    });
    this.written.set(key, Number(patched.metadata.resourceVersion));
    ctx.wrote(patched);
    return undefined;
  }
}

const stepper = new Stepper();
let manager: Manager;
let done: Promise<void>;

const primaryName = (i: number) => `rt-${run}-${String(i)}`;
const secondaryName = `rt-${run}-secondary`;

before(async () => {
  manager = new Manager({
    kubeConfig: kubeConfig(),
    log,
    leaderElection: { namespace: ns, name: `tds-runtime-${run}`, retryPeriodMs: 300 },
    workers: 4,
    coalesceMs: 600,
  });
  stepper.manager = manager;
  // Another ConfigMap's changes re-queue primary 0, but only when its data.important changes.
  manager.add(stepper, [
    {
      resource: kinds.configMap,
      labelSelector: `${label}=${run}-secondary`,
      map: () => [`${ns}/${primaryName(0)}`],
      relevant: (o) => (o as ConfigMap).data?.important ?? "",
    },
  ]);
  done = manager.start();
  await eventually("the manager to lead and sync", () => manager.ready, 30_000);
});

after(async () => {
  await manager.stop();
  await done;
  for (const o of (await client.list(kinds.configMap, ns, { labelSelector: label })).items) {
    if ((o.metadata.labels?.[label] ?? "").startsWith(run)) {
      await client.delete(kinds.configMap, o.metadata.name ?? "", ns);
    }
  }
  client.close();
});

const sources = async (): Promise<Record<string, number>> => {
  const metric = await manager.metrics.primaryReads.get();
  const out: Record<string, number> = {};
  for (const v of metric.values) {
    if (v.labels.controller === stepper.name) out[String(v.labels.source)] = v.value;
  }
  return out;
};

test("a reconcile never reads an older version than its own last write", async () => {
  const n = 12;
  for (let i = 0; i < n; i++) {
    await client.create(kinds.configMap, {
      metadata: { name: primaryName(i), namespace: ns, labels: { [label]: `${run}-primary` } },
      data: { want: "4", done: "0" },
    });
  }
  await eventually(
    "every ConfigMap stepped to 4",
    async () =>
      (
        await Promise.all(
          Array.from({ length: n }, (_, i) => client.get<ConfigMap>(kinds.configMap, primaryName(i), ns)),
        )
      ).every((c) => c.data?.done === "4"),
    60_000,
  );
  const older = stepper.seen.filter((s) => s.read < s.lastWritten);
  const by = await sources();
  // Without the own-write check, 1 or 2 of 48 reads came from a cache that had not seen the write yet.
  assert.deepEqual(
    older,
    [],
    `reads older than the reconcile's own last write (reads: ${JSON.stringify(by)})`,
  );
  assert.ok((by.cache ?? 0) > 0, `no read was served by the cache (reads: ${JSON.stringify(by)})`);
});

test("keys mapped from other objects are coalesced, and irrelevant updates map to nothing", async () => {
  const key = `${ns}/${primaryName(0)}`;
  await client.create(kinds.configMap, {
    metadata: { name: secondaryName, namespace: ns, labels: { [label]: `${run}-secondary` } },
    data: { important: "0", noise: "0" },
  });
  await eventually(
    "the secondary's add reconciled primary 0",
    () => stepper.seen.some((s) => s.key === key && s.at > Date.now() - 5_000),
    10_000,
  );
  await new Promise((r) => setTimeout(r, 1_000));
  const start = stepper.seen.length;
  // Updates that leave data.important alone: no reconcile.
  for (let i = 1; i <= 3; i++) {
    await client.mergePatch(kinds.configMap, secondaryName, ns, { data: { noise: String(i) } });
  }
  await new Promise((r) => setTimeout(r, 1_500));
  assert.equal(stepper.seen.length, start, "an irrelevant update re-queued primary 0");

  // Five relevant updates in quick succession: one reconcile at once, the rest collapse into one after the window.
  for (let i = 1; i <= 5; i++) {
    await client.mergePatch(kinds.configMap, secondaryName, ns, { data: { important: String(i) } });
  }
  await new Promise((r) => setTimeout(r, 2_000));
  const after = stepper.seen.slice(start).filter((s) => s.key === key);
  // Without coalescing each update could start its own reconcile right after the last one.
  assert.ok(after.length >= 1 && after.length < 5, `${String(after.length)} reconciles for 5 updates`);
  for (let i = 1; i < after.length; i++) {
    const gap = (after[i]?.at ?? 0) - (after[i - 1]?.at ?? 0);
    assert.ok(gap >= 590, `reconciles ${String(gap)} ms apart, inside the 600 ms window`);
  }
});

test("Events are sent in the background, and a flush waits for all of them", async () => {
  const target = await client.get<ConfigMap>(kinds.configMap, primaryName(1), ns);
  for (let i = 0; i < 40; i++) manager.events.emit(target, "Normal", "Step", `step ${String(i)}`);
  // emit returned 40 times without waiting: every create is still queued or in flight.
  assert.equal(manager.events.pending, 40);
  await manager.events.flush();
  assert.equal(manager.events.pending, 0);
  const events = (await client.list(kinds.event, ns)).items.filter(
    (e) => (e as { involvedObject?: { uid?: string } }).involvedObject?.uid === target.metadata.uid,
  );
  assert.equal(events.filter((e) => (e as { reason?: string }).reason === "Step").length, 40);
});
