// The operator's link to the dashboard API: evidence appends (through the
// dashboard API's own idempotent EvidenceClient) and the catalogue's internal
// endpoints (PUT/DELETE /v1/spaces/:space/catalog/offers/:namespace/:name).
// Configured by TDS_DASHBOARD_URL and a bearer token (TDS_DASHBOARD_TOKEN, or
// TDS_DASHBOARD_TOKEN_FILE re-read per request so it can rotate). When it is
// not configured the operator still decides; controllers then mark evidence
// as pending in status instead of dropping it.
import { readFile } from "node:fs/promises";
import { EvidenceClient, EvidenceClientError } from "@tds/dashboard-api/evidence-client";

export interface EvidenceEntry {
  space: string;
  eventId: string;
  actor: string;
  action: string;
  time: string;
  object: { kind: string; namespace?: string; name: string; uid: string; generation?: number };
  payloadHash?: string;
}

export interface Recorded {
  eventId: string;
  /** Undefined only when the log held the event with other content and did not say where. */
  leafIndex: number | undefined;
  /** Lowercase hex. */
  leafHash: string | undefined;
  /**
   * Set when the log already held the event with other content (recorded
   * before a crash, with the clock of that attempt): the entry it holds.
   */
  held?: EvidenceEntry;
}

/** A catalogue entry as the operator publishes it; the dashboard API indexes it for search. */
export interface CatalogEntry {
  readonly space: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly provider: string;
  readonly providerName: string;
  readonly title: string;
  readonly description: string;
  readonly keywords: readonly string[];
  readonly classification: string;
  readonly dataCategory: string;
  readonly regionOfOrigin: string;
  readonly accessMode: string;
  readonly contractApproval: string;
  readonly purposes: readonly string[];
  readonly format: string;
  readonly contentId: string;
  readonly byteSize: number;
  readonly objects: number;
  readonly currency: string;
  readonly price: Readonly<Record<string, string>>;
  readonly publishedAt: string;
  readonly validity?: { readonly notBefore?: string; readonly notAfter?: string };
}

export interface Dashboard {
  recordEvidence(space: string, entries: readonly EvidenceEntry[]): Promise<Recorded[]>;
  publish(entry: CatalogEntry): Promise<void>;
  withdraw(space: string, namespace: string, name: string): Promise<void>;
  /** Posts usage CloudEvents to POST /v1/usage; the API keeps the first event of each id. */
  postUsage?(events: readonly unknown[]): Promise<void>;
  /** Accesses the gateway counted for an agreement (GET /v1/spaces/{space}/agreements/{id}). */
  agreementAccesses?(space: string, agreementId: string): Promise<number>;
  /** What a SandboxJob read, per agreement (GET /v1/spaces/{space}/sandboxjobs/{uid}/reads). */
  sandboxReads?(space: string, uid: string): Promise<SandboxReads>;
}

/** A SandboxJob's input reads through the gateway, per agreement. */
export type SandboxReads = ReadonlyMap<string, { readonly reads: bigint; readonly bytes: bigint }>;

/** The operator's identity in evidence entries. */
export const OPERATOR_ACTOR = "system:tds-operator";

export interface DashboardOptions {
  readonly url: string;
  readonly token?: () => Promise<string>;
  readonly fetch?: typeof fetch;
}

/** Options from the environment, or undefined when TDS_DASHBOARD_URL is not set. */
export function dashboardFromEnv(env: NodeJS.ProcessEnv): DashboardOptions | undefined {
  const url = env.TDS_DASHBOARD_URL;
  if (!url) return undefined;
  const file = env.TDS_DASHBOARD_TOKEN_FILE;
  const literal = env.TDS_DASHBOARD_TOKEN;
  const token = file
    ? async () => (await readFile(file, "utf8")).trim()
    : literal
      ? () => Promise.resolve(literal)
      : undefined;
  return { url, ...(token ? { token } : {}) };
}

