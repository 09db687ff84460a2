// The risk rules of a DataSpace (spec.risk, crds/src/risk.types.ts) as pure
// functions: the windows a pass judges, and the findings the rows of the
// metering and the gateway's refusals give. Nothing here does I/O; the
// evaluator (evaluator.ts) reads the rows and stores the findings.
import { REFUSED_ACCESSES_MAX_WINDOW_MINUTES, RISK_DEFAULTS, type RiskRule, type RiskRules } from "@tds/crds";

export interface Window {
  readonly start: Date;
  readonly end: Date;
}

/** What a finding says; the evaluator stores it under (space, rule, subject, window.start). */
export interface Finding {
  readonly rule: RiskRule;
  /** The consumer (downloadVolume, copiedInputs) or the agreement id (refusedAccesses, unusualHours). */
  readonly subject: string;
  readonly window: Window;
  /** Decimal strings: bytes, refusals, or the hour of day (unusualHours). */
  readonly observed: string;
  readonly threshold: string;
  readonly message: string;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The oldest refusal a pass can read, in hours before now: the start of the
 * window before the current one, for the longest refusedAccesses window the
 * schema admits. The retention of gateway_refusals is at least this.
 */
export const REFUSALS_LOOKBACK_HOURS = (2 * REFUSED_ACCESSES_MAX_WINDOW_MINUTES) / 60;

/** The window of `minutes` (aligned to the Unix epoch) holding `t`. */
export function windowAt(t: Date, minutes: number): Window {
  const len = minutes * MINUTE;
  const start = Math.floor(t.getTime() / len) * len;
  return { start: new Date(start), end: new Date(start + len) };
}

/** The windows a pass at `now` judges: the current one and the one before, so activity late in a window is judged after it ends. */
export function windowsToJudge(now: Date, minutes: number): Window[] {
  const current = windowAt(now, minutes);
  return [windowAt(new Date(current.start.getTime() - 1), minutes), current];
}

/** The rules of a spec with every default filled in; rules not present are absent. */
export function resolveRules(risk: RiskRules | undefined): {
  downloadVolume?: Required<NonNullable<RiskRules["downloadVolume"]>>;
  refusedAccesses?: Required<NonNullable<RiskRules["refusedAccesses"]>>;
  unusualHours?: Required<NonNullable<RiskRules["unusualHours"]>>;
  copiedInputs?: Required<NonNullable<RiskRules["copiedInputs"]>>;
  expireAfterHours: number;
} {
  const d = RISK_DEFAULTS;
  return {
    ...(risk?.downloadVolume ? { downloadVolume: { ...d.downloadVolume, ...risk.downloadVolume } } : {}),
    ...(risk?.refusedAccesses ? { refusedAccesses: { ...d.refusedAccesses, ...risk.refusedAccesses } } : {}),
    ...(risk?.unusualHours ? { unusualHours: { ...d.unusualHours, ...risk.unusualHours } } : {}),
    ...(risk?.copiedInputs ? { copiedInputs: { ...d.copiedInputs, ...risk.copiedInputs } } : {}),
    expireAfterHours: risk?.expireAfterHours ?? d.expireAfterHours,
  };
}

/** One consumer's downloaded bytes in one window. */
export interface VolumeRow {
  readonly consumer: string;
  readonly windowStart: Date;
  readonly bytes: bigint;
}

/** factor × the median of `values` (sorted ascending, not empty), exactly, as a decimal string. */
function timesMedian(sorted: readonly bigint[], factor: number): { twice: bigint; text: string } {
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  // twice the median, so an even count's mean of the middle two stays an integer
  const twiceMedian = n % 2 === 1 ? 2n * (sorted[mid] ?? 0n) : (sorted[mid - 1] ?? 0n) + (sorted[mid] ?? 0n);
  const twice = twiceMedian * BigInt(factor);
  return { twice, text: twice % 2n === 0n ? String(twice / 2n) : `${String(twice / 2n)}.5` };
}

/**
 * downloadVolume: a consumer's bytes in the window over factor × the median of its
 * active windows (bytes > 0) in the baselineDays before the window's start, once it
 * has at least minBaselineWindows of them.
 */
export function volumeFindings(
  rule: Required<NonNullable<RiskRules["downloadVolume"]>>,
  window: Window,
  rows: readonly VolumeRow[],
): Finding[] {
  const baselineFrom = window.start.getTime() - rule.baselineDays * DAY;
  const byConsumer = new Map<string, { current: bigint; baseline: bigint[] }>();
  for (const r of rows) {
    const t = r.windowStart.getTime();
    const c = byConsumer.get(r.consumer) ?? { current: 0n, baseline: [] };
    byConsumer.set(r.consumer, c);
    if (t === window.start.getTime()) c.current += r.bytes;
    else if (t >= baselineFrom && t < window.start.getTime() && r.bytes > 0n) c.baseline.push(r.bytes);
  }
  const out: Finding[] = [];
  for (const [consumer, c] of [...byConsumer].sort(([a], [b]) => a.localeCompare(b))) {
    if (c.baseline.length < rule.minBaselineWindows || c.current === 0n) continue;
    const { twice, text } = timesMedian(
      [...c.baseline].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      rule.factor,
    );
    if (2n * c.current <= twice) continue;
    out.push({
      rule: "downloadVolume",
      subject: consumer,
      window,
      observed: String(c.current),
      threshold: text,
      message: `Consumer ${consumer} downloaded ${String(c.current)} bytes in ${windowText(window)}, over ${String(rule.factor)} times its median of ${String(c.baseline.length)} active windows (${text} bytes)`,
    });
  }
  return out;
}

/** The gateway's refusals of one agreement in one window. */
export interface RefusalRow {
  readonly agreementId: string;
  readonly consumer: string;
  readonly windowStart: Date;
  readonly refusals: number;
}

/** refusedAccesses: at least threshold refusals for one agreement in the window. */
export function refusalFindings(
  rule: Required<NonNullable<RiskRules["refusedAccesses"]>>,
  window: Window,
  rows: readonly RefusalRow[],
): Finding[] {
  return rows
    .filter((r) => r.windowStart.getTime() === window.start.getTime() && r.refusals >= rule.threshold)
    .sort((a, b) => a.agreementId.localeCompare(b.agreementId))
    .map((r) => ({
      rule: "refusedAccesses",
      subject: r.agreementId,
      window,
      observed: String(r.refusals),
      threshold: String(rule.threshold),
      message: `The gateway refused ${String(r.refusals)} requests for agreement ${r.agreementId} of consumer ${r.consumer} in ${windowText(window)}, at least ${String(rule.threshold)}`,
    }));
}

/** One UTC day on which an agreement had accesses, and in which hours of the day. */
export interface AccessRow {
  readonly agreementId: string;
  readonly consumer: string;
  /** Midnight UTC of the day. */
  readonly day: Date;
  /** 0..23 */
  readonly hour: number;
}

/**
 * unusualHours: an access in the window (one UTC hour) at an hour of the day in which
 * the agreement had no access on any day of the baselineDays before the window's UTC
 * day, once it had accesses on at least minActiveDays distinct days of them.
 */
export function unusualHourFindings(
  rule: Required<NonNullable<RiskRules["unusualHours"]>>,
  window: Window,
  rows: readonly AccessRow[],
): Finding[] {
  const today = Math.floor(window.start.getTime() / DAY) * DAY;
  const hour = new Date(window.start).getUTCHours();
  const from = today - rule.baselineDays * DAY;
  const byAgreement = new Map<
    string,
    { consumer: string; now: boolean; days: Set<number>; hours: Set<number> }
  >();
  for (const r of rows) {
    const a = byAgreement.get(r.agreementId) ?? {
      consumer: r.consumer,
      now: false,
      days: new Set<number>(),
      hours: new Set<number>(),
    };
    byAgreement.set(r.agreementId, a);
    const day = r.day.getTime();
    if (day === today && r.hour === hour) a.now = true;
    else if (day >= from && day < today) {
      a.days.add(day);
      a.hours.add(r.hour);
    }
  }
  const out: Finding[] = [];
  for (const [agreementId, a] of [...byAgreement].sort(([x], [y]) => x.localeCompare(y))) {
    if (!a.now || a.days.size < rule.minActiveDays || a.hours.has(hour)) continue;
    const usual = [...a.hours].sort((x, y) => x - y).map((h) => String(h).padStart(2, "0"));
    out.push({
      rule: "unusualHours",
      subject: agreementId,
      window,
      observed: String(hour),
      threshold: usual.join(","),
      message: `Agreement ${agreementId} of consumer ${a.consumer} was used at ${String(hour).padStart(2, "0")}:00 UTC, outside its usual hours (${usual.join(", ")} UTC over ${String(a.days.size)} active days)`,
    });
  }
  return out;
}

/** A SandboxJob whose outputs were withheld for copying an input (its sandbox.input-copied evidence entry). */
export interface CopiedInputRow {
  readonly consumer: string;
  /** namespace/name of the job */
  readonly job: string;
  /** The entry's time: when the outputs were withheld. */
  readonly time: Date;
}

/** copiedInputs: at least threshold of one consumer's jobs withheld for copying an input in the window. */
export function copiedInputFindings(
  rule: Required<NonNullable<RiskRules["copiedInputs"]>>,
  window: Window,
  rows: readonly CopiedInputRow[],
): Finding[] {
  const byConsumer = new Map<string, Set<string>>();
  for (const r of rows) {
    const t = r.time.getTime();
    if (t < window.start.getTime() || t >= window.end.getTime()) continue;
    const jobs = byConsumer.get(r.consumer) ?? new Set<string>();
    byConsumer.set(r.consumer, jobs.add(r.job));
  }
  const out: Finding[] = [];
  for (const [consumer, jobs] of [...byConsumer].sort(([a], [b]) => a.localeCompare(b))) {
    if (jobs.size < rule.threshold) continue;
    const names = [...jobs].sort();
    out.push({
      rule: "copiedInputs",
      subject: consumer,
      window,
      observed: String(jobs.size),
      threshold: String(rule.threshold),
      message: `Consumer ${consumer} had ${String(jobs.size)} sandbox ${jobs.size === 1 ? "job" : "jobs"} withheld for copying an input in ${windowText(window)}, at least ${String(rule.threshold)}: ${names.join(", ")}`,
    });
  }
  return out;
}

function windowText(w: Window): string {
  return `the window ${w.start.toISOString()} to ${w.end.toISOString()}`;
}
