// The client-certificate verifier of a door (the API, the gateway): the trust
// view of certificates.ts fed from the cluster by supervised informers
// (@tds/kube, as the grant cache) over DataSpaces, Participants and the
// operator's ConfigMaps, where the operator publishes each space's trust
// bundle (tds-<space>/trust-bundle: ca.crt and anchors.json, in the same
// order) and revocation list (tds-<space>/space-crl: ca.crl). Nothing is
// read from the CA's Secret: a door never holds a CA key.
//
// A watch event that changes what a verdict reads (a participant's subject,
// issuer, suspension or phase; a trust bundle or CRL; a space coming or going)
// marks the view stale; the next verification rebuilds it
// (CRL signatures are checked then, once per CRL), so a revocation or a
// suspension is applied within the watch's latency. Verdicts are cached by
// chain digest and door until the view changes, for at most `cacheTtlMs`.
// Each verdict that is not from the cache is evidenced in the door space's
// log, with an eventId derived from the chain, so a certificate seen again
// after a restart is recorded once.
import { createHash, X509Certificate } from "node:crypto";
import { type DataSpace, type Participant, labels, managedSelector } from "@tds/crds";
import { dataOf, Informer, kinds, objectKey, type KubeClient, type KubeObject, type Logger } from "@tds/kube";
import type { EvidenceEntry } from "@tds/wire";
import type { EvidenceAppender } from "../evidence/grouped.ts";
import {
  canonicalName,
  chainDigest,
  pemCertificates,
  revokedSerials,
  verifyCertificateChain,
  type AnchorKind,
  type CertificateParticipant,
  type CertificateVerdict,
  type SpaceTrust,
  type TrustAnchor,
  type TrustView,
} from "./certificates.ts";

/** Where the operator publishes them (operator/src/identity/trust-bundle.ts and space-ca.ts). */
export const TRUST_BUNDLE_CONFIGMAP = "trust-bundle";
export const CRL_CONFIGMAP = "space-crl";
export const controlNamespace = (space: string): string => `tds-${space}`;
export const CERTIFICATE_ACTOR_PREFIX = "certificate:";

/**
 * A door's verifier on its process's Kubernetes client (the API's plugins/kube.ts, the
 * gateway's own), the space logs through `evidence`; without a client there are no trust bundles to read.
 */
export function doorCertificateVerifier(
  client: KubeClient | undefined,
  evidence: EvidenceAppender | undefined,
): CertificateVerifier {
  if (!client)
    throw new Error(
      "TDS_TLS_CERT_FILE is set, but there is no kubeconfig (KUBECONFIG or in-cluster) to read the trust bundles from",
    );
  const line = (level: number) => (msg: string, fields?: Record<string, unknown>) => {
    console.log(JSON.stringify({ level, time: Date.now(), component: "certificate-trust", msg, ...fields }));
  };
  return new CertificateVerifier({
    client,
    log: { debug: () => undefined, info: line(30), warn: line(40), error: line(50) },
    ...(evidence ? { evidence } : {}),
  });
}

const OPERATOR_CONFIGMAPS = `${managedSelector},${labels.space}`;

export interface CertificateVerifierOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** The door space's evidence log; verdicts are not evidenced without it. */
  readonly evidence?: EvidenceAppender;
  readonly now?: () => Date;
  /** A cached verdict is used for at most this long (default 60 s) even when nothing changed. */
  readonly cacheTtlMs?: number;
  readonly cacheSize?: number;
  readonly watchdogMs?: number;
  /** How long a verification waits for the first lists (default 10 s) before answering 503. */
  readonly startTimeoutMs?: number;
  /**
   * At most this many refusals evidenced per door space and minute (default 600): a
   * flood of self-made certificates cannot flood a space's log. The rest are counted in the log.
   */
  readonly refusalsEvidencedPerMinute?: number;
}

type Space = DataSpace & KubeObject;
type ParticipantObj = Participant & KubeObject;

interface View extends TrustView {
  readonly uids: ReadonlyMap<string, string>;
}

interface Cached {
  readonly verdict: CertificateVerdict;
  readonly view: View;
  readonly until: number;
}

interface AnchorSummary {
  readonly name?: unknown;
  readonly kind?: unknown;
  readonly certificates?: unknown;
}

