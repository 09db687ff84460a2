// The manager owns what controllers share: the API client, shared informers,
// leader election, the health/metrics server, and clean shutdown. Informers
// and controllers start only on the elected leader.
import { createServer, type Server } from "node:http";
import {
  Informer,
  KubeClient,
  LeaderElector,
  objectKey,
  type InformerEventType,
  type KubeConfig,
  type KubeObject,
  type LeaderElectionOptions,
  type ResourceType,
} from "@tds/kube";
import { Controller, type Watch } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import { Gauge } from "prom-client";
import { RuntimeMetrics } from "./metrics.ts";
import type { Logger } from "./log.ts";
import type { Reconciler } from "./reconcile.ts";

export interface ManagerOptions {
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  readonly leaderElection: LeaderElectionOptions;
  readonly resyncMs?: number;
  readonly watchdogMs?: number;
  readonly workers?: number;
  /** See ControllerOptions.coalesceMs (default 1 s; 0 disables). */
  readonly coalesceMs?: number;
  /** Port for /healthz, /readyz and /metrics; 0 picks a free one; undefined disables. */
  readonly port?: number;
  readonly host?: string;
  readonly requestTimeoutMs?: number;
}

export interface WatchSpec {
  readonly resource: ResourceType;
  readonly labelSelector?: string;
  readonly map: (obj: KubeObject) => readonly string[];
  /**
   * What of the watched object matters to the mapped keys, as a string: an update
   * that leaves it unchanged maps to nothing (a space's counts do not concern its
   * participants). Adds, deletes and resyncs always map.
   */
  readonly relevant?: (obj: KubeObject) => string;
}

