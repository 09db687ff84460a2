// A supervised informer: lists (paginated) into a Map cache, then watches from
// the last resourceVersion. It resumes after a dropped stream, relists on 410
// Gone, restarts with jittered backoff after errors, restarts a watch that goes
// silent (watchdog), and replays the cache on a periodic resync. A relist
// synthesises DELETED events only for objects that really left the list.
import {
  KubeClient,
  apiVersionOf,
  isGone,
  KubeApiError,
  type KubeObject,
  type ResourceType,
  type WatchEvent,
} from "./client.ts";
import type { Logger } from "./client.ts";

export type InformerEventType = "add" | "update" | "delete" | "resync";

export interface InformerOptions<T extends KubeObject> {
  readonly resource: ResourceType;
  readonly labelSelector?: string;
  readonly pageSize?: number;
  /** Replay the whole cache this often (0 disables). */
  readonly resyncMs?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  readonly watchdogMs?: number;
  /** Server-side watch timeout range; each watch picks a random value in it. */
  readonly watchTimeoutSeconds?: readonly [number, number];
  readonly onEvent: (type: InformerEventType, obj: T) => void;
  readonly onRestart?: (reason: "ended" | "gone" | "error" | "silent") => void;
  readonly log: Logger;
}

export const objectKey = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ""}` : (o.metadata.name ?? "");

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = "";
  private readonly state = { stopped: false };

  /** A method, not a field read, so that narrowing does not assume it is still false after an await. */
  private isStopped(): boolean {
    return this.state.stopped;
  }
  private current: AbortController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private synced = false;
  lastEventAt = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions<T>,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /**
   * Starts listing and watching; resolves once the first list is in the cache.
   * A failing first list (for example a CRD installed moments ago, not yet
   * served) is retried with backoff until it succeeds or the informer stops.
   */
  async start(): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        await this.relist();
        break;
      } catch (err) {
        if (this.isStopped()) return;
        this.opts.onRestart?.("error");
        this.opts.log.warn("initial list failed; retrying", {
          resource: this.opts.resource.plural,
          err: String(err),
        });
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** failures)));
      }
    }
    this.synced = true;
    this.loop = this.run();
    const resync = this.opts.resyncMs ?? 0;
    if (resync > 0) {
      this.resyncTimer = setInterval(() => {
        for (const obj of this.cache.values()) this.opts.onEvent("resync", obj);
      }, resync);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.state.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.current?.abort();
    await this.loop;
  }

  /** Aborts the current watch; the supervisor resumes it from the last resourceVersion. */
  interruptWatch(): void {
    this.current?.abort();
  }

  /** The resourceVersion the next watch resumes from. */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /**
   * Fault injection for tests: resume the watch from an older resourceVersion,
   * as a client that was partitioned across an etcd compaction would.
   */
  resumeFrom(resourceVersion: string): void {
    this.resourceVersion = resourceVersion;
    this.current?.abort();
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, T>();
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.client.list<T>(this.opts.resource, undefined, {
        limit: this.opts.pageSize ?? 500,
        continue: cont,
        labelSelector: this.opts.labelSelector,
      });
      for (const item of page.items) {
        // List items carry no apiVersion/kind; restore them for consumers.
        seen.set(objectKey(item), {
          ...item,
          apiVersion: apiVersionOf(this.opts.resource),
          kind: this.opts.resource.kind,
        });
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    for (const [key, obj] of seen) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.opts.onEvent("add", obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.opts.onEvent("update", obj);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.opts.onEvent("delete", old);
      }
    }
    this.resourceVersion = rv;
  }

  private handle(ev: WatchEvent<T>): void {
    this.lastEventAt = Date.now();
    if (ev.type === "ERROR") {
      const status = ev.object as unknown as { code?: number; reason?: string; message?: string };
      throw new KubeApiError(status.code ?? 500, status.reason ?? "Unknown", status.message ?? "watch error");
    }
    const rv = ev.object.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (ev.type === "BOOKMARK") return;
    const key = objectKey(ev.object);
    if (ev.type === "DELETED") {
      this.cache.delete(key);
      this.opts.onEvent("delete", ev.object);
      return;
    }
    const old = this.cache.get(key);
    this.cache.set(key, ev.object);
    this.opts.onEvent(old ? "update" : "add", ev.object);
  }

  private async run(): Promise<void> {
    let failures = 0;
    let needList = false;
    while (!this.isStopped()) {
      let reason: "ended" | "gone" | "error" | "silent" = "ended";
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        reason = await this.watchOnce();
        failures = 0;
      } catch (err) {
        if (this.isStopped()) break;
        if (isGone(err)) {
          reason = "gone";
          needList = true;
        } else {
          reason = "error";
          failures++;
          this.opts.log.warn("watch failed", { resource: this.opts.resource.plural, err: String(err) });
        }
      }
      if (this.isStopped()) break;
      this.opts.onRestart?.(reason);
      if (failures > 0) {
        // Full jitter: up to 100ms·2^n, capped at 30s, so a fleet does not relist in lockstep.
        const cap = Math.min(30_000, 100 * 2 ** Math.min(failures, 9));
        await new Promise((r) => setTimeout(r, Math.random() * cap));
      }
    }
  }

  /** One watch stream; returns why it ended. */
  private async watchOnce(): Promise<"ended" | "silent"> {
    const ac = new AbortController();
    this.current = ac;
    const watchdogMs = this.opts.watchdogMs ?? 120_000;
    const watchdog = { silent: false };
    this.lastEventAt = Date.now();
    const dog = setInterval(
      () => {
        if (Date.now() - this.lastEventAt > watchdogMs) {
          watchdog.silent = true;
          ac.abort();
        }
      },
      Math.max(50, Math.min(5_000, watchdogMs / 4)),
    );
    dog.unref();
    const [lo, hi] = this.opts.watchTimeoutSeconds ?? [300, 600];
    try {
      await this.client.watch<T>(
        this.opts.resource,
        {
          resourceVersion: this.resourceVersion,
          labelSelector: this.opts.labelSelector,
          timeoutSeconds: Math.floor(lo + Math.random() * (hi - lo)),
        },
        (ev) => {
          this.handle(ev);
        },
        ac.signal,
      );
      return "ended";
    } catch (err) {
      if (ac.signal.aborted) return watchdog.silent ? "silent" : "ended";
      throw err;
    } finally {
      clearInterval(dog);
    }
  }
}
