// The risk pass: for each DataSpace with spec.risk, judges the current and the
// previous window of each rule (rules.ts) on the metering (usage_events), the
// gateway's transfers and refusals, and the evidence log (sandbox.input-copied), stores each finding once, appends its evidence entry,
// closes expired findings, and sets the tds_risk_findings_open gauge; and the
// retention of the gateway's refusals (pruneRefusals), which the same loop runs.
//
// Once across replicas: a pass claims each space with a PostgreSQL advisory
// lock (another replica holding it skips the space), and a finding's key
// (space, rule, subject, window) is the table's primary key, so a finding
// inserted twice is stored once. Its evidence entry is appended by whoever
// finds it without one (found_evidence null), so a crash between the insert
// and the append is repaired by the next pass.
import { createHash } from "node:crypto";
import type { EvidenceEntry } from "@tds/wire";
import { INPUT_COPIED_STEP, splitParticipantNamespace, type DataSpace } from "@tds/crds";
import type pg from "pg";
import { Gauge, type Registry } from "prom-client";
import type { EvidenceStore } from "../evidence/store.ts";
import {
  type AccessRow,
  type CopiedInputRow,
  type Finding,
  type RefusalRow,
  type VolumeRow,
  copiedInputFindings,
  refusalFindings,
  resolveRules,
  unusualHourFindings,
  volumeFindings,
  windowsToJudge,
} from "./rules.ts";

/** Who the evaluator's evidence entries name as the actor. */
export const RISK_ACTOR = "system:tds-risk";
const DAY = 86_400_000;

export interface RiskPassResult {
  readonly space: string;
  /** Findings this pass stored (not those another pass stored first). */
  readonly found: number;
  readonly expired: number;
}

/** tds_risk_findings_open{space, rule}: open findings, as the last pass of this replica counted them. */
export function riskGauge(registry: Registry): Gauge<"space" | "rule"> {
  return new Gauge({
    name: "tds_risk_findings_open",
    help: "Open risk findings of a space's rule (docs/governance.md, Risk rules)",
    labelNames: ["space", "rule"],
    registers: [registry],
  });
}

/** The advisory lock key of a space's risk pass. */
const LOCK = "select pg_try_advisory_lock(hashtext('tds-risk/' || $1)) as claimed";
const UNLOCK = "select pg_advisory_unlock(hashtext('tds-risk/' || $1))";

export async function riskPass(opts: {
  readonly pool: pg.Pool;
  readonly evidence: EvidenceStore;
  readonly spaces: readonly DataSpace[];
  readonly now: Date;
  readonly gauge?: Gauge<"space" | "rule">;
}): Promise<RiskPassResult[]> {
  const out: RiskPassResult[] = [];
  for (const space of opts.spaces) {
    const name = space.metadata.name;
    if (!name || !space.spec.risk) continue;
    const client = await opts.pool.connect();
    try {
      const { rows } = await client.query<{ claimed: boolean }>(LOCK, [name]);
      if (!rows[0]?.claimed) continue;
      try {
        out.push(await passOfSpace(client, opts.evidence, space, name, opts.now));
      } finally {
        await client.query(UNLOCK, [name]);
      }
    } finally {
      client.release();
    }
  }
  if (opts.gauge) await setGauge(opts.pool, opts.gauge);
  return out;
}

