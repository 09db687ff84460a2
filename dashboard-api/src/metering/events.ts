// Usage events (CloudEvents 1.0, their schema in @tds/wire) as ingest stores
// them: validation beyond the schema (timestamps), and the canonical form
// whose hash makes replays detectable.
import { createHash } from "node:crypto";
import { sharedMeters, type MeterName, type UsageEvent, type UsageShare } from "@tds/wire";
import { TdsError } from "../errors.ts";

/** A usage event validated and normalised, as ingest stores it. */
export interface IngestEvent {
  readonly source: string;
  readonly id: string;
  readonly space: string;
  readonly participant: string;
  readonly provider: string;
  readonly offer: string;
  readonly contract: string;
  readonly meter: MeterName;
  readonly quantity: bigint;
  /** The input's share of a SandboxJob's usage the quantity is, if it is one. */
  readonly share: UsageShare | null;
  readonly time: Date;
  /** sha256 of the canonical form; equal for a faithful replay. */
  readonly sha256: Buffer;
  readonly raw: UsageEvent;
}

export interface TimeWindow {
  /** How far in the future an event may be stamped (clock skew). */
  readonly maxFutureMs: number;
  /** How old an event may be. */
  readonly maxAgeMs: number;
}

export const defaultTimeWindow: TimeWindow = { maxFutureMs: 5 * 60_000, maxAgeMs: 400 * 86_400_000 };

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** What the schema cannot say of a share: each weight within its sum, the part within the job's total. */
function checkShare(share: UsageShare, meter: MeterName, quantity: bigint, index: number): void {
  const refuse = (key: string, message: string): never => {
    const field = `body/${String(index)}/data/share${key === "" ? "" : `/${key}`}`;
    throw new TdsError("validation", `${field}: ${message}`, { field });
  };
  if (!(sharedMeters as readonly string[]).includes(meter))
    refuse("", `only ${sharedMeters.join(" and ")} are split among a job's inputs, not ${meter}`);
  if (BigInt(share.weight) > BigInt(share.inputsWeight))
    refuse("weight", `${share.weight} exceeds inputsWeight ${share.inputsWeight}`);
  if (BigInt(share.providerWeight) > BigInt(share.providersWeight))
    refuse("providerWeight", `${share.providerWeight} exceeds providersWeight ${share.providersWeight}`);
  if (BigInt(share.providersWeight) === 0n)
    refuse("providersWeight", "a job's providers weigh something (all zero weighs them equally)");
  if (quantity > BigInt(share.total))
    refuse(
      "total",
      `the job's total ${share.total} is less than the event's quantity ${quantity.toString()}`,
    );
}

/** Validates what the schema cannot (instants, a share's sums) and normalises one event. */
export function normalizeEvent(
  raw: UsageEvent,
  index: number,
  now: Date,
  window = defaultTimeWindow,
): IngestEvent {
  const time = new Date(raw.time);
  const field = `body/${index}/time`;
  if (Number.isNaN(time.getTime()))
    throw new TdsError("validation", `${field}: not a valid RFC 3339 time`, { field });
  if (time.getTime() > now.getTime() + window.maxFutureMs)
    throw new TdsError("validation", `${field}: ${raw.time} is in the future`, { field });
  if (time.getTime() < now.getTime() - window.maxAgeMs)
    throw new TdsError("validation", `${field}: ${raw.time} is older than the accepted window`, { field });
  const quantity = BigInt(raw.data.quantity);
  const share = raw.data.share ?? null;
  if (share) checkShare(share, raw.data.meter, quantity, index);
  // The instant and the quantity are hashed normalised, so 5 and "5", or Z and +00:00, are one payload.
  const canonical = canonicalJson({
    ...raw,
    time: time.toISOString(),
    data: { ...raw.data, quantity: quantity.toString() },
  });
  return {
    source: raw.source,
    id: raw.id,
    space: raw.data.space,
    participant: raw.data.participant,
    provider: raw.data.provider ?? "",
    offer: raw.data.offer ?? "",
    contract: raw.data.contract ?? "",
    meter: raw.data.meter,
    quantity,
    share,
    time,
    sha256: createHash("sha256").update(canonical).digest(),
    raw,
  };
}