const writeVerbs = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class Manager {
  readonly client: KubeClient;
  readonly metrics = new RuntimeMetrics();
  readonly elector: LeaderElector;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly listeners = new Map<string, ((type: InformerEventType, obj: KubeObject) => void)[]>();
  private readonly controllers: Controller[] = [];
  private readonly pending: { reconciler: Reconciler; watches: readonly WatchSpec[] }[] = [];
  private server: Server | undefined;
  private running: Promise<void> | undefined;
  private synced = false;
  private stopping = false;
  readonly events: EventRecorder;

  constructor(private readonly opts: ManagerOptions) {
    this.client = new KubeClient(opts.kubeConfig, "tds-operator", opts.requestTimeoutMs);
    this.client.observe((method) => {
      if (writeVerbs.has(method)) this.metrics.writes.inc({ verb: method });
    });
    const cachedObjects = () => this.cachedObjects();
    new Gauge({
      name: "tds_informer_cached_objects",
      help: "Objects held in the informers' caches, by resource (group/plural)",
      labelNames: ["resource"] as const,
      registers: [this.metrics.registry],
      collect() {
        this.reset();
        for (const c of cachedObjects()) this.inc({ resource: c.resource }, c.objects.length);
      },
    });
    this.events = new EventRecorder(this.client, "tds-operator", opts.log);
    this.elector = new LeaderElector(this.client, opts.leaderElection, opts.log);
  }

  /** A shared informer per resource and label selector. */
  informer(resource: ResourceType, labelSelector?: string): Informer<KubeObject> {
    const key = `${resource.group}/${resource.plural}?${labelSelector ?? ""}`;
    let inf = this.informers.get(key);
    if (!inf) {
      const listeners: ((type: InformerEventType, obj: KubeObject) => void)[] = [];
      this.listeners.set(key, listeners);
      inf = new Informer<KubeObject>(this.client, {
        resource,
        labelSelector,
        resyncMs: this.opts.resyncMs ?? 5 * 60_000,
        watchdogMs: this.opts.watchdogMs ?? 120_000,
        log: this.opts.log,
        onEvent: (type, obj) => {
          for (const l of listeners) l(type, obj);
        },
        onRestart: (reason) => {
          this.metrics.watchRestarts.inc({ resource: resource.plural, reason });
        },
      });
      this.informers.set(key, inf);
    }
    return inf;
  }

  /** What each informer holds, by resource and label selector (the cache gauge and the memory benchmark). */
  cachedObjects(): { resource: string; labelSelector: string; objects: KubeObject[] }[] {
    return [...this.informers.entries()].map(([key, inf]) => {
      const [resource = "", labelSelector = ""] = key.split("?");
      return { resource, labelSelector, objects: inf.list() };
    });
  }

  private listen(
    resource: ResourceType,
    labelSelector: string | undefined,
    fn: (type: InformerEventType, obj: KubeObject) => void,
  ): void {
    this.informer(resource, labelSelector);
    this.listeners.get(`${resource.group}/${resource.plural}?${labelSelector ?? ""}`)?.push(fn);
  }

  /** Registers a reconciler with the secondary resources whose changes map to its keys. */
  add(reconciler: Reconciler, watches: readonly WatchSpec[] = []): void {
    this.pending.push({ reconciler, watches });
  }

  controller(name: string): Controller | undefined {
    return this.controllers.find((c) => c.reconciler.name === name);
  }

  allInformers(): Informer<KubeObject>[] {
    return [...this.informers.values()];
  }

  get ready(): boolean {
    return this.synced;
  }

  /** Starts the health server and campaigns for leadership; resolves when the manager stops. */
  async start(): Promise<void> {
    if (this.opts.port !== undefined) {
      await this.serve(this.opts.port, this.opts.host ?? "0.0.0.0");
      this.opts.log.info("serving probes and metrics", { address: this.address });
    }
    this.running = this.elector.run(
      async () => {
        this.metrics.isLeader.set(1);
        await this.startControllers();
      },
      (reason) => {
        this.metrics.isLeader.set(0);
        this.opts.log.error("stopping: leadership lost", { reason });
        void this.stop();
      },
    );
    await this.running;
  }

  get address(): string | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? `http://127.0.0.1:${a.port}` : undefined;
  }

  private async startControllers(): Promise<void> {
    for (const { reconciler, watches } of this.pending) {
      const primary = this.informer(reconciler.resource, reconciler.labelSelector);
      const controller = new Controller(
        reconciler,
        primary,
        this.client,
        this.opts.log,
        this.metrics,
        this.events,
        {
          workers: this.opts.workers ?? 2,
          ...(this.opts.coalesceMs === undefined ? {} : { coalesceMs: this.opts.coalesceMs }),
        },
      );
      this.controllers.push(controller);
      this.listen(reconciler.resource, reconciler.labelSelector, (type, obj) => {
        controller.enqueue(obj, type);
      });
      for (const w of watches) {
        const seen = new Map<string, string>();
        this.listen(w.resource, w.labelSelector, (type, obj) => {
          if (w.relevant) {
            const key = objectKey(obj);
            const value = w.relevant(obj);
            const before = seen.get(key);
            if (type === "delete") seen.delete(key);
            else seen.set(key, value);
            if (type === "update" && before === value) return;
          }
          for (const key of w.map(obj)) controller.enqueueKey(key);
        });
      }
    }
    await Promise.all([...this.informers.values()].map((i) => i.start()));
    for (const c of this.controllers) c.start();
    this.synced = true;
    this.opts.log.info("controllers started", {
      controllers: this.controllers.map((c) => c.reconciler.name),
    });
  }

  /** Stops controllers, informers and the server, and releases the Lease. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await this.events.flush();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    await this.elector.stop();
    await new Promise<void>((resolve) => {
      if (!this.server) {
        resolve();
        return;
      }
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
    this.metrics.isLeader.set(0);
  }

  private serve(port: number, host: string): Promise<void> {
    this.server = createServer((req, res) => {
      const send = (code: number, body: string, type = "text/plain") => {
        res.writeHead(code, { "Content-Type": type });
        res.end(body);
      };
      if (req.url === "/healthz") {
        send(200, "ok");
      } else if (req.url === "/readyz") {
        if (this.stopping) send(503, "stopping");
        else if (!this.elector.isLeader) send(200, "standby");
        else if (this.synced) send(200, "ok");
        else send(503, "informers not synced");
      } else if (req.url === "/metrics") {
        this.metrics.registry.metrics().then(
          (m) => {
            send(200, m, this.metrics.registry.contentType);
          },
          (err: unknown) => {
            send(500, String(err));
          },
        );
      } else {
        send(404, "not found");
      }
    });
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        resolve();
      });
    });
  }
}

export type { Watch };