async function passOfSpace(
  db: pg.PoolClient,
  evidence: EvidenceStore,
  space: DataSpace,
  name: string,
  now: Date,
): Promise<RiskPassResult> {
  const rules = resolveRules(space.spec.risk);
  const findings: Finding[] = [];
  if (rules.downloadVolume) {
    const r = rules.downloadVolume;
    for (const w of windowsToJudge(now, r.windowMinutes)) {
      const rows = await volumeRows(
        db,
        name,
        r.windowMinutes,
        new Date(w.start.getTime() - r.baselineDays * DAY),
        w.end,
      );
      findings.push(...volumeFindings(r, w, rows));
    }
  }
  if (rules.refusedAccesses) {
    const r = rules.refusedAccesses;
    for (const w of windowsToJudge(now, r.windowMinutes)) {
      findings.push(...refusalFindings(r, w, await refusalRows(db, name, r.windowMinutes, w.start, w.end)));
    }
  }
  if (rules.unusualHours) {
    const r = rules.unusualHours;
    for (const w of windowsToJudge(now, 60)) {
      const today = Math.floor(w.start.getTime() / DAY) * DAY;
      const rows = await accessRows(db, name, new Date(today - r.baselineDays * DAY), w.end);
      findings.push(...unusualHourFindings(r, w, rows));
    }
  }
  if (rules.copiedInputs) {
    const r = rules.copiedInputs;
    const windows = windowsToJudge(now, r.windowMinutes);
    const from = windows[0]?.start ?? now;
    const rows = await copiedInputRows(db, name, from, windows.at(-1)?.end ?? now);
    for (const w of windows) findings.push(...copiedInputFindings(r, w, rows));
  }
  let found = 0;
  const expiresAt = new Date(now.getTime() + rules.expireAfterHours * 3_600_000);
  for (const f of findings) {
    const { rowCount } = await db.query(
      `insert into risk_findings (space, rule, subject, window_start, window_end, observed, threshold, message,
         object_kind, object_name, object_uid, found_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, 'DataSpace', $1, $9, $10, $11)
       on conflict do nothing`,
      [
        name,
        f.rule,
        f.subject,
        f.window.start,
        f.window.end,
        f.observed,
        f.threshold,
        f.message,
        space.metadata.uid ?? name,
        now,
        expiresAt,
      ],
    );
    found += rowCount ?? 0;
  }
  const { rowCount: expired } = await db.query(
    `update risk_findings set closed_at = expires_at, closed_by = $2, close_reason = 'Expired'
      where space = $1 and closed_at is null and expires_at <= $3`,
    [name, RISK_ACTOR, now],
  );
  await appendMissingEvidence(db, evidence, name);
  return { space: name, found, expired: expired ?? 0 };
}

/**
 * Deletes the gateway's refusals recorded before `before` (their retention,
 * TDS_RISK_REFUSAL_RETENTION_HOURS), in batches so that no statement holds
 * many rows at once; returns how many. Any replica may run it: two at once
 * delete disjoint rows or nothing.
 */
export async function pruneRefusals(pool: pg.Pool, before: Date, batch = 10_000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `delete from gateway_refusals where refusal_id in (
         select refusal_id from gateway_refusals where refused_at < $1 limit $2 for update skip locked)`,
      [before, batch],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return deleted;
  }
}

async function volumeRows(
  db: pg.PoolClient,
  space: string,
  minutes: number,
  from: Date,
  to: Date,
): Promise<VolumeRow[]> {
  const { rows } = await db.query<{ consumer: string; window_start: Date; bytes: string }>(
    `select participant as consumer,
            to_timestamp(floor(extract(epoch from event_time) / $2) * $2) as window_start,
            sum(quantity)::text as bytes
       from usage_events
      where space = $1 and meter = 'transfer.bytes' and event_time >= $3 and event_time < $4
      group by 1, 2`,
    [space, minutes * 60, from, to],
  );
  return rows.map((r) => ({ consumer: r.consumer, windowStart: r.window_start, bytes: BigInt(r.bytes) }));
}

async function refusalRows(
  db: pg.PoolClient,
  space: string,
  minutes: number,
  from: Date,
  to: Date,
): Promise<RefusalRow[]> {
  const { rows } = await db.query<{
    agreement_id: string;
    consumer: string;
    window_start: Date;
    refusals: number;
  }>(
    `select agreement_id, min(consumer) as consumer,
            to_timestamp(floor(extract(epoch from refused_at) / $2) * $2) as window_start,
            count(*)::int as refusals
       from gateway_refusals
      where space = $1 and refused_at >= $3 and refused_at < $4
      group by 1, 3`,
    [space, minutes * 60, from, to],
  );
  return rows.map((r) => ({
    agreementId: r.agreement_id,
    consumer: r.consumer,
    windowStart: r.window_start,
    refusals: r.refusals,
  }));
}

/** The days and UTC hours in which each agreement had transfers (a download's access is its transfer). */
async function accessRows(db: pg.PoolClient, space: string, from: Date, to: Date): Promise<AccessRow[]> {
  const { rows } = await db.query<{ agreement_id: string; consumer: string; day: Date; hour: number }>(
    `select agreement_id, min(consumer) as consumer,
            date_trunc('day', created_at at time zone 'UTC') at time zone 'UTC' as day,
            extract(hour from created_at at time zone 'UTC')::int as hour
       from gateway_transfers
      where space = $1 and sandbox_job is null and created_at >= $2 and created_at < $3
      group by 1, 3, 4`,
    [space, from, to],
  );
  return rows.map((r) => ({ agreementId: r.agreement_id, consumer: r.consumer, day: r.day, hour: r.hour }));
}

