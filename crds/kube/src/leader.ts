// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
// every update carries the read resourceVersion (so two candidates cannot both
// win), expiry is judged by local observation time (immune to clock skew), and
// a leader that cannot renew within the renew deadline steps down.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { KubeClient, isConflict, isNotFound, resourcePath, type KubeObject, type Logger } from "./client.ts";
import { kinds } from "./resource-types.ts";

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity?: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
}

const microTime = (d: Date) => d.toISOString().replace("Z", "000Z");

export class LeaderElector {
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = "";
  private observedAt = 0;
  private leader = false;
  private lastRenew = 0;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly log: Logger,
  ) {
    this.identity = opts.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * Campaigns until elected, calls onStarted, keeps renewing, and calls onStopped
   * (once) when leadership is lost. Returns when stopped or leadership is lost.
   */
  async run(onStarted: () => Promise<void>, onStopped: (reason: string) => void): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn("lease update failed", { err: String(err) });
      }
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leader) {
          this.leader = true;
          this.log.info("became leader", {
            lease: `${this.opts.namespace}/${this.opts.name}`,
            identity: this.identity,
          });
          await onStarted();
        }
      } else if (this.leader && now - this.lastRenew > this.renewDeadlineMs) {
        this.leader = false;
        this.log.error("lost leadership", { identity: this.identity });
        onStopped("lease renewal failed within the renew deadline");
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.retryPeriodMs * (ok ? 1 : 0.5 + Math.random()));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (!this.leader) return;
    this.leader = false;
    try {
      const lease = await this.client.get<Lease>(kinds.lease, this.opts.name, this.opts.namespace);
      if (lease.spec?.holderIdentity !== this.identity) return;
      await this.client.request("PUT", resourcePath(kinds.lease, this.opts.namespace, this.opts.name), {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date()),
          },
        },
      });
    } catch (err) {
      this.log.warn("cannot release lease", { err: String(err) });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(kinds.lease, this.opts.name, this.opts.namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create<Lease>(kinds.lease, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = spec.holderIdentity ?? "";
    const held = holder !== "" && holder !== this.identity;
    const expired = Date.now() > this.observedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (held && !expired) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    try {
      // PUT with the read resourceVersion: a concurrent candidate gets a 409.
      await this.client.request("PUT", resourcePath(kinds.lease, this.opts.namespace, this.opts.name), {
        body: {
          ...lease,
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: holder === this.identity ? spec.acquireTime : microTime(now),
            renewTime: microTime(now),
            leaseTransitions: transitions,
          },
        },
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
