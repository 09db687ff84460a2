// The data subjects' consents in PostgreSQL (migration 0000000000032): grant,
// revoke, read. Each grant and revocation is an entry of the space's
// evidence log (consent.granted, consent.revoked), whose payload hash covers
// the consent with its subject, while the entry itself names no subject. A
// consent allows nothing until its grant is in the log; a revocation counts
// from the statement that records it, before its entry is appended, so
// revoking never waits for the log. docs/governance.md "Personal data under
// consent".
import { createHash, randomBytes } from "node:crypto";
import { rfc3339 } from "@tds/crds";
import type { Consent } from "@tds/wire";
import type pg from "pg";
import { TdsError } from "../errors.ts";
import type { EvidenceStore } from "../evidence/store.ts";

export type ConsentConsumer = Consent["consumer"];
export type GivenAs = Consent["givenAs"];

export interface ConsentGrant {
  readonly space: string;
  readonly subject: string;
  readonly holder: string;
  readonly offer: { readonly namespace: string; readonly name: string };
  readonly purpose: string;
  readonly consumer: ConsentConsumer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly givenAs: GivenAs;
  /** The caller's subject: the data subject itself, or the holder's user acting as its agent. */
  readonly givenBy: string;
  /** The client's Idempotency-Key: a retry with the same key is the same consent. */
  readonly idempotencyKey?: string;
}

export interface Revoker {
  /** The caller's role (data-subject, participant, compliance-reviewer, space-admin, platform-admin). */
  readonly role: string;
  readonly subject: string;
  readonly reason?: string;
}

export interface ConsentRow {
  id: string;
  space: string;
  subject: string;
  holder: string;
  offer_namespace: string;
  offer_name: string;
  purpose: string;
  consumer: string | null;
  consumer_labels: Record<string, string> | null;
  not_before: Date;
  not_after: Date;
  given_as: GivenAs;
  given_by: string;
  given_at: Date;
  request_digest: string;
  granted_leaf: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  revoked_as: string | null;
  revocation_reason: string | null;
  revoked_leaf: string | null;
}

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

const grantedEvent = (id: string) => `consent/${id}/granted`;
const revokedEvent = (id: string) => `consent/${id}/revoked`;

/** The evidence actor of a party: a data subject is not named in the log (the payload hash covers it). */
const actorOf = (role: string, subject: string) => (role === "data-subject" ? "data-subject" : subject);

/** A consent as the API answers it; `withSubject` false leaves the subject out (operator, auditors). */
export function consentOf(r: ConsentRow, now: Date, withSubject: boolean): Consent {
  const consumer: ConsentConsumer =
    r.consumer !== null
      ? { participant: r.consumer }
      : { participantSelector: { matchLabels: r.consumer_labels ?? {} } };
  const state: Consent["state"] =
    r.revoked_at !== null
      ? "Revoked"
      : r.granted_leaf === null
        ? "Recording"
        : r.not_after.getTime() <= now.getTime()
          ? "Expired"
          : "Granted";
  return {
    id: r.id,
    space: r.space,
    ...(withSubject ? { subject: r.subject } : {}),
    holder: r.holder,
    offer: { namespace: r.offer_namespace, name: r.offer_name },
    purpose: r.purpose,
    consumer,
    validity: { notBefore: rfc3339(r.not_before), notAfter: rfc3339(r.not_after) },
    givenAs: r.given_as,
    givenAt: rfc3339(r.given_at),
    state,
    ...(r.revoked_at !== null
      ? {
          revocation: {
            revokedAt: rfc3339(r.revoked_at),
            revokedAs: r.revoked_as ?? "",
            ...(r.revocation_reason !== null ? { reason: r.revocation_reason } : {}),
          },
        }
      : {}),
    evidence: {
      ...(r.granted_leaf !== null
        ? { granted: { eventId: grantedEvent(r.id), leafIndex: Number(r.granted_leaf) } }
        : {}),
      ...(r.revoked_leaf !== null
        ? { revoked: { eventId: revokedEvent(r.id), leafIndex: Number(r.revoked_leaf) } }
        : {}),
    },
  };
}

/** What the evidence entry's payload hash covers: the consent as given, subject included. */
function grantPayload(r: ConsentRow): string {
  return JSON.stringify({
    id: r.id,
    subject: r.subject,
    holder: r.holder,
    offer: `${r.offer_namespace}/${r.offer_name}`,
    purpose: r.purpose,
    consumer: r.consumer ?? r.consumer_labels,
    notBefore: rfc3339(r.not_before),
    notAfter: rfc3339(r.not_after),
    givenAs: r.given_as,
  });
}

export interface ConsentQuery {
  readonly space: string;
  readonly holder?: string;
  readonly subject?: string;
  readonly offer?: { readonly namespace: string; readonly name?: string };
  readonly purpose?: string;
  readonly limit: number;
}