const anchorKinds: readonly AnchorKind[] = ["spaceCA", "caBundle", "trustedSpace"];

export class CertificateVerifier {
  private readonly spaces: Informer<Space>;
  private readonly participants: Informer<ParticipantObj>;
  private readonly configMaps: Informer<KubeObject>;
  private readonly now: () => Date;
  private view: View | undefined;
  private stale = true;
  private building: Promise<View> | undefined;
  private started: Promise<void> | undefined;
  private readonly verdicts = new Map<string, Cached>();
  /** kind/key → what of the object a verdict reads, to tell a relevant change from another. */
  private readonly facts = new Map<string, string>();
  /** CRL text and CA fingerprints → revoked serials or the reason they cannot be used. */
  private readonly crls = new Map<string, Set<string> | Error>();
  /** How verdicts were answered (for tests and the benchmark). */
  readonly stats = { verified: 0, cached: 0, rebuilt: 0, refusalsNotEvidenced: 0 };
  /** door → when its refusal window opened, and the refusals in it. */
  private readonly refusalBudget = new Map<string, { since: number; count: number }>();

  constructor(private readonly opts: CertificateVerifierOptions) {
    this.now = opts.now ?? (() => new Date());
    // Only what a verdict reads marks the view stale: a participant's status.bytesStored
    // sampling, say, does not (it would drop every cached verdict).
    const onEvent =
      (kind: string, facts: (o: never) => string) =>
      (type: string, o: KubeObject): void => {
        if (type === "resync") return;
        const key = `${kind}/${objectKey(o)}`;
        const now = type === "delete" ? undefined : facts(o as never);
        if (this.facts.get(key) === now) return;
        if (now === undefined) this.facts.delete(key);
        else this.facts.set(key, now);
        this.stale = true;
      };
    const common = { log: opts.log, watchdogMs: opts.watchdogMs ?? 120_000 };
    this.spaces = new Informer<Space>(opts.client, {
      ...common,
      resource: kinds.dataSpace,
      onEvent: onEvent("DataSpace", (d: Space) => d.metadata.uid ?? ""),
    });
    this.participants = new Informer<ParticipantObj>(opts.client, {
      ...common,
      resource: kinds.participant,
      onEvent: onEvent("Participant", (p: ParticipantObj) =>
        JSON.stringify([
          p.metadata.uid,
          p.spec.dataSpace,
          p.spec.identity.certificate,
          p.spec.suspended,
          p.status?.phase,
        ]),
      ),
    });
    this.configMaps = new Informer<KubeObject>(opts.client, {
      ...common,
      resource: kinds.configMap,
      labelSelector: OPERATOR_CONFIGMAPS,
      onEvent: onEvent("ConfigMap", (c: KubeObject) => {
        const name = c.metadata.name ?? "";
        return name === TRUST_BUNDLE_CONFIGMAP || name === CRL_CONFIGMAP ? JSON.stringify(dataOf(c)) : "";
      }),
    });
  }

  /** Lists and starts watching; resolves once every first list is in. */
  start(): Promise<void> {
    this.started ??= Promise.all([
      this.spaces.start(),
      this.participants.start(),
      this.configMaps.start(),
    ]).then(() => undefined);
    return this.started;
  }

  async stop(): Promise<void> {
    await Promise.all([this.spaces.stop(), this.participants.stop(), this.configMaps.stop()]);
  }

  get ready(): boolean {
    return this.spaces.hasSynced && this.participants.hasSynced && this.configMaps.hasSynced;
  }

  /**
   * The verdict on a chain (DER, leaf first) at the door of `door`, or, when
   * the route names no space, at the space whose own CA or caBundle issued it.
   * Throws only when the cluster's trust cannot be read yet (the caller's 503).
   */
  async verify(chain: readonly Buffer[], door: string | undefined): Promise<CertificateVerdict> {
    const view = await this.currentView();
    const now = this.now();
    const key = `${door ?? ""}|${chainDigest(chain)}`;
    const hit = this.verdicts.get(key);
    if (hit && hit.view === view && hit.until > now.getTime()) {
      this.stats.cached++;
      return hit.verdict;
    }
    const space = door ?? homeSpace(chain, view) ?? "";
    const verdict = verifyCertificateChain(chain, space, view, now);
    this.stats.verified++;
    const ttl = this.opts.cacheTtlMs ?? 60_000;
    const until = Math.min(now.getTime() + ttl, verdict.accepted ? verdict.notAfter.getTime() : Infinity);
    this.verdicts.delete(key);
    this.verdicts.set(key, { verdict, view, until });
    while (this.verdicts.size > (this.opts.cacheSize ?? 10_000)) {
      const oldest = this.verdicts.keys().next().value;
      if (oldest === undefined) break;
      this.verdicts.delete(oldest);
    }
    await this.evidence(verdict, chain, view, now);
    return verdict;
  }