export class HttpDashboard implements Dashboard {
  private readonly evidence: EvidenceClient;
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: DashboardOptions) {
    this.base = opts.url.replace(/\/+$/u, "");
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.evidence = new EvidenceClient({
      baseUrl: this.base,
      ...(opts.token ? { token: opts.token } : {}),
      attempts: 3,
      timeoutMs: 10_000,
      fetch: this.fetch,
    });
  }

  async recordEvidence(space: string, entries: readonly EvidenceEntry[]): Promise<Recorded[]> {
    try {
      const results = await this.evidence.append(space, entries);
      return results.map((r) => ({
        eventId: r.eventId,
        leafIndex: r.leafIndex,
        leafHash: Buffer.from(r.leafHash, "base64").toString("hex"),
      }));
    } catch (err) {
      // Same eventId, other content: the event is in the log already (recorded before a
      // crash, with the clock of that attempt). The id is the idempotency key, so it counts,
      // at the position the log answers with.
      if (
        err instanceof EvidenceClientError &&
        err.code === "TDS_ERR_EVIDENCE_EVENT_CONFLICT" &&
        entries.length === 1
      ) {
        const held = err.recorded;
        return entries.map((e) => ({
          eventId: e.eventId,
          leafIndex: held?.leafIndex,
          leafHash: held && Buffer.from(held.leafHash, "base64").toString("hex"),
          ...(held ? { held: held.entry } : {}),
        }));
      }
      throw new Error(`cannot record evidence in space ${space}`, { cause: err });
    }
  }

  private async getJson(path: string): Promise<unknown> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = await this.opts.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await this.fetch(`${this.base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw new Error(`GET ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    }
    return res.json();
  }

  async sandboxReads(space: string, uid: string): Promise<SandboxReads> {
    const path = `/v1/spaces/${encodeURIComponent(space)}/sandboxjobs/${encodeURIComponent(uid)}/reads`;
    const body = (await this.getJson(path)) as { inputs?: unknown };
    if (!Array.isArray(body.inputs)) throw new Error(`GET ${path}: no inputs in the answer`);
    const out = new Map<string, { reads: bigint; bytes: bigint }>();
    for (const i of body.inputs as { agreementId?: unknown; reads?: unknown; bytes?: unknown }[]) {
      if (
        typeof i.agreementId !== "string" ||
        !Number.isSafeInteger(i.reads) ||
        !Number.isSafeInteger(i.bytes)
      )
        throw new Error(`GET ${path}: a malformed input in the answer`);
      out.set(i.agreementId, { reads: BigInt(i.reads as number), bytes: BigInt(i.bytes as number) });
    }
    return out;
  }

  async agreementAccesses(space: string, agreementId: string): Promise<number> {
    const path = `/v1/spaces/${encodeURIComponent(space)}/agreements/${encodeURIComponent(agreementId)}`;
    const body = (await this.getJson(path)) as { accesses?: unknown };
    if (typeof body.accesses !== "number" || !Number.isSafeInteger(body.accesses) || body.accesses < 0)
      throw new Error(`GET ${path}: no accesses count in the answer`);
    return body.accesses;
  }

  private async call(method: string, path: string, body?: unknown): Promise<void> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const token = await this.opts.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await this.fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.ok || (method === "DELETE" && res.status === 404)) return;
    const text = await res.text().catch(() => "");
    throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }

  async postUsage(events: readonly unknown[]): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/cloudevents-batch+json" };
    const token = await this.opts.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await this.fetch(`${this.base}/v1/usage`, {
      method: "POST",
      headers,
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw new Error(`POST /v1/usage: HTTP ${res.status} ${text.slice(0, 300)}`);
    }
  }

  private static path(space: string, namespace: string, name: string): string {
    const e = encodeURIComponent;
    return `/v1/spaces/${e(space)}/catalog/offers/${e(namespace)}/${e(name)}`;
  }

  async publish(entry: CatalogEntry): Promise<void> {
    try {
      await this.call("PUT", HttpDashboard.path(entry.space, entry.namespace, entry.name), entry);
    } catch (err) {
      throw new Error(`cannot publish offer ${entry.namespace}/${entry.name} to the catalogue`, {
        cause: err,
      });
    }
  }

  async withdraw(space: string, namespace: string, name: string): Promise<void> {
    try {
      await this.call("DELETE", HttpDashboard.path(space, namespace, name));
    } catch (err) {
      throw new Error(`cannot withdraw offer ${namespace}/${name} from the catalogue`, { cause: err });
    }
  }
}
