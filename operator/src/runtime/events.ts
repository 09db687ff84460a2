// Kubernetes Events for users (`kubectl describe`), emitted only when something
// changed: the same reason and message for the same object is sent once.
import { randomBytes } from "node:crypto";
import { kinds, type KubeClient, type KubeObject } from "@tds/kube";
import type { Logger } from "./log.ts";

export class EventRecorder {
  private readonly last = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log: Logger,
    private readonly maxTracked = 10_000,
  ) {}

  /** Records an event unless the object's last event had the same type, reason and message. */
  async emit(obj: KubeObject, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
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
    try {
      await this.client.create(kinds.event, {
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
      });
    } catch (err) {
      // Events are best effort: a failure must not fail the reconcile.
      this.log.warn("cannot record event", { reason, err: String(err) });
    }
  }
}
