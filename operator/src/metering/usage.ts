// Storage metering: turns the participant reconciler's bucket samples into
// usage CloudEvents (meter storage.byte_seconds) and posts them to the
// dashboard API's POST /v1/usage. Time is cut into fixed windows; a sample
// bills its bucket's size for the whole window it falls in, and windows missed
// since the last sample (a slow requeue) are filled with the same size. The
// event id is storage/<participant uid>/<window start>, so a retry, a second
// replica or a restart can never count a window twice: the API keeps the first
// payload (and flags a different one as a conflict, never adding it).
// Posted with the operator's ApiClient (@tds/wire), configured like its other
// calls to the dashboard API (apiClientOptionsFromEnv): TDS_DASHBOARD_URL and a
// bearer token, TDS_DASHBOARD_TOKEN or TDS_DASHBOARD_TOKEN_FILE (the chart's
// and infra/'s projected ServiceAccount token, re-read per post so it can
// rotate); without them nothing is posted.
import { ApiClient, ApiError, usageEventType, type MeterName, type UsageEvent } from "@tds/wire";
import { apiClientOptionsFromEnv } from "../api-client/api-client.ts";
import type { Logger } from "../runtime/log.ts";

export const USAGE_SOURCE = "/tds/operator/storage";
export const STORAGE_METER: MeterName = "storage.byte_seconds";

export interface StorageSample {
  readonly space: string;
  readonly participant: string;
  readonly uid: string;
  readonly bytes: bigint;
  readonly at: Date;
}

/**
 * The events one sample produces: one per window from the one after
 * `lastWindowStart` (at most `maxBackfill` windows back) through the window of
 * `sample.at`. Pure, so the window arithmetic is unit-tested.
 */
export function storageEvents(
  sample: StorageSample,
  lastWindowStart: number | undefined,
  windowMs: number,
  maxBackfill = 60,
): UsageEvent[] {
  const current = Math.floor(sample.at.getTime() / windowMs) * windowMs;
  let first = lastWindowStart === undefined ? current : lastWindowStart + windowMs;
  first = Math.max(first, current - maxBackfill * windowMs);
  const perWindow = sample.bytes * BigInt(Math.floor(windowMs / 1000));
  const events: UsageEvent[] = [];
  for (let w = first; w <= current; w += windowMs) {
    const time = new Date(w).toISOString();
    events.push({
      specversion: "1.0",
      id: `storage/${sample.uid}/${time}`,
      source: USAGE_SOURCE,
      type: usageEventType,
      time,
      subject: `participants/${sample.participant}`,
      data: {
        space: sample.space,
        participant: sample.participant,
        meter: STORAGE_METER,
        quantity: perWindow.toString(),
      },
    });
  }
  return events;
}

export interface UsageReporterOptions {
  readonly url: string;
  /** The bearer token of each post (a file's content is re-read, so it can rotate). */
  readonly token: () => string | Promise<string>;
  readonly windowMs?: number;
  readonly timeoutMs?: number;
  /** Unacknowledged events kept for the next attempt; the oldest are dropped beyond this. */
  readonly maxPending?: number;
  readonly fetch?: typeof fetch;
}

export class UsageReporter {
  private readonly lastWindow = new Map<string, number>();
  private readonly pending = new Map<string, UsageEvent>();
  private readonly api: ApiClient;
  private readonly windowMs: number;

  constructor(private readonly opts: UsageReporterOptions) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.api = new ApiClient({
      url: opts.url,
      token: opts.token,
      timeoutMs: opts.timeoutMs ?? 5_000,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  }

  /** Records a sample and posts everything not yet acknowledged. Never throws. */
  async sample(s: StorageSample, log?: Logger): Promise<void> {
    const events = storageEvents(s, this.lastWindow.get(s.uid), this.windowMs);
    const last = events.at(-1);
    if (last) this.lastWindow.set(s.uid, Date.parse(last.time));
    for (const e of events) this.pending.set(e.id, e);
    const max = this.opts.maxPending ?? 10_000;
    for (const id of this.pending.keys()) {
      if (this.pending.size <= max) break;
      this.pending.delete(id);
      log?.warn("dropped an unsent storage usage event: the dashboard API has been unreachable", { id });
    }
    await this.flush(log);
  }

  async flush(log?: Logger): Promise<void> {
    const batch = [...this.pending.values()].slice(0, 1000);
    if (batch.length === 0) return;
    try {
      const answer = await this.api.postUsage(batch);
      for (const e of batch) this.pending.delete(e.id);
      const { conflicts } = answer;
      if (conflicts)
        log?.warn("the dashboard API kept earlier storage samples for some windows", { conflicts });
    } catch (err) {
      if (err instanceof ApiError && err.final) {
        // Retrying cannot help (a bad token, or events the API refuses): drop them, loudly.
        for (const e of batch) this.pending.delete(e.id);
        log?.error("the dashboard API refused storage usage events", {
          status: err.status,
          body: err.message,
        });
      } else if (err instanceof ApiError && err.status !== undefined) {
        log?.warn("cannot post storage usage; will retry", { status: err.status });
      } else {
        log?.warn("cannot reach the dashboard API to post storage usage; will retry", { error: String(err) });
      }
    }
  }
}

let fromEnv: UsageReporter | null | undefined;

/**
 * A reporter from TDS_DASHBOARD_URL with TDS_DASHBOARD_TOKEN or
 * TDS_DASHBOARD_TOKEN_FILE; null when either is unset.
 */
export function usageReporterFromEnv(env: NodeJS.ProcessEnv, transport?: typeof fetch): UsageReporter | null {
  const api = apiClientOptionsFromEnv(env);
  const windowMs = env.TDS_STORAGE_WINDOW_MS ? Number(env.TDS_STORAGE_WINDOW_MS) : undefined;
  return api?.token
    ? new UsageReporter({
        url: api.url,
        token: api.token,
        ...(windowMs ? { windowMs } : {}),
        ...(transport ? { fetch: transport } : {}),
      })
    : null;
}

/** The process's reporter (usageReporterFromEnv of process.env), made once. */
export function usageReporter(): UsageReporter | null {
  if (fromEnv === undefined) fromEnv = usageReporterFromEnv(process.env);
  return fromEnv;
}

/** Called from the participant reconciler after each bucket sample. */
export async function reportStorageSample(sample: StorageSample, log?: Logger): Promise<void> {
  await usageReporter()?.sample(sample, log);
}
