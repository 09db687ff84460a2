// Kubernetes Events for users (`kubectl describe`), emitted only when something
// changed: the same reason and message for the same object is sent once.
// Sending is best effort and does not hold up the reconcile: at most
// `maxInFlight` creates run at once, the rest wait in a bounded backlog (the
// oldest is dropped when it is full), and `flush` waits for all of them.
import { randomBytes } from "node:crypto";
import { kinds, type KubeClient, type KubeObject } from "@tds/kube";
import type { Logger } from "./log.ts";

export class EventRecorder {
  private readonly last = new Map<string, string>();
  private readonly backlog: KubeObject[] = [];
  private readonly running = new Set<Promise<void>>();
  private dropped = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
    private readonly maxTracked = 10_000,
    private readonly maxInFlight = 16,
    private readonly maxBacklog = 1_000,
  ) {}

  /**
   * Records an event unless the object's last event had the same type, reason and
   * message. Returns at once; the create runs in the background (flush waits for it).
   */
  emit(obj: KubeObject, type: "Normal" | "Warning", reason: string, message: string): void {
    const uid =
      obj.metadata.uid ?? `${obj.kind ?? ""}/${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`;
    const sig = `${type}|${reason}|${message}`;
    if (this.last.get(uid) === sig) return;
    this.last.delete(uid);
    this.last.set(uid, sig);
    if (this.last.size > this.maxTracked) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    const namespace = obj.metadata.namespace ?? "default";
    const now = new Date().toISOString();
    // The body is made now: the reconcile goes on changing what it read.
    const event = {
      metadata: { name: `${obj.metadata.name ?? "object"}.${randomBytes(8).toString("hex")}`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      source: { component: this.component },
      reportingComponent: this.component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.backlog.push(event);
    if (this.backlog.length > this.maxBacklog) {
      this.backlog.shift();
      if (this.dropped++ % 100 === 0) {
        this.log.warn("event backlog full: dropping the oldest", { dropped: this.dropped });
      }
    }
    this.pump();
  }

  /** Events emitted and not sent yet (queued or in flight). */
  get pending(): number {
    return this.backlog.length + this.running.size;
  }

  /** Waits until every event emitted so far is sent (or has failed). */
  async flush(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  private pump(): void {
    while (this.running.size < this.maxInFlight) {
      const next = this.backlog.shift();
      if (!next) return;
      const p: Promise<void> = this.send(next).finally(() => {
        this.running.delete(p);
        this.pump();
      });
      this.running.add(p);
    }
  }

  private async send(event: KubeObject): Promise<void> {
    try {
      await this.client.create(kinds.event, event);
    } catch (err) {
      // Events are best effort: a failure must not fail the reconcile.
      this.log.warn("cannot record event", { reason: event.reason, err: String(err) });
    }
  }
}
