// Runs one Reconciler: informer events put keys on a keyed work queue, workers
// reconcile each key with a trace span and metrics, failures back off per key,
// 409 conflicts requeue quietly and TerminalErrors are not retried.
import { trace, SpanStatusCode } from "@opentelemetry/api";
import { KubeClient, WorkQueue, isConflict, objectKey, type Informer, type KubeObject } from "@tds/kube";
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
}

const tracer = trace.getTracer("tds-operator");

export function parseKey(key: string): Request {
  const i = key.indexOf("/");
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export class Controller {
  readonly queue = new WorkQueue();
  private workers: Promise<void>[] = [];

  constructor(
    readonly reconciler: Reconciler,
    private readonly primary: Informer<KubeObject>,
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly metrics: RuntimeMetrics,
    private readonly events: EventRecorder,
    private readonly opts: ControllerOptions = {},
  ) {}

  /** Called by the manager for every event of the primary informer. */
  enqueue(obj: KubeObject): void {
    this.queue.add(objectKey(obj));
    this.metrics.queueDepth.set({ controller: this.reconciler.name }, this.queue.depth);
  }

  enqueueKey(key: string): void {
    this.queue.add(key);
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

  private async process(key: string): Promise<void> {
    const name = this.reconciler.name;
    const log = this.log.child({ controller: name, key });
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
          // Someone wrote in between: read again soon, without noise or backoff growth.
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
