// A thin Kubernetes REST client on @kubernetes/client-node's KubeConfig (which
// owns credentials and TLS). It adds what the runtime needs and the generated
// clients make awkward: server-side apply on any resource and subresource,
// typed API errors, and raw watch streams that the informer supervises itself.
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ObjectMeta } from "@tds/crds";

export type { ObjectMeta, OwnerReference } from "@tds/crds";

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

/** Where a kind lives in the API. */
export interface ResourceType {
  readonly group: string; // "" for the core group
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const apiVersionOf = (r: ResourceType): string => (r.group ? `${r.group}/${r.version}` : r.version);

/** The REST path of a collection or, with a name, of one object (and optionally a subresource). */
export function resourcePath(
  r: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const obj = name ? `/${encodeURIComponent(name)}` : "";
  const sub = name && subresource ? `/${subresource}` : "";
  return `${base}${ns}/${r.plural}${obj}${sub}`;
}

/** An error answer from the API server, with its HTTP code and Status reason. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.code === 409;
export const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.code === 410;

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** Counts every request by verb, so tests can assert "no writes" on a resync. */
export interface RequestObserver {
  (method: string, path: string): void;
}

/** The TLS material of a request's options that an agent's connections are made with. */
const TLS_KEYS = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

function tlsIdentity(opts: RequestOptions): string {
  const h = createHash("sha256");
  for (const k of TLS_KEYS) {
    const v: unknown = opts[k];
    h.update(`${k}=`);
    for (const part of Array.isArray(v) ? v : [v]) h.update(Buffer.isBuffer(part) ? part : String(part));
    h.update("\n");
  }
  return h.digest("hex");
}

/** A method the client may send again after a kept-alive connection was found closed. */
const RESENDABLE = new Set(["GET", "PUT", "PATCH", "DELETE"]);

export class KubeClient {
  private readonly server: URL;
  private readonly observers = new Set<RequestObserver>();
  /**
   * One keep-alive agent for the client's TLS material. client-node's
   * applyToHTTPSOptions makes a new agent per request, so every request would pay a
   * TCP and TLS handshake (about 40% of the operator's CPU at 40 spaces,
   * docs/performance.md). Credentials rotated in the kubeconfig make a new agent.
   */
  private agent?: { readonly identity: string; readonly agent: HttpAgent };

  constructor(
    private readonly kc: KubeConfig,
    readonly fieldManager = "tds-operator",
    /** A request that has not completed in this time fails (a half-dead connection must not hang a worker). */
    private readonly requestTimeoutMs = 30_000,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = new URL(cluster.server);
  }

