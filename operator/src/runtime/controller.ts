// Runs one Reconciler: informer events put keys on a keyed work queue, workers
// reconcile each key with a trace span and metrics, failures back off per key,
// 409 conflicts requeue quietly and TerminalErrors are not retried. The object
// being reconciled comes from the primary informer's cache, unless the cache
// has not caught up with this controller's own last write of it, or the key's
// last attempt ended in a conflict: then it is read live. Keys mapped from
// other objects' events are coalesced: a key reconciled less than coalesceMs
// ago waits out the rest.
import { trace, SpanStatusCode } from "@opentelemetry/api";
import {
  KubeClient,
  WorkQueue,
  isConflict,
  objectKey,
  type Informer,
  type InformerEventType,
  type KubeObject,
} from "@tds/kube";
import type { Logger } from "./log.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import type { EventRecorder } from "./events.ts";
import { TerminalError, type Reconciler, type Request } from "./reconcile.ts";
import { announceWrite } from "./write-points.ts";

export interface Watch {
  readonly informer: Informer<KubeObject>;
  /** Maps a changed object to the keys of the primary objects to reconcile. */
  readonly map: (obj: KubeObject) => readonly string[];
}

export interface ControllerOptions {
  readonly workers?: number;
  readonly conflictDelayMs?: number;
  /**
   * Least time between the start of a key's reconcile and the next one caused by
   * another object's event (a participant's status re-queueing its space); events
   * in between collapse into one reconcile. The key's own events are not delayed.
   */
  readonly coalesceMs?: number;
}

/** Default of ControllerOptions.coalesceMs. */
export const DEFAULT_COALESCE_MS = 1_000;

/**
 * How long a write of the primary object waits for the cache before the cache is
 * trusted again: a watch that relisted after a 410 shows the latest version only,
 * so the written one may never be seen.
 */
const WRITTEN_TRUST_MS = 30_000;

const tracer = trace.getTracer("tds-operator");

export function parseKey(key: string): Request {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export class Controller {
  readonly queue = new WorkQueue();
  private workers: Promise<void>[] = [];
  /** Keys whose next reconcile reads the object live: their last attempt saw a stale cache (409). */
  private readonly readLive = new Set<string>();
  /** When each key's last reconcile started, within the coalescing window. */
  private readonly started = new Map<string, number>();
  /** The resourceVersion of each key's last write by this controller, until the cache holds it. */
  private readonly written = new Map<string, { readonly version: string; readonly at: number }>();

  constructor(
    readonly reconciler: Reconciler,
    private readonly primary: Informer<KubeObject>,
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly metrics: RuntimeMetrics,
    private readonly events: EventRecorder,
    private readonly opts: ControllerOptions = {},
  ) {}

  /** Called by the manager for every event of the primary informer (after the cache took it). */
  enqueue(obj: KubeObject, type: InformerEventType): void {
    const key = objectKey(obj);
    const w = this.written.get(key);
    if (w && (type === "delete" || w.version === obj.metadata.resourceVersion)) this.written.delete(key);
    this.queue.add(key);
    this.metrics.queueDepth.set({ controller: this.reconciler.name }, this.queue.depth);
  }

  /** Called for a key mapped from another object's event; coalesced (ControllerOptions.coalesceMs). */
  enqueueKey(key: string): void {
    const last = this.started.get(key);
    const wait = last === undefined ? 0 : last + (this.opts.coalesceMs ?? DEFAULT_COALESCE_MS) - Date.now();
    if (wait > 0) this.queue.addAfter(key, wait);
    else this.queue.add(key);
  }

  start(): void {
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.workers);
  }

  get primaryInformer(): Informer<KubeObject> {
    return this.primary;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics.queueDepth.set({ controller: this.reconciler.name }, this.queue.depth);
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** The object of `key`, as ctx.primary returns it. */
  private async read<T extends KubeObject>(key: string, afterConflict: boolean): Promise<T | undefined> {
    const cached = afterConflict ? undefined : this.primary.get(key);
    const w = this.written.get(key);
    if (w && (w.version === cached?.metadata.resourceVersion || Date.now() - w.at > WRITTEN_TRUST_MS)) {
      this.written.delete(key); // the cache holds the write (or a watch relist skipped its event)
    }
    const stale = this.written.has(key);
    const source = afterConflict ? "conflict" : !cached ? "miss" : stale ? "own-write" : "cache";
    this.metrics.primaryReads.inc({ controller: this.reconciler.name, source });
    // A copy: reconcilers update what they read (a finalizer patch's new resourceVersion).
    if (cached && !stale) return structuredClone(cached) as T;
    const req = parseKey(key);
    return this.client.find<T>(this.reconciler.resource, req.name, req.namespace);
  }

  private wrote(key: string, obj: KubeObject): void {
    const version = obj.metadata.resourceVersion;
    if (objectKey(obj) !== key || !version) return;
    if (this.primary.get(key)?.metadata.resourceVersion === version) return; // its event came first
    this.written.set(key, { version, at: Date.now() });
  }

  private markStarted(key: string): void {
    const now = Date.now();
    // Entries older than the coalescing window delay nothing: drop them, oldest first
    // (insertion order is start order).
    const horizon = now - (this.opts.coalesceMs ?? DEFAULT_COALESCE_MS);
    for (const [k, at] of this.started) {
      if (at >= horizon) break;
      this.started.delete(k);
    }
    this.started.delete(key);
    this.started.set(key, now);
  }

  private async process(key: string): Promise<void> {
    const name = this.reconciler.name;
    const log = this.log.child({ controller: name, key });
    this.markStarted(key);
    const live = this.readLive.delete(key);
    const end = this.metrics.reconcileDuration.startTimer({ controller: name });
    await tracer.startActiveSpan(`reconcile ${name}`, async (span) => {
      span.setAttribute("tds.controller", name);
      span.setAttribute("tds.key", key);
      log.debug("reconciling");
      try {
        const result = await this.reconciler.reconcile(parseKey(key), {
          client: this.client,
          log,
          events: this.events,
          span,
          beforeWrite: announceWrite,
          primary: <T extends KubeObject>() => this.read<T>(key, live),
          wrote: (obj) => {
            this.wrote(key, obj);
          },
        });
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        end({ result: "success" });
        log.debug(
          "reconciled",
          result?.requeueAfterMs === undefined ? {} : { requeueAfterMs: result.requeueAfterMs },
        );
      } catch (err) {
        span.recordException(err instanceof Error ? err : new Error(String(err)));
        span.setStatus({ code: SpanStatusCode.ERROR });
        if (isConflict(err)) {
          // Someone wrote in between, or the cache was behind: read live again soon,
          // without noise or backoff growth.
          this.readLive.add(key);
          this.queue.addAfter(key, this.opts.conflictDelayMs ?? 100);
          end({ result: "conflict" });
        } else if (err instanceof TerminalError) {
          this.queue.forget(key);
          log.warn("reconcile failed permanently", { err: err.message });
          end({ result: "terminal" });
        } else {
          const delay = this.queue.addRateLimited(key);
          this.metrics.retries.inc({ controller: name });
          log.error("reconcile failed", { err: errorText(err), retryInMs: delay });
          end({ result: "error" });
        }
      } finally {
        span.end();
      }
    });
  }
}

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause === undefined ? "" : `: ${errorText(err.cause)}`;
  return `${err.message}${cause}`;
}
