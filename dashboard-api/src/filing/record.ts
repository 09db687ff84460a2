// The filing record (备案) of a space: what a regulator registers about it —
// its operator, participants and their verified identities, offers by
// classification, the rules, the latest signed checkpoint of its evidence log
// and the period's export report — signed with the space's evidence key as a
// C2SP signed note, the checkpoints' scheme, over the SHA-256 of the record's
// RFC 8785 canonical form. Pure: the route (routes.ts) gathers the inputs, the
// verifier (verifier.ts) checks a document offline.
import { createHash } from "node:crypto";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import type { DataOffer, DataSpace, Participant } from "@tds/crds";
import { DEFAULT_CLASSIFICATION_LEVELS } from "@tds/crds";
import { participantFacts } from "@tds/crds/policy";
import { canonicalBytes } from "../evidence/canonical.ts";
import {
  type CheckpointSigner,
  type SignedCheckpoint,
  signNote,
  verifierKey,
} from "../evidence/checkpoint.ts";
import { ExportReportSchema, type ExportReport } from "../exports/report.ts";

export const FILING_FORMAT = "tds.dev/filing/v1";

/** The first line of a filing note: it names the record, and no checkpoint parses with it. */
export const filingOrigin = (space: string): string => `tds.dev/filing/${space}`;

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const FiledParticipant = Type.Object(
  {
    name: Type.String(),
    displayName: Nullable(Type.String()),
    organization: Type.Object({
      legalName: Type.String(),
      registrationId: Type.String(),
      region: Type.String({ description: "Declared: where the organisation is registered" }),
    }),
    roles: Type.Array(Type.String()),
    phase: Nullable(Type.String()),
    suspended: Type.Boolean(),
    identity: Type.Object({
      method: Type.Union([Type.Literal("Certificate"), Type.Literal("OIDC"), Type.Literal("DID")]),
      /** The certificate subject, the OIDC subject at its issuer, or the DID. */
      id: Type.String(),
      issuer: Nullable(Type.String({ description: "OIDC issuer, or the trust anchor of a certificate" })),
      verified: Type.Boolean({
        description:
          "A certificate issued by the space CA or named trust anchor; an OIDC issuer or DID the operator verified (IdentityVerified)",
      }),
      verification: Type.String({
        description: "IssuedBySpaceCA, VouchedByTrustAnchor, CertificateNotIssued, or the condition's reason",
      }),
      verifiedRegion: Nullable(Type.String({ description: "The country the certificate vouches for" })),
      certificateSerial: Nullable(Type.String()),
    }),
  },
  { additionalProperties: false },
);

