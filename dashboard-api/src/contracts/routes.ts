// Contract routes, mounted under /v1/spaces/:space/contracts. The API never
// decides a contract: it creates the DataContract resource (the operator's
// policy engine decides) and records provider and space-operator decisions as
// the annotations the operator reads (docs/contracts.md):
//   tds.dev/decision         approve | reject   the offer's provider (or an admin acting for it)
//   tds.dev/export-decision  approve | reject   a space admin or compliance reviewer, for cross-border transfers
//   tds.dev/revoke           <reason>           provider or admin; tds.dev/revoked-by names who
//   tds.dev/reinstate        <reason>           provider or admin, on a Suspended contract (honoured once)
import { randomBytes } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { RFC3339 } from "@tds/wire";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { canSeeSpace, hasCapability, type Principal } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { contractStore, type ContractStore } from "./contract-store.ts";
import {
  API_VERSION,
  DataContractSpecSchema,
  DECISION_ANNOTATION,
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  EXPORT_DECISION_ANNOTATION,
  participantNamespace,
  REINSTATE_ANNOTATION,
  REVOKE_ANNOTATION,
  REVOKED_BY_ANNOTATION,
  splitParticipantNamespace,
  TOKEN,
} from "@tds/crds";

const ADMINS: ReadonlySet<string> = new Set(["platform-admin", "space-admin"]);

const label = (maxLength = 63) => Type.String({ pattern: DNS1123_LABEL, maxLength });
const objectName = (description?: string) =>
  Type.String({ pattern: DNS1123_SUBDOMAIN, maxLength: 253, ...(description ? { description } : {}) });
const instant = (description: string | undefined) =>
  Type.String({ pattern: RFC3339, ...(description ? { description } : {}) });

/** The DataContract's spec as a request asks for it: the CRD's fields, with JSON Schema patterns. */
const spec = DataContractSpecSchema.properties;
const requestBody = Type.Object(
  {
    offer: Type.Object(
      {
        namespace: label(),
        name: objectName(spec.offerRef.properties.name.description),
      },
      { additionalProperties: false, description: spec.offerRef.description },
    ),
    purpose: Type.String({ pattern: TOKEN, maxLength: 63, description: spec.purpose.description }),
    // The consumer's namespace is <space>--<consumer>, itself a label of at most 63 characters.
    consumer: Type.Optional(label(59)),
    name: Type.Optional(objectName()),
    requestedValidity: Type.Optional(
      Type.Object(
        {
          notBefore: Type.Optional(instant(spec.requestedValidity.properties.notBefore.description)),
          notAfter: instant(spec.requestedValidity.properties.notAfter.description),
        },
        { additionalProperties: false, description: spec.requestedValidity.description },
      ),
    ),
    requestedAccesses: Type.Optional(
      Type.Integer({ minimum: 1, description: spec.requestedAccesses.description }),
    ),
    justification: Type.Optional(
      Type.String({ maxLength: 4096, description: spec.justification.description }),
    ),
  },
  { additionalProperties: false },
);

const contractParams = Type.Object({ space: label(), namespace: label(), name: objectName() });
const contractResponse = Type.Object({
  namespace: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  annotations: Type.Optional(
    Type.Unsafe<Record<string, string>>({ type: "object", additionalProperties: { type: "string" } }),
  ),
});

/** The body of a revocation or reinstatement: why, kept in the annotation. */
const reasonBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
const annotatedResponse = { 200: contractResponse, "4xx": problemResponse, "5xx": problemResponse };

