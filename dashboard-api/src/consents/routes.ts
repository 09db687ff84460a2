// Consent routes, under /v1/spaces/:space/consents: a data subject, or the
// participant that holds its data acting as its agent, gives a consent for
// one of that participant's offers, and either revokes it; compliance
// reviewers and space admins revoke one a dispute finds wanting. Who sees
// what: a data subject its own consents, a participant those for its offers,
// reviewers, admins and auditors all of the space's, the operator all (for
// contract decisions) without the subjects. docs/governance.md "Personal
// data under consent".
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  splitParticipantNamespace,
  TOKEN,
  type DataOffer,
  type DataSpace,
} from "@tds/crds";
import { consentRequired } from "@tds/crds/policy";
import { kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { CONSENT_ID, ConsentConsumerSchema, ConsentListSchema, ConsentSchema, RFC3339 } from "@tds/wire";
import type { FastifyPluginCallback } from "fastify";
import type { Principal } from "../auth/principal.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { EvidenceStore } from "../evidence/store.ts";
import { principalOf } from "../plugins/auth.ts";
import { kubeError } from "../plugins/kube.ts";
import { requireSpace } from "../spaces.ts";
import { consentOf, ConsentStore } from "./store.ts";

export interface ConsentRoutesOptions {
  readonly now: () => Date;
}

const label = (maxLength = 63) => Type.String({ pattern: DNS1123_LABEL, maxLength });
/** An identifier the holder and the subject agree on: printable, no spaces. */
const SUBJECT = "^[A-Za-z0-9._:@+/=-]{1,200}$";

const grantBody = Type.Object(
  {
    offer: Type.Object(
      {
        namespace: label(),
        name: Type.String({ pattern: DNS1123_SUBDOMAIN, maxLength: 253 }),
      },
      { additionalProperties: false, description: "The offer that holds the subject's data" },
    ),
    purpose: Type.String({
      pattern: TOKEN,
      maxLength: 63,
      description: "The one purpose consented to; one of the offer's purposes",
    }),
    consumer: ConsentConsumerSchema,
    validity: Type.Object(
      {
        notBefore: Type.Optional(
          Type.String({ pattern: RFC3339, description: "In force from (inclusive); default now" }),
        ),
        notAfter: Type.String({ pattern: RFC3339, description: "In force until (exclusive)" }),
      },
      { additionalProperties: false },
    ),
    subject: Type.Optional(
      Type.String({
        pattern: SUBJECT,
        description:
          "The data subject, when the holder records the consent as its agent; a data subject's own token names it",
      }),
    ),
  },
  { additionalProperties: false },
);

const idParams = Type.Object({ space: label(), id: Type.String({ pattern: CONSENT_ID }) });

/** Those who act on a consent see its subject; the operator and auditors only what it allows. */
const seesSubjects = (p: Principal): boolean => p.role !== "operator" && p.role !== "auditor";

/** The consents a principal may see: a subject its own, a participant those it holds; undefined: all. */
function scopeOf(p: Principal): { holder?: string; subject?: string } {
  if (p.role === "data-subject") return { holder: p.participant ?? "", subject: p.subject };
  if (p.role === "participant") return { holder: p.participant ?? "" };
  return {};
}

export const consentRoutes: FastifyPluginCallback<ConsentRoutesOptions> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  const store = () => new ConsentStore(app.pool(), new EvidenceStore(app.pool()));

  /** The consent, if the principal may see it: another's is a 404, as if it did not exist. */
  const visible = async (p: Principal, space: string, id: string) => {
    const row = await store().row(id);
    const scope = scopeOf(p);
    if (
      !row ||
      row.space !== space ||
      (scope.holder !== undefined && row.holder !== scope.holder) ||
      (scope.subject !== undefined && row.subject !== scope.subject)
    )
      throw new TdsError("notFound", `Consent ${id} not found`, { field: "id" });
    return row;
  };

  app.post(
    "/",
    {
      schema: {
        operationId: "grantConsent",
        tags: ["consents"],
        summary: "Give a data subject's consent for an offer, a purpose, a consumer and a time window",
        description:
          "A data subject (role data-subject, its token naming the participant that holds its data) consents " +
          "for itself; the holder (role participant) records a consent as the subject's agent and names the " +
          "subject. The offer must be the holder's and need consent (personalData, or a Personal space), the " +
          "purpose one of its purposes. Answered once the grant is in the space's evidence log. An " +
          "Idempotency-Key header makes a retry the same consent.",
        params: Type.Object({ space: label() }),
        headers: Type.Object({
          "idempotency-key": Type.Optional(Type.String({ pattern: "^[A-Za-z0-9._:~+/=-]{1,200}$" })),
        }),
        body: grantBody,
        response: { 201: ConsentSchema, "4xx": problemResponse, "5xx": problemResponse },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      const p = principalOf(request);
      await requireSpace(app, p, space, "consents:grant");
      const b = request.body;
      const where = splitParticipantNamespace(b.offer.namespace);
      if (where?.space !== space)
        throw new TdsError("validation", `Offer namespace ${b.offer.namespace} is not in space ${space}`, {
          field: "body/offer/namespace",
        });
      const holder = where.participant;
      if (p.participant !== holder)
        throw new TdsError(
          "forbidden",
          p.role === "data-subject"
            ? `A data subject of ${p.participant ?? ""} consents only to its offers; ${b.offer.namespace}/${b.offer.name} is ${holder}'s`
            : `Participant ${p.participant ?? ""} records consents only for its own offers; ${b.offer.namespace}/${b.offer.name} is ${holder}'s`,
        );
      let subject: string;
      if (p.role === "data-subject") {
        if (b.subject !== undefined && b.subject !== p.subject)
          throw new TdsError("forbidden", "A data subject consents only for itself", {
            field: "body/subject",
          });
        subject = p.subject;
      } else {
        if (b.subject === undefined)
          throw new TdsError("validation", "subject is required when the holder records a consent", {
            field: "body/subject",
          });
        subject = b.subject;
      }
      const now = opts.now();
      const notBefore = b.validity.notBefore === undefined ? now : new Date(b.validity.notBefore);
      const notAfter = new Date(b.validity.notAfter);
      if (Number.isNaN(notBefore.getTime()))
        throw new TdsError("validation", "validity.notBefore is not a date", {
          field: "body/validity/notBefore",
        });
      if (Number.isNaN(notAfter.getTime()) || notAfter.getTime() <= notBefore.getTime())
        throw new TdsError("validation", "validity.notAfter must be after validity.notBefore", {
          field: "body/validity/notAfter",
        });
      if (notAfter.getTime() <= now.getTime())
        throw new TdsError("validation", `validity.notAfter ${b.validity.notAfter} is already over`, {
          field: "body/validity/notAfter",
        });
      await offerNeedingConsent(app.kubeClient(), space, b.offer, b.purpose);
      const row = await store().grant(
        {
          space,
          subject,
          holder,
          offer: b.offer,
          purpose: b.purpose,
          consumer: b.consumer,
          notBefore,
          notAfter,
          givenAs: p.role === "data-subject" ? "data-subject" : "participant",
          givenBy: p.subject,
          ...(request.headers["idempotency-key"] === undefined
            ? {}
            : { idempotencyKey: request.headers["idempotency-key"] }),
        },
        now,
      );
      return reply.status(201).send(consentOf(row, now, true));
    },
  );

  app.get(
    "/",
    {
      schema: {
        operationId: "listConsents",
        tags: ["consents"],
        summary: "Consents of the space: a data subject's own, those a participant holds, or all",
        description:
          "Those in force first, then the newest. The operator and auditors get them without subjects.",
        params: Type.Object({ space: label() }),
        querystring: Type.Object(
          {
            offerNamespace: Type.Optional(label()),
            offerName: Type.Optional(Type.String({ pattern: DNS1123_SUBDOMAIN, maxLength: 253 })),
            purpose: Type.Optional(Type.String({ pattern: TOKEN, maxLength: 63 })),
            subject: Type.Optional(Type.String({ pattern: SUBJECT })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ConsentListSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space } = request.params;
      const p = principalOf(request);
      await requireSpace(app, p, space, "consents:read");
      const q = request.query;
      if (q.offerName !== undefined && q.offerNamespace === undefined)
        throw new TdsError("validation", "offerName needs offerNamespace", {
          field: "querystring/offerNamespace",
        });
      const scope = scopeOf(p);
      if (q.subject !== undefined && !seesSubjects(p))
        throw new TdsError("forbidden", `Role ${p.role} does not see data subjects`, {
          field: "querystring/subject",
        });
      // A data subject asking for another subject finds nothing, as if there were none.
      if (scope.subject !== undefined && q.subject !== undefined && q.subject !== scope.subject)
        return { items: [], truncated: false };
      const now = opts.now();
      const { rows, truncated } = await store().list(
        {
          space,
          ...(scope.holder === undefined ? {} : { holder: scope.holder }),
          ...((scope.subject ?? q.subject) ? { subject: scope.subject ?? q.subject } : {}),
          ...(q.offerNamespace === undefined
            ? {}
            : { offer: { namespace: q.offerNamespace, ...(q.offerName ? { name: q.offerName } : {}) } }),
          ...(q.purpose === undefined ? {} : { purpose: q.purpose }),
          limit: q.limit ?? 100,
        },
        now,
      );
      return { items: rows.map((r) => consentOf(r, now, seesSubjects(p))), truncated };
    },
  );

  app.get(
    "/:id",
    {
      schema: {
        operationId: "getConsent",
        tags: ["consents"],
        summary: "One consent, with its state and evidence entries",
        params: idParams,
        response: { 200: ConsentSchema, "4xx": problemResponse },
      },
    },
    async (request) => {
      const { space, id } = request.params;
      const p = principalOf(request);
      await requireSpace(app, p, space, "consents:read");
      return consentOf(await visible(p, space, id), opts.now(), seesSubjects(p));
    },
  );

  app.post(
    "/:id/revoke",
    {
      schema: {
        operationId: "revokeConsent",
        tags: ["consents"],
        summary:
          "Revoke a consent: the data subject, the holder, a compliance reviewer or a space admin; contracts under it are suspended and their access cut within one monitor interval",
        description: "Revoking a revoked consent answers it as it is.",
        params: idParams,
        body: Type.Object(
          { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })) },
          { additionalProperties: false },
        ),
        response: { 200: ConsentSchema, "4xx": problemResponse, "5xx": problemResponse },
      },
    },
    async (request) => {
      const { space, id } = request.params;
      const p = principalOf(request);
      await requireSpace(app, p, space, "consents:revoke");
      await visible(p, space, id);
      const now = opts.now();
      const row = await store().revoke(
        id,
        { role: p.role, subject: p.subject, ...(request.body.reason ? { reason: request.body.reason } : {}) },
        now,
      );
      if (!row) throw new TdsError("notFound", `Consent ${id} not found`, { field: "id" });
      return consentOf(row, now, true);
    },
  );
  done();
};

/** The offer exists, needs consent and offers the purpose; otherwise a 400 or 404 naming the field. */
async function offerNeedingConsent(
  kube: KubeClient,
  space: string,
  ref: { readonly namespace: string; readonly name: string },
  purpose: string,
): Promise<void> {
  let offer: (DataOffer & KubeObject) | undefined;
  let spaceObject: (DataSpace & KubeObject) | undefined;
  try {
    [offer, spaceObject] = await Promise.all([
      kube.find<DataOffer & KubeObject>(kinds.dataOffer, ref.name, ref.namespace),
      kube.find<DataSpace & KubeObject>(kinds.dataSpace, space),
    ]);
  } catch (err) {
    kubeError(err, `cannot read offer ${ref.namespace}/${ref.name}`);
  }
  if (!offer)
    throw new TdsError("notFound", `Offer ${ref.namespace}/${ref.name} not found`, {
      field: "body/offer/name",
    });
  if (!spaceObject) throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
  const spaceType = spaceObject.spec.spaceType ?? "Industry";
  if (!consentRequired({ spaceType }, { personalData: offer.spec.personalData === true }))
    throw new TdsError(
      "validation",
      `Offer ${ref.namespace}/${ref.name} holds no personal data and space ${space} is ${spaceType}, not Personal: it needs no consent`,
      { field: "body/offer" },
    );
  const purposes = offer.spec.policy.purposes;
  if (!purposes.includes(purpose))
    throw new TdsError(
      "validation",
      `Purpose ${purpose} is not one of offer ${ref.name}'s purposes (${purposes.join(", ")})`,
      { field: "body/purpose" },
    );
}