  /** Calls `observer` for every request; returns a function that stops observing. */
  observe(observer: RequestObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  private async open(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const opts: RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path,
      headers: {
        Accept: "application/json",
        ...headers,
        ...(body !== undefined ? { "Content-Length": Buffer.byteLength(body) } : {}),
      },
      signal,
    };
    await this.kc.applyToHTTPSOptions(opts);
    opts.agent = this.agentFor(opts);
    for (const o of this.observers) o(method, path);
    const send = this.server.protocol === "https:" ? httpsRequest : httpRequest;
    const once = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = send(opts, resolve);
        req.on("error", (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the far end closed as the request went out:
          // nothing was answered, so an idempotent request is sent again.
          (err as { reusedSocket?: boolean }).reusedSocket = req.reusedSocket;
          reject(err);
        });
        if (body !== undefined) req.write(body);
        req.end();
      });
    // Each failed attempt used up one pooled connection (all may have been reset at
    // once), so this ends, at the latest with a new connection, whose error is final.
    for (;;) {
      try {
        return await once();
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (!(e.reusedSocket && e.code === "ECONNRESET" && RESENDABLE.has(method)) || signal?.aborted)
          throw err;
      }
    }
  }

  private agentFor(opts: RequestOptions): HttpAgent {
    const identity = tlsIdentity(opts);
    if (this.agent?.identity !== identity) {
      this.agent?.agent.destroy();
      const agent =
        this.server.protocol === "https:"
          ? new HttpsAgent({
              keepAlive: true,
              ...Object.fromEntries(TLS_KEYS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])),
            })
          : new HttpAgent({ keepAlive: true });
      this.agent = { identity, agent };
    }
    return this.agent.agent;
  }

  /** Closes the client's kept-alive connections (a process that ends need not). */
  close(): void {
    this.agent?.agent.destroy();
    this.agent = undefined;
  }

  private static async readAll(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  private static toError(status: number, text: string, what: string): KubeApiError {
    try {
      const s = JSON.parse(text) as { reason?: string; message?: string; details?: unknown };
      return new KubeApiError(
        status,
        s.reason ?? "Unknown",
        s.message ?? `${what}: HTTP ${status}`,
        s.details,
      );
    } catch {
      return new KubeApiError(status, "Unknown", `${what}: HTTP ${status}: ${text.slice(0, 200)}`);
    }
  }

  async request<T>(
    method: string,
    path: string,
    opts: { body?: unknown; contentType?: string; query?: Query } = {},
  ): Promise<T> {
    const full = withQuery(path, opts.query);
    const body =
      opts.body === undefined
        ? undefined
        : typeof opts.body === "string"
          ? opts.body
          : JSON.stringify(opts.body);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = opts.contentType ?? "application/json";
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    let text: string;
    let res: IncomingMessage;
    try {
      res = await this.open(method, full, body, headers, signal);
      text = await KubeClient.readAll(res);
    } catch (err) {
      if (signal.aborted)
        throw new Error(`${method} ${path}: no answer within ${this.requestTimeoutMs}ms`, { cause: err });
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw KubeClient.toError(status, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  get<T extends KubeObject>(r: ResourceType, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", resourcePath(r, namespace, name));
  }

  /** Reads an object, or undefined when it does not exist. */
  async find<T extends KubeObject>(
    r: ResourceType,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(r, name, namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject>(r: ResourceType, namespace?: string, query?: Query): Promise<ListResult<T>> {
    return this.request<ListResult<T>>("GET", resourcePath(r, namespace), { query });
  }

  /** Creates an object under this client's field manager. */
  create<T extends KubeObject>(r: ResourceType, obj: T): Promise<T> {
    return this.request<T>("POST", resourcePath(r, obj.metadata.namespace), {
      body: obj,
      query: { fieldManager: this.fieldManager },
    });
  }

  /**
   * Server-side apply under the operator's field manager. A `metadata.resourceVersion`
   * in the object makes the apply conditional (optimistic concurrency).
   */
  apply<T extends KubeObject>(r: ResourceType, obj: T, subresource?: string): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`cannot apply a ${r.kind} without metadata.name`);
    return this.request<T>("PATCH", resourcePath(r, obj.metadata.namespace, name, subresource), {
      body: { ...obj, apiVersion: apiVersionOf(r), kind: r.kind },
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: this.fieldManager, force: true },
    });
  }

  /** A JSON merge patch; pass metadata.resourceVersion in the patch for a precondition. */
  mergePatch<T extends KubeObject>(
    r: ResourceType,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    subresource?: string,
  ): Promise<T> {
    return this.request<T>("PATCH", resourcePath(r, namespace, name, subresource), {
      body: patch,
      contentType: "application/merge-patch+json",
      query: { fieldManager: this.fieldManager },
    });
  }

  /** Deletes with optional uid/resourceVersion preconditions; a missing object is not an error. */
  async delete(
    r: ResourceType,
    name: string,
    namespace?: string,
    opts: {
      uid?: string;
      resourceVersion?: string;
      propagationPolicy?: "Foreground" | "Background" | "Orphan";
    } = {},
  ): Promise<void> {
    const preconditions: Record<string, string> = {};
    if (opts.uid) preconditions.uid = opts.uid;
    if (opts.resourceVersion) preconditions.resourceVersion = opts.resourceVersion;
    try {
      await this.request("DELETE", resourcePath(r, namespace, name), {
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          propagationPolicy: opts.propagationPolicy ?? "Background",
          ...(Object.keys(preconditions).length > 0 ? { preconditions } : {}),
        },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Opens a watch stream and calls `onEvent` for each event until the stream
   * ends (resolves) or fails (rejects). `signal` aborts it.
   */
  async watch<T>(
    r: ResourceType,
    query: Query,
    onEvent: (ev: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const path = withQuery(resourcePath(r), { ...query, watch: true, allowWatchBookmarks: true });
    const res = await this.open("GET", path, undefined, {}, signal);
    const status = res.statusCode ?? 0;
    if (status !== 200) throw KubeClient.toError(status, await KubeClient.readAll(res), `watch ${r.plural}`);
    let buf = "";
    for await (const chunk of res) {
      buf += (chunk as Buffer).toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    }
  }
}

/** The `data` map of a Secret or ConfigMap (empty when absent). */
export function dataOf(obj: KubeObject | undefined): Record<string, string> {
  const data = obj?.data;
  return data !== null && typeof data === "object" ? (data as Record<string, string>) : {};
}

/** The structured logger the informer reports through (the operator's JSON logger satisfies it). */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}
