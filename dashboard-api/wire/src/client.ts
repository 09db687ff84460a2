// ApiClient: the one typed client of the API's internal endpoints, which the
// operator calls: evidence appends, catalog entries, usage events, and what
// the gateway counted of agreements and sandbox reads. Requests and answers
// are the schemas of this package. A bearer token is asked for per request
// (`token`), so a projected ServiceAccount token can rotate.
//
// Evidence appends are idempotent by eventId, so an append whose answer was
// lost is sent again (network errors, 429 and 5xx, with backoff): the log
// records the event once and answers with its position either way. Other
// calls are sent once; their callers retry on their next reconcile or sample.
import { Value } from "@sinclair/typebox/value";
import { AgreementUseSchema, SandboxReadsSchema } from "./agreements.ts";
import type { ConsentFacts } from "@tds/crds/policy";
import type { CatalogEntry } from "./catalog.ts";
import { ConsentListSchema, consentFactsOf } from "./consents.ts";
import {
  AppendEvidenceResponseSchema,
  EVIDENCE_EVENT_CONFLICT,
  type AppendResult,
  type EvidenceEntry,
  type StoredEntry,
} from "./evidence.ts";
import { RiskFindingsSchema, type RiskFinding } from "./risk.ts";
import type { UsageEvent, UsageIngestResponse } from "./usage.ts";

export interface ApiClientOptions {
  /** The API's base URL, e.g. http://tds-dashboard-api.tds-system:8080 */
  readonly url: string;
  /** The caller's bearer token; called per request so it can rotate. */
  readonly token?: () => string | Promise<string>;
  readonly fetch?: typeof fetch;
  /** Attempts of an evidence append, the first included (default 3). */
  readonly attempts?: number;
  /** First backoff between append attempts; doubles per retry, with jitter (default 200 ms). */
  readonly backoffMs?: number;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
}