const FiledOffer = Type.Object(
  {
    namespace: Type.String(),
    name: Type.String(),
    provider: Type.String(),
    title: Type.String(),
    dataCategory: Type.String(),
    regionOfOrigin: Type.String(),
    accessMode: Nullable(Type.String()),
    personalData: Type.Boolean(),
    published: Type.Boolean({ description: "The offer is Ready (in the catalog)" }),
    contentId: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const FilingRecordSchema = Type.Object(
  {
    format: Type.Literal(FILING_FORMAT),
    space: Type.String(),
    period: Type.String({ pattern: "^[0-9]{4}-(0[1-9]|1[0-2])$" }),
    issuedAt: Type.String({ format: "date-time" }),
    operator: Type.Object({
      displayName: Type.String(),
      description: Nullable(Type.String()),
      administrators: Type.String({ description: "The Kubernetes group of the space's administrators" }),
      controlNamespace: Type.String(),
    }),
    rules: Type.Object({
      spaceType: Type.String(),
      homeRegion: Type.String(),
      admission: Type.Object({ mode: Type.String(), allowedIdentityMethods: Type.Array(Type.String()) }),
      classification: Type.Object({
        defaultLevel: Type.String(),
        levels: Type.Array(
          Type.Object({
            name: Type.String(),
            rank: Type.Integer(),
            allowedAccessModes: Type.Array(Type.String()),
            crossBorderTransfer: Type.String(),
          }),
        ),
      }),
      negativeList: Type.Array(
        Type.Object({
          dataCategory: Type.String(),
          destinationRegions: Type.Array(Type.String(), { description: "Empty: every region abroad" }),
          reason: Nullable(Type.String()),
        }),
      ),
      recordExports: Type.Boolean(),
      frozen: Type.Boolean(),
    }),
    participants: Type.Array(FiledParticipant),
    offers: Type.Array(
      Type.Object({ level: Type.String(), rank: Nullable(Type.Integer()), offers: Type.Array(FiledOffer) }),
      {
        description:
          "By classification level, least sensitive first; offers naming no level of the space last",
      },
    ),
    evidence: Type.Object({
      origin: Type.String(),
      verifierKey: Type.String({ description: "The signed-note verifier key of the space's evidence key" }),
      treeSize: Type.Integer({ minimum: 0 }),
      rootHash: Type.String({ description: "base64" }),
      checkpoint: Type.String({ description: "The latest signed checkpoint, verbatim" }),
    }),
    exports: ExportReportSchema,
  },
  { additionalProperties: false },
);
export type FilingRecord = Static<typeof FilingRecordSchema>;

export const FilingDocumentSchema = Type.Object(
  {
    record: FilingRecordSchema,
    note: Type.String({
      description:
        "C2SP signed note by the space's evidence key: tds.dev/filing/<space>, the period, the base64 SHA-256 " +
        "of the record's RFC 8785 form, time <issuedAt>",
    }),
  },
  { additionalProperties: false },
);
export type FilingDocument = Static<typeof FilingDocumentSchema>;

type Named<T> = T & { metadata: { name?: string; namespace?: string; uid?: string } };

export interface FilingInput {
  readonly space: Named<DataSpace>;
  readonly participants: readonly Named<Participant>[];
  readonly offers: readonly Named<DataOffer>[];
  readonly checkpoint: SignedCheckpoint;
  readonly exports: ExportReport;
  readonly issuedAt: Date;
  readonly signer: CheckpointSigner;
}

const condition = (
  o: { status?: { conditions?: { type: string; status: string; reason?: string }[] } },
  type: string,
) => o.status?.conditions?.find((c) => c.type === type);

function filedParticipant(p: Named<Participant>): Static<typeof FiledParticipant> {
  const name = p.metadata.name ?? "";
  const id = p.spec.identity;
  // A certificate is vouched for by the space CA that issued it or by its named trust anchor (the rule
  // of participantFacts); an OIDC issuer or a DID by the operator's IdentityVerified condition.
  const verifiedCondition = id.certificate
    ? id.certificate.issuedBy !== undefined
      ? { status: "True", reason: "VouchedByTrustAnchor" }
      : p.status?.certificate?.serial !== undefined
        ? { status: "True", reason: "IssuedBySpaceCA" }
        : { status: "False", reason: "CertificateNotIssued" }
    : condition(p, "IdentityVerified");
  const facts = participantFacts(p, name);
  const identity = id.certificate
    ? { method: "Certificate" as const, id: id.certificate.subject, issuer: id.certificate.issuedBy ?? null }
    : id.oidc
      ? { method: "OIDC" as const, id: id.oidc.subject, issuer: id.oidc.issuer }
      : { method: "DID" as const, id: id.did ?? "", issuer: null };
  return {
    name,
    displayName: p.spec.displayName ?? null,
    organization: {
      legalName: p.spec.organization.legalName,
      registrationId: p.spec.organization.registrationId,
      region: p.spec.organization.region,
    },
    roles: [...p.spec.roles],
    phase: p.status?.phase ?? null,
    suspended: p.spec.suspended === true,
    identity: {
      ...identity,
      verified: verifiedCondition?.status === "True",
      verification: verifiedCondition?.reason ?? "NotObserved",
      verifiedRegion: facts?.verifiedRegion ?? null,
      certificateSerial: p.status?.certificate?.serial ?? null,
    },
  };
}

const byName = <T extends { metadata: { name?: string; namespace?: string } }>(a: T, b: T): number => {
  const ka = `${a.metadata.namespace ?? ""}/${a.metadata.name ?? ""}`;
  const kb = `${b.metadata.namespace ?? ""}/${b.metadata.name ?? ""}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** The record, its parts in a fixed order (participants and offers by name), so equal inputs give equal bytes. */
export function filingRecord(input: FilingInput, period: string): FilingRecord {
  const { space } = input;
  const name = space.metadata.name ?? "";
  const levels = space.spec.classification?.levels ?? DEFAULT_CLASSIFICATION_LEVELS;
  const sorted = [...levels].sort((a, b) => a.rank - b.rank);
  const offers = [...input.offers].sort(byName).map((o) => ({
    level: o.spec.classification,
    offer: {
      namespace: o.metadata.namespace ?? "",
      name: o.metadata.name ?? "",
      provider: (o.metadata.namespace ?? "").slice(name.length + 2),
      title: o.spec.title,
      dataCategory: o.spec.dataCategory,
      regionOfOrigin: o.spec.regionOfOrigin,
      accessMode: o.status?.effectivePolicy?.accessMode ?? o.spec.policy.accessMode ?? null,
      personalData: o.spec.personalData === true,
      published: condition(o, "Ready")?.status === "True",
      contentId: o.status?.contentId ?? null,
    },
  }));
  const known = new Set(sorted.map((l) => l.name));
  const unknown = [...new Set(offers.map((o) => o.level).filter((l) => !known.has(l)))].sort();
  return {
    format: FILING_FORMAT,
    space: name,
    period,
    issuedAt: input.issuedAt.toISOString(),
    operator: {
      displayName: space.spec.displayName,
      description: space.spec.description ?? null,
      administrators: `tds:space:${name}:admins`,
      controlNamespace: `tds-${name}`,
    },
    rules: {
      spaceType: space.spec.spaceType ?? "Industry",
      homeRegion: space.spec.crossBorder.homeRegion,
      admission: {
        mode: space.spec.admission?.mode ?? "Manual",
        allowedIdentityMethods: [
          ...(space.spec.admission?.allowedIdentityMethods ?? ["Certificate", "OIDC", "DID"]),
        ],
      },
      classification: {
        defaultLevel: space.spec.classification?.defaultLevel ?? "internal",
        levels: sorted.map((l) => ({
          name: l.name,
          rank: l.rank,
          allowedAccessModes: [...l.defaultPolicy.allowedAccessModes],
          crossBorderTransfer: l.defaultPolicy.crossBorderTransfer ?? "Forbidden",
        })),
      },
      negativeList: (space.spec.crossBorder.negativeList ?? []).map((e) => ({
        dataCategory: e.dataCategory,
        destinationRegions: [...(e.destinationRegions ?? [])],
        reason: e.reason ?? null,
      })),
      recordExports: space.spec.crossBorder.recordExports ?? true,
      frozen: space.spec.freeze !== undefined,
    },
    participants: [...input.participants].sort(byName).map(filedParticipant),
    offers: [
      ...sorted.map((l) => ({ level: l.name, rank: l.rank })),
      ...unknown.map((l) => ({ level: l, rank: null })),
    ].map((l) => ({ ...l, offers: offers.filter((o) => o.level === l.level).map((o) => o.offer) })),
    evidence: {
      origin: input.checkpoint.origin,
      verifierKey: verifierKey(input.signer.keyName, input.signer.publicKey),
      treeSize: input.checkpoint.treeSize,
      rootHash: Buffer.from(input.checkpoint.rootHash).toString("base64"),
      checkpoint: input.checkpoint.note,
    },
    exports: input.exports,
  };
}

/** Base64 SHA-256 of the record's RFC 8785 canonical bytes: what the note signs. */
export function recordDigest(record: unknown): string {
  return createHash("sha256").update(canonicalBytes(record)).digest("base64");
}

/** The signed note's body for a record. */
export function filingNoteBody(
  record: Pick<FilingRecord, "space" | "period" | "issuedAt">,
  digest: string,
): string {
  return `${filingOrigin(record.space)}\n${record.period}\n${digest}\ntime ${record.issuedAt}\n`;
}

export async function signFiling(record: FilingRecord, signer: CheckpointSigner): Promise<FilingDocument> {
  return { record, note: await signNote(filingNoteBody(record, recordDigest(record)), signer) };
}