  private async currentView(): Promise<View> {
    if (!this.ready) {
      const timeout = this.opts.startTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.start(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`the trust bundles were not listed within ${String(timeout)} ms`));
          }, timeout);
        }),
      ]).finally(() => {
        clearTimeout(timer);
      });
    }
    if (this.view && !this.stale) return this.view;
    this.building ??= (async () => {
      this.stale = false;
      try {
        const view = await this.build();
        this.view = view;
        this.verdicts.clear();
        this.stats.rebuilt++;
        return view;
      } finally {
        this.building = undefined;
      }
    })();
    return this.building;
  }

  private configMap(space: string, name: string): KubeObject | undefined {
    return this.configMaps.get(`${controlNamespace(space)}/${name}`);
  }

  /** The revoked serials of a space's CRL against the CA certificates, cached by both. */
  private async revoked(space: string, cas: readonly X509Certificate[]): Promise<Set<string> | Error> {
    const crl = dataOf(this.configMap(space, CRL_CONFIGMAP))["ca.crl"];
    if (!crl) return new Set();
    const key = createHash("sha256")
      .update(crl)
      .update(cas.map((c) => c.fingerprint256).join(","))
      .digest("hex");
    let r = this.crls.get(key);
    if (!r) {
      r = await revokedSerials(crl, cas).catch((err: unknown) =>
        err instanceof Error ? err : new Error(String(err)),
      );
      this.crls.set(key, r);
      if (this.crls.size > 1000) this.crls.delete(this.crls.keys().next().value ?? key);
    }
    return r;
  }

  private async build(): Promise<View> {
    const spaces = new Map<string, SpaceTrust>();
    const uids = new Map<string, string>();
    const own: { space: string; certificate: X509Certificate }[] = [];
    const local = new Set(this.spaces.list().map((s) => s.metadata.name ?? ""));
    for (const ds of this.spaces.list()) {
      const name = ds.metadata.name ?? "";
      uids.set(name, ds.metadata.uid ?? "");
      const data = dataOf(this.configMap(name, TRUST_BUNDLE_CONFIGMAP));
      const certs = pemCertificates(data["ca.crt"] ?? "").flatMap((der) => {
        try {
          return [new X509Certificate(der)];
        } catch {
          return [];
        }
      });
      let summaries: AnchorSummary[];
      try {
        summaries = JSON.parse(data["anchors.json"] ?? "[]") as AnchorSummary[];
      } catch {
        summaries = [];
      }
      const anchors: TrustAnchor[] = [];
      let at = 0;
      for (const s of Array.isArray(summaries) ? summaries : []) {
        const count = typeof s.certificates === "number" ? s.certificates : 0;
        const kind = anchorKinds.find((k) => k === s.kind);
        const anchorCerts = certs.slice(at, at + count);
        at += count;
        if (!kind || typeof s.name !== "string" || anchorCerts.length !== count) continue;
        // Revocation: a space CA's list, or a trusted space's when it runs on this cluster.
        const crlSpace =
          kind === "spaceCA" ? name : kind === "trustedSpace" && local.has(s.name) ? s.name : undefined;
        const revoked = crlSpace ? await this.revoked(crlSpace, anchorCerts) : new Set<string>();
        anchors.push({
          name: s.name,
          kind,
          certificates: anchorCerts,
          revoked: revoked instanceof Error ? new Set() : revoked,
          ...(revoked instanceof Error ? { crlProblem: revoked.message } : {}),
        });
        if (kind === "spaceCA") own.push(...anchorCerts.map((certificate) => ({ space: name, certificate })));
      }
      if (anchors.length > 0) spaces.set(name, { space: name, uid: ds.metadata.uid ?? "", anchors });
    }
    const participants: CertificateParticipant[] = this.participants.list().flatMap((p) => {
      const cert = p.spec.identity.certificate;
      const subject = cert ? canonicalName(cert.subject) : undefined;
      if (!cert || subject === undefined) return [];
      return [
        {
          name: p.metadata.name ?? "",
          space: p.spec.dataSpace,
          uid: p.metadata.uid ?? "",
          subject,
          ...(cert.issuedBy ? { issuedBy: cert.issuedBy } : {}),
          suspended: p.spec.suspended === true || p.status?.phase === "Suspended",
        },
      ];
    });
    return {
      uids,
      space: (name) => spaces.get(name),
      spaceCAs: () => own,
      participants: () => participants,
    };
  }

  private async evidence(verdict: CertificateVerdict, chain: readonly Buffer[], view: View, now: Date) {
    const evidence = this.opts.evidence;
    const uid = view.uids.get(verdict.door);
    if (!evidence || !uid) return;
    if (!verdict.accepted) {
      // A window opens at a door's first refusal and lasts a minute.
      const limit = this.opts.refusalsEvidencedPerMinute ?? 600;
      const t = now.getTime();
      const open = this.refusalBudget.get(verdict.door);
      const budget = open && t - open.since < 60_000 ? open : { since: t, count: 0 };
      budget.count++;
      this.refusalBudget.set(verdict.door, budget);
      if (budget.count > limit) {
        this.stats.refusalsNotEvidenced++;
        if (budget.count === limit + 1)
          this.opts.log.warn("too many certificate refusals this minute: the rest are not evidenced", {
            space: verdict.door,
          });
        return;
      }
    }
    const digest = chainDigest(chain).slice(0, 32);
    const record = verdict.accepted
      ? {
          anchor: verdict.anchor,
          participant: `${verdict.participant.space}/${verdict.participant.name}`,
          subject: verdict.subject,
          serialNumber: verdict.serialNumber,
          fingerprint256: verdict.fingerprint256,
          notAfter: verdict.notAfter.toISOString(),
        }
      : {
          reason: verdict.reason,
          message: verdict.message,
          ...(verdict.anchor ? { anchor: verdict.anchor } : {}),
          ...(verdict.subject ? { subject: verdict.subject } : {}),
          ...(verdict.fingerprint256 ? { fingerprint256: verdict.fingerprint256 } : {}),
        };
    const entry: EvidenceEntry = verdict.accepted
      ? {
          space: verdict.door,
          // The anchor that recognised it is part of the id, so the log reads which one did.
          eventId: `certificate/accepted/${verdict.anchor.kind}/${verdict.anchor.name}/${digest}`,
          actor: `participant:${verdict.participant.space}/${verdict.participant.name}`,
          action: "certificate.accepted",
          time: now.toISOString(),
          object: { kind: "Participant", name: verdict.participant.name, uid: verdict.participant.uid },
          payloadHash: createHash("sha256").update(JSON.stringify(record)).digest("hex"),
        }
      : {
          space: verdict.door,
          eventId: `certificate/refused/${verdict.reason}/${digest}`,
          actor: `${CERTIFICATE_ACTOR_PREFIX}${digest}`,
          action: `certificate.${verdict.reason}`,
          time: now.toISOString(),
          object: { kind: "DataSpace", name: verdict.door, uid },
          payloadHash: createHash("sha256").update(JSON.stringify(record)).digest("hex"),
        };
    try {
      await evidence.append(verdict.door, [entry]);
    } catch (err) {
      // The verdict stands; the log's own errors are the store's to report.
      this.opts.log.warn("cannot evidence a certificate verdict", {
        err: String(err),
        eventId: entry.eventId,
      });
    }
  }
}

/** The space whose own CA or caBundle issued a chain's leaf directly, for a route that names no space. */
function homeSpace(chain: readonly Buffer[], view: View): string | undefined {
  const der = chain[0];
  if (!der) return undefined;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    return undefined;
  }
  for (const [space] of view.uids) {
    const trust = view.space(space);
    for (const a of trust?.anchors ?? []) {
      if (a.kind === "trustedSpace") continue;
      if (a.certificates.some((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey))) return space;
    }
  }
  return undefined;
}
