// The client the operator (and anything else with the append right) uses to
// write evidence. Appends are idempotent by eventId, so a request whose answer
// was lost is simply sent again: the log records the event once and answers
// with its position either way.
import type { EvidenceEntry } from "./entry.ts";

export interface ClientAppendResult {
  eventId: string;
  leafIndex: number;
  /** base64 */
  leafHash: string;
  duplicate: boolean;
}

export interface EvidenceClientOptions {
  /** The dashboard API, e.g. http://tds-dashboard-api.tds-system:8080 */
  baseUrl: string;
  /** Bearer token of the operator's service identity; called per request so it can rotate. */
  token?: () => string | Promise<string>;
  /** Attempts per call, the first included. */
  attempts?: number;
  /** First backoff; doubles per retry, with jitter. */
  backoffMs?: number;
  fetch?: typeof fetch;
  /** Per-attempt timeout. */
  timeoutMs?: number;
}

/** An entry as the log holds it. */
export interface ClientRecordedEntry {
  leafIndex: number;
  /** base64 */
  leafHash: string;
  entry: EvidenceEntry;
}

export class EvidenceClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly field?: string,
    options?: ErrorOptions,
    /** TDS_ERR_EVIDENCE_EVENT_CONFLICT: the entry the log already holds under the eventId. */
    readonly recorded?: ClientRecordedEntry,
  ) {
    super(message, options);
    this.name = "EvidenceClientError";
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class EvidenceClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: EvidenceClientOptions) {
    this.fetch = opts.fetch ?? globalThis.fetch;
  }

  /**
   * Appends entries (at most 1000) to a space's log and resolves once they are
   * durable. Retries network errors, 429 and 5xx; a 4xx other than 429 is the
   * caller's mistake and is thrown at once.
   */
  async append(space: string, entries: readonly EvidenceEntry[]): Promise<ClientAppendResult[]> {
    const url = `${this.opts.baseUrl.replace(/\/+$/u, "")}/v1/spaces/${encodeURIComponent(space)}/evidence/entries`;
    const attempts = this.opts.attempts ?? 5;
    const backoff = this.opts.backoffMs ?? 200;
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const headers: Record<string, string> = { "content-type": "application/json" };
        const token = await this.opts.token?.();
        if (token !== undefined) headers.authorization = `Bearer ${token}`;
        const res = await this.fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify({ entries }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        const body = (await res.json().catch(() => ({}))) as {
          results?: ClientAppendResult[];
          code?: string;
          detail?: string;
          field?: string;
          recorded?: ClientRecordedEntry;
        };
        if (res.ok && body.results) return body.results;
        const err = new EvidenceClientError(
          `cannot append evidence to space ${space}: HTTP ${res.status} ${body.code ?? ""} ${body.detail ?? ""}`.trim(),
          res.status,
          body.code,
          body.field,
          undefined,
          body.recorded,
        );
        if (res.status !== 429 && res.status < 500) throw err;
        last = err;
      } catch (err) {
        if (
          err instanceof EvidenceClientError &&
          err.status !== undefined &&
          err.status !== 429 &&
          err.status < 500
        ) {
          throw err;
        }
        last = err;
      }
      if (attempt < attempts) await sleep(backoff * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    throw new EvidenceClientError(
      `cannot append evidence to space ${space} after ${attempts} attempts`,
      undefined,
      undefined,
      undefined,
      {
        cause: last,
      },
    );
  }
}