/** A refused or failed call: the HTTP status and, from a problem document, its code and field. */
export class ApiError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly field: string | undefined;
  /** TDS_ERR_EVIDENCE_EVENT_CONFLICT: the entry the log already holds under the eventId. */
  readonly recorded: StoredEntry | undefined;

  constructor(
    message: string,
    details: { status?: number; code?: string; field?: string; recorded?: StoredEntry } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ApiError";
    this.status = details.status;
    this.code = details.code;
    this.field = details.field;
    this.recorded = details.recorded;
  }

  /** Sending the same request again cannot help: a 4xx other than 408 and 429. */
  get final(): boolean {
    return this.status !== undefined && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

/** One entry as recordEvidence reports it. */
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

/** A SandboxJob's input reads through the gateway, per agreement id. */
export type SandboxReads = ReadonlyMap<string, { readonly reads: bigint; readonly bytes: bigint }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const e = encodeURIComponent;
const hex = (base64: string): string => Buffer.from(base64, "base64").toString("hex");

interface Problem {
  code?: string;
  detail?: string;
  field?: string;
  recorded?: StoredEntry;
}

export class ApiClient {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: ApiClientOptions) {
    this.base = opts.url.replace(/\/+$/u, "");
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /** Sends one request; resolves with the answer, or throws an ApiError (status, problem code and field). */
  private async send(
    method: string,
    path: string,
    body?: { readonly json: unknown; readonly type?: string },
  ): Promise<unknown> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body) headers["content-type"] = body.type ?? "application/json";
    const token = await this.opts.token?.();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body ? { body: JSON.stringify(body.json) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new ApiError(`${method} ${path}: ${(err as Error).message}`, {}, { cause: err });
    }
    const text = await res.text().catch(() => "");
    let answer: unknown;
    try {
      answer = text === "" ? undefined : JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (res.ok) return answer;
    const p = (typeof answer === "object" && answer !== null ? answer : {}) as Problem;
    throw new ApiError(
      `${method} ${path}: HTTP ${res.status} ${p.code ?? ""} ${p.detail ?? text.slice(0, 300)}`.trim(),
      {
        status: res.status,
        ...(p.code ? { code: p.code } : {}),
        ...(p.field ? { field: p.field } : {}),
        ...(p.recorded ? { recorded: p.recorded } : {}),
      },
    );
  }

  /**
   * Appends entries (at most 1000) to a space's evidence log and resolves once
   * they are durable, sending again on network errors, 429 and 5xx.
   */
  async appendEvidence(space: string, entries: readonly EvidenceEntry[]): Promise<AppendResult[]> {
    const path = `/v1/spaces/${e(space)}/evidence/entries`;
    const attempts = this.opts.attempts ?? 3;
    const backoff = this.opts.backoffMs ?? 200;
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const answer = await this.send("POST", path, { json: { entries } });
        if (!Value.Check(AppendEvidenceResponseSchema, answer))
          throw new ApiError(`POST ${path}: the answer has no results`);
        return answer.results;
      } catch (err) {
        if (err instanceof ApiError && err.final) throw err;
        last = err;
      }
      if (attempt < attempts) await sleep(backoff * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    throw new ApiError(
      `cannot append evidence to space ${space} after ${attempts} attempts`,
      {},
      { cause: last },
    );
  }

  /**
   * Records entries in a space's evidence log (appendEvidence), with leaf
   * hashes in hex. One entry whose eventId the log holds with other content
   * (recorded before a crash, with the clock of that attempt) counts as
   * recorded: the id is the idempotency key. It is answered with the position
   * and the entry the log holds.
   */
  async recordEvidence(space: string, entries: readonly EvidenceEntry[]): Promise<Recorded[]> {
    try {
      const results = await this.appendEvidence(space, entries);
      return results.map((r) => ({ eventId: r.eventId, leafIndex: r.leafIndex, leafHash: hex(r.leafHash) }));
    } catch (err) {
      if (err instanceof ApiError && err.code === EVIDENCE_EVENT_CONFLICT && entries.length === 1) {
        const held = err.recorded;
        return entries.map((entry) => ({
          eventId: entry.eventId,
          leafIndex: held?.leafIndex,
          leafHash: held && hex(held.leafHash),
          ...(held ? { held: held.entry } : {}),
        }));
      }
      throw new Error(`cannot record evidence in space ${space}`, { cause: err });
    }
  }

  private static offerPath(space: string, namespace: string, name: string): string {
    return `/v1/spaces/${e(space)}/catalog/offers/${e(namespace)}/${e(name)}`;
  }

  /** Publishes (or updates) an offer's catalog entry. */
  async publish(entry: CatalogEntry): Promise<void> {
    try {
      await this.send("PUT", ApiClient.offerPath(entry.space, entry.namespace, entry.name), { json: entry });
    } catch (err) {
      throw new Error(`cannot publish offer ${entry.namespace}/${entry.name} to the catalog`, {
        cause: err,
      });
    }
  }

  /** Withdraws an offer from the catalog; an offer that is not there is withdrawn already. */
  async withdraw(space: string, namespace: string, name: string): Promise<void> {
    try {
      await this.send("DELETE", ApiClient.offerPath(space, namespace, name));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return;
      throw new Error(`cannot withdraw offer ${namespace}/${name} from the catalog`, { cause: err });
    }
  }

  /** Posts usage CloudEvents to POST /v1/usage; the API keeps the first event of each id. */
  async postUsage(events: readonly UsageEvent[]): Promise<UsageIngestResponse> {
    const answer = await this.send("POST", "/v1/usage", {
      json: events,
      type: "application/cloudevents-batch+json",
    });
    if (typeof (answer as Partial<UsageIngestResponse> | undefined)?.conflicts !== "number")
      throw new Error("POST /v1/usage: the answer has no conflicts count");
    return answer as UsageIngestResponse;
  }

  /** Accesses the gateway counted for an agreement (GET /v1/spaces/{space}/agreements/{id}). */
  async agreementAccesses(space: string, agreementId: string): Promise<number> {
    const path = `/v1/spaces/${e(space)}/agreements/${e(agreementId)}`;
    const answer = await this.send("GET", path);
    if (!Value.Check(AgreementUseSchema, answer)) throw new Error(`GET ${path}: a malformed answer`);
    return answer.accesses;
  }

  /**
   * The data subjects' consents for an offer and purpose
   * (GET /v1/spaces/{space}/consents), as the policy engine judges them: the
   * contract decision's facts for a personal-data offer.
   */
  async offerConsents(
    space: string,
    offer: { readonly namespace: string; readonly name: string },
    purpose: string,
  ): Promise<ConsentFacts[]> {
    const query = new URLSearchParams({
      offerNamespace: offer.namespace,
      offerName: offer.name,
      purpose,
    });
    const path = `/v1/spaces/${e(space)}/consents?${query.toString()}`;
    const answer = await this.send("GET", path);
    if (!Value.Check(ConsentListSchema, answer)) throw new Error(`GET ${path}: a malformed answer`);
    return consentFactsOf(answer.items);
  }

  /** What a SandboxJob read, per agreement (GET /v1/spaces/{space}/sandboxjobs/{uid}/reads). */
  async sandboxReads(space: string, uid: string): Promise<SandboxReads> {
    const path = `/v1/spaces/${e(space)}/sandboxjobs/${e(uid)}/reads`;
    const answer = await this.send("GET", path);
    if (!Value.Check(SandboxReadsSchema, answer)) throw new Error(`GET ${path}: a malformed answer`);
    return new Map(
      answer.inputs.map((i) => [i.agreementId, { reads: BigInt(i.reads), bytes: BigInt(i.bytes) }]),
    );
  }

  /** The space's open risk findings, newest first. */
  async openRiskFindings(space: string): Promise<RiskFinding[]> {
    const path = `/v1/spaces/${e(space)}/risk/findings?open=true`;
    const answer = await this.send("GET", path);
    if (!Value.Check(RiskFindingsSchema, answer)) throw new Error(`GET ${path}: a malformed answer`);
    return answer.findings;
  }
}