export const contractRoutes: FastifyPluginCallback = (plugin, _opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  // 503 when the API has no Kubernetes access (plugins/kube.ts).
  const kube = (): ContractStore => contractStore(app.kubeClient());
  const member = (request: FastifyRequest, space: string): Principal => {
    const p = principalOf(request);
    if (!canSeeSpace(p, space))
      throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
    return p;
  };

  app.post(
    "/",
    {
      schema: {
        operationId: "requestContract",
        tags: ["contracts"],
        summary:
          "Request a contract: creates a DataContract in the consumer's namespace; the operator decides it (see status.state)",
        params: Type.Object({ space: label() }),
        body: requestBody,
        response: {
          201: contractResponse,
          "4xx": problemResponse,
          "5xx": problemResponse,
        },
      },
    },
    async (request, reply) => {
      const { space } = request.params;
      const p = member(request, space);
      const b = request.body;
      let consumer: string;
      if (p.role === "participant") {
        if (b.consumer !== undefined && b.consumer !== p.participant)
          throw new TdsError("forbidden", `Participant ${p.participant ?? ""} may only contract for itself`);
        consumer = p.participant ?? "";
      } else if (ADMINS.has(p.role)) {
        if (!b.consumer)
          throw new TdsError("validation", "consumer is required for an admin", { field: "body/consumer" });
        consumer = b.consumer;
      } else {
        throw new TdsError("forbidden", `Role ${p.role} may not request contracts`);
      }
      if (splitParticipantNamespace(b.offer.namespace)?.space !== space)
        throw new TdsError("validation", `Offer namespace ${b.offer.namespace} is not in space ${space}`, {
          field: "body/offer/namespace",
        });
      const name =
        b.name ?? `${b.offer.name.slice(0, 40).replace(/[.-]+$/, "")}-${randomBytes(4).toString("hex")}`;
      const created = await kube().createContract({
        apiVersion: API_VERSION,
        kind: "DataContract",
        metadata: { name, namespace: participantNamespace(space, consumer) },
        spec: {
          offerRef: b.offer,
          purpose: b.purpose,
          ...(b.requestedValidity ? { requestedValidity: b.requestedValidity } : {}),
          ...(b.requestedAccesses === undefined ? {} : { requestedAccesses: b.requestedAccesses }),
          ...(b.justification ? { justification: b.justification } : {}),
        },
      });
      return reply.status(201).send(created);
    },
  );

  /**
   * Who may decide: the provider of the contract's offer, or an admin of the space;
   * for a verdict (not a revocation) also a compliance reviewer, whose verdict is
   * always the cross-border export decision.
   */
  const decider = async (
    request: FastifyRequest,
    { space, namespace, name }: Static<typeof contractParams>,
    action: "verdict" | "revoke" | "reinstate",
  ) => {
    const p = member(request, space);
    if (splitParticipantNamespace(namespace)?.space !== space)
      throw new TdsError("notFound", `Contract ${namespace}/${name} not found`, { field: "namespace" });
    const contract = await kube().getContract(namespace, name);
    if (!contract) throw new TdsError("notFound", `Contract ${namespace}/${name} not found`);
    const provider = splitParticipantNamespace(contract.offerNamespace)?.participant;
    const isProvider = p.role === "participant" && p.participant === provider;
    const reviewsExports = action === "verdict" && hasCapability(p.role, "exports:decide");
    if (!isProvider && !ADMINS.has(p.role) && !reviewsExports)
      throw new TdsError(
        "forbidden",
        action !== "verdict"
          ? `Only the offer's provider or a space admin may ${action} contract ${name}`
          : `Only the offer's provider, a space admin or a compliance reviewer may decide contract ${name}`,
      );
    return { p, isProvider, contract };
  };

  for (const verdict of ["approve", "reject"] as const) {
    app.post(
      `/:namespace/:name/${verdict}`,
      {
        schema: {
          operationId: `${verdict}Contract`,
          tags: ["contracts"],
          summary: `${verdict === "approve" ? "Approve" : "Reject"} a Requested contract: the provider decides the contract (tds.dev/decision), a space admin or compliance reviewer the cross-border export (tds.dev/export-decision)`,
          params: contractParams,
          response: {
            200: contractResponse,
            "4xx": problemResponse,
            "5xx": problemResponse,
          },
        },
      },
      async (request) => {
        const { namespace, name } = request.params;
        const { isProvider } = await decider(request, request.params, "verdict");
        const key = isProvider ? DECISION_ANNOTATION : EXPORT_DECISION_ANNOTATION;
        return kube().annotate(namespace, name, { [key]: verdict });
      },
    );
  }

  app.post(
    "/:namespace/:name/revoke",
    {
      schema: {
        operationId: "revokeContract",
        tags: ["contracts"],
        summary:
          "Revoke a contract (the offer's provider or a space admin); access stops within one monitor interval",
        params: contractParams,
        body: reasonBody,
        response: annotatedResponse,
      },
    },
    async (request) => {
      const { namespace, name } = request.params;
      const { p } = await decider(request, request.params, "revoke");
      return kube().annotate(namespace, name, {
        [REVOKE_ANNOTATION]: request.body.reason,
        [REVOKED_BY_ANNOTATION]: `${p.role}:${p.participant ?? p.subject}`,
      });
    },
  );
  app.post(
    "/:namespace/:name/reinstate",
    {
      schema: {
        operationId: "reinstateContract",
        tags: ["contracts"],
        summary:
          "Ask for a Suspended contract back (the offer's provider or a space admin): the operator re-decides it against the space's current rules and returns it to Active with a contract.reinstated entry, or keeps it Suspended with the failing rule",
        params: contractParams,
        body: reasonBody,
        response: annotatedResponse,
      },
    },
    async (request) => {
      const { namespace, name } = request.params;
      const { contract } = await decider(request, request.params, "reinstate");
      // The operator honours the annotation once, on a Suspended contract; set on any other it would
      // wait there and reopen the contract at a later suspension without a new decision.
      if (contract.state !== "Suspended")
        throw new TdsError(
          "conflict",
          `Contract ${namespace}/${name} is ${contract.state ?? "not yet decided"}, not Suspended: only a suspended contract is reinstated`,
        );
      return kube().annotate(namespace, name, { [REINSTATE_ANNOTATION]: request.body.reason });
    },
  );
  done();
};