/**
 * The jobs whose outputs the operator withheld for copying an input, from their
 * sandbox.input-copied evidence entries (event id sandbox/<uid>/input-copied,
 * the partial index of migration 44), timed by the entry; the consumer is the
 * job's namespace <space>--<participant>.
 */
async function copiedInputRows(
  db: pg.PoolClient,
  space: string,
  from: Date,
  to: Date,
): Promise<CopiedInputRow[]> {
  const { rows } = await db.query<{ namespace: string; name: string; time: Date }>(
    `select object_namespace as namespace, object_name as name, t.time
       from evidence_entries,
            lateral (select (convert_from(entry, 'UTF8')::jsonb ->> 'time')::timestamptz as time) t
      where space = $1 and event_id like 'sandbox/%/${INPUT_COPIED_STEP}' and object_kind = 'SandboxJob'
        and t.time >= $2 and t.time < $3`,
    [space, from, to],
  );
  return rows.flatMap((r) => {
    const consumer = splitParticipantNamespace(r.namespace)?.participant;
    return consumer ? [{ consumer, job: `${r.namespace}/${r.name}`, time: r.time }] : [];
  });
}

interface FindingRow {
  finding_id: string;
  space: string;
  rule: string;
  subject: string;
  window_start: Date;
  message: string;
  object_kind: string;
  object_name: string;
  object_uid: string;
  found_at: Date;
  closed_at: Date | null;
  closed_by: string | null;
  close_reason: string | null;
}

/** The evidence entry of a finding (risk.finding) or of its closing (risk.finding-closed). */
export function findingEvidence(f: FindingRow, step: "found" | "closed"): EvidenceEntry {
  const key = `${f.rule}/${f.subject}/${f.window_start.toISOString()}`;
  return {
    space: f.space,
    eventId: `risk/${key}/${step}`,
    actor: step === "found" ? RISK_ACTOR : (f.closed_by ?? RISK_ACTOR),
    action: step === "found" ? "risk.finding" : "risk.finding-closed",
    time: (step === "found" ? f.found_at : (f.closed_at ?? f.found_at)).toISOString(),
    object: { kind: f.object_kind, name: f.object_name, uid: f.object_uid },
    payloadHash: sha256Hex(
      JSON.stringify({
        finding: f.finding_id,
        rule: f.rule,
        subject: f.subject,
        windowStart: f.window_start.toISOString(),
        message: f.message,
        ...(step === "closed" ? { closeReason: f.close_reason } : {}),
      }),
    ),
  };
}

/** Appends the entries of findings, and of closings, that have none yet; records where they went. */
export async function appendMissingEvidence(
  db: pg.Pool | pg.PoolClient,
  evidence: EvidenceStore,
  space: string,
): Promise<void> {
  for (const step of ["found", "closed"] as const) {
    const column = step === "found" ? "found_evidence" : "closed_evidence";
    const { rows } = await db.query<FindingRow>(
      `select finding_id::text, space, rule, subject, window_start, message, object_kind, object_name, object_uid,
              found_at, closed_at, closed_by, close_reason
         from risk_findings
        where space = $1 and ${column} is null ${step === "closed" ? "and closed_at is not null" : ""}
        order by finding_id limit 1000`,
      [space],
    );
    if (rows.length === 0) continue;
    const results = await evidence.append(
      space,
      rows.map((r) => findingEvidence(r, step)),
    );
    for (const [i, r] of rows.entries()) {
      await db.query(`update risk_findings set ${column} = $2 where finding_id = $1`, [
        r.finding_id,
        results[i]?.leafIndex,
      ]);
    }
  }
}

async function setGauge(pool: pg.Pool, gauge: Gauge<"space" | "rule">): Promise<void> {
  const { rows } = await pool.query<{ space: string; rule: string; open: number }>(
    `select space, rule, count(*) filter (where closed_at is null)::int as open
       from risk_findings group by 1, 2`,
  );
  gauge.reset();
  for (const r of rows) gauge.set({ space: r.space, rule: r.rule }, r.open);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
