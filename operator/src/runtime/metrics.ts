// Prometheus metrics of the runtime: reconcile duration and outcome, queue
// depth, retries, watch restarts, API writes and where reconciled objects were read.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly reconcileDuration = new Histogram({
    name: "tds_reconcile_duration_seconds",
    help: "Time spent in one reconcile, by controller and result",
    labelNames: ["controller", "result"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "tds_workqueue_depth",
    help: "Keys waiting in the work queue",
    labelNames: ["controller"] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "tds_workqueue_retries_total",
    help: "Keys re-queued with backoff after a failed reconcile",
    labelNames: ["controller"] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: "tds_watch_restarts_total",
    help: "Watch streams restarted, by resource and reason (ended, gone, error, silent)",
    labelNames: ["resource", "reason"] as const,
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: "tds_api_writes_total",
    help: "Write requests sent to the Kubernetes API, by verb",
    labelNames: ["verb"] as const,
    registers: [this.registry],
  });
  readonly primaryReads = new Counter({
    name: "tds_primary_reads_total",
    help: "Reads of the object being reconciled, by controller and source (cache, or live after a conflict or a cache miss)",
    labelNames: ["controller", "source"] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: "tds_leader",
    help: "1 when this replica holds the leader Lease",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