export class ConsentStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly evidence: EvidenceStore,
  ) {}

  /**
   * Records a consent and its evidence entry; resolves once the grant is in
   * the log (then it allows what it says). A retry with the same
   * Idempotency-Key is the same consent, and completes a grant whose append
   * failed; the same key for another consent is a 409.
   */
  async grant(g: ConsentGrant, now: Date): Promise<ConsentRow> {
    const request = JSON.stringify({
      subject: g.subject,
      offer: g.offer,
      purpose: g.purpose,
      consumer: g.consumer,
      notBefore: g.notBefore.toISOString(),
      notAfter: g.notAfter.toISOString(),
    });
    const digest = sha256(request);
    const id =
      g.idempotencyKey === undefined
        ? `cst-${randomBytes(16).toString("hex")}`
        : `cst-${sha256(`${g.space}\0${g.givenAs}\0${g.givenBy}\0${g.idempotencyKey}`).slice(0, 32)}`;
    const byName = "participant" in g.consumer ? g.consumer.participant : null;
    const byLabels = "participantSelector" in g.consumer ? g.consumer.participantSelector.matchLabels : null;
    const { rows } = await this.pool.query<ConsentRow>(
      `insert into consents (id, space, subject, holder, offer_namespace, offer_name, purpose, consumer,
                             consumer_labels, not_before, not_after, given_as, given_by, given_at, request_digest)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       on conflict (id) do nothing
       returning *`,
      [
        id,
        g.space,
        g.subject,
        g.holder,
        g.offer.namespace,
        g.offer.name,
        g.purpose,
        byName,
        byLabels === null ? null : JSON.stringify(byLabels),
        g.notBefore,
        g.notAfter,
        g.givenAs,
        g.givenBy,
        now,
        digest,
      ],
    );
    let row = rows[0] ?? (await this.row(id));
    if (!row) throw new TdsError("internal", `Consent ${id} was neither recorded nor found`);
    if (row.request_digest !== digest || row.space !== g.space)
      throw new TdsError(
        "conflict",
        `Idempotency-Key ${g.idempotencyKey ?? ""} was used for another consent (${id})`,
        { field: "headers/idempotency-key" },
      );
    if (row.granted_leaf === null) row = await this.recordGrant(row);
    return row;
  }

  private async recordGrant(r: ConsentRow): Promise<ConsentRow> {
    const [result] = await this.evidence.append(r.space, [
      {
        space: r.space,
        eventId: grantedEvent(r.id),
        actor: actorOf(r.given_as, r.given_by),
        action: "consent.granted",
        time: rfc3339(r.given_at),
        object: { kind: "Consent", namespace: r.offer_namespace, name: r.id, uid: r.id },
        payloadHash: sha256(grantPayload(r)),
      },
    ]);
    const { rows } = await this.pool.query<ConsentRow>(
      "update consents set granted_leaf = $2 where id = $1 returning *",
      [r.id, result?.leafIndex ?? null],
    );
    return rows[0] ?? r;
  }

  /**
   * Revokes a consent: from now it allows nothing (the row is the gateway's
   * and the operator's source), then its evidence entry is appended. Revoking
   * a revoked consent answers it as it is, and completes a missing entry.
   */
  async revoke(id: string, by: Revoker, now: Date): Promise<ConsentRow | undefined> {
    const { rows } = await this.pool.query<ConsentRow>(
      `update consents set revoked_at = $2, revoked_by = $3, revoked_as = $4, revocation_reason = $5
        where id = $1 and revoked_at is null
       returning *`,
      [id, now, by.subject, by.role, by.reason ?? null],
    );
    const row = rows[0] ?? (await this.row(id));
    if (!row || row.revoked_at === null || row.revoked_leaf !== null) return row;
    const [result] = await this.evidence.append(row.space, [
      {
        space: row.space,
        eventId: revokedEvent(row.id),
        actor: actorOf(row.revoked_as ?? "", row.revoked_by ?? ""),
        action: "consent.revoked",
        time: rfc3339(row.revoked_at),
        object: { kind: "Consent", namespace: row.offer_namespace, name: row.id, uid: row.id },
        payloadHash: sha256(
          JSON.stringify({ id: row.id, revokedAs: row.revoked_as, reason: row.revocation_reason }),
        ),
      },
    ]);
    const updated = await this.pool.query<ConsentRow>(
      "update consents set revoked_leaf = $2 where id = $1 returning *",
      [row.id, result?.leafIndex ?? null],
    );
    return updated.rows[0] ?? row;
  }

  async row(id: string): Promise<ConsentRow | undefined> {
    const { rows } = await this.pool.query<ConsentRow>("select * from consents where id = $1", [id]);
    return rows[0];
  }

  /** The consents matching a query (queryConsents). */
  list(q: ConsentQuery, now: Date): Promise<{ rows: ConsentRow[]; truncated: boolean }> {
    return queryConsents(this.pool, q, now);
  }
}

/**
 * The consents matching a query, those in force first (unrevoked, window not
 * over), then the newest; at most `limit`, and whether more matched. One
 * query on the index of the offer or of the subject.
 */
export async function queryConsents(
  pool: pg.Pool,
  q: ConsentQuery,
  now: Date,
): Promise<{ rows: ConsentRow[]; truncated: boolean }> {
  const { rows } = await pool.query<ConsentRow>(
    `select * from consents
      where space = $1
        and ($2::text is null or holder = $2)
        and ($3::text is null or subject = $3)
        and ($4::text is null or offer_namespace = $4)
        and ($5::text is null or offer_name = $5)
        and ($6::text is null or purpose = $6)
      order by (revoked_at is null and not_after > $7) desc, given_at desc, id
      limit $8`,
    [
      q.space,
      q.holder ?? null,
      q.subject ?? null,
      q.offer?.namespace ?? null,
      q.offer?.name ?? null,
      q.purpose ?? null,
      now,
      q.limit + 1,
    ],
  );
  return { rows: rows.slice(0, q.limit), truncated: rows.length > q.limit };
}
