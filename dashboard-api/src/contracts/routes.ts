// Contract routes, mounted under /v1/spaces/:space/contracts. The API never
// decides a contract: it creates the DataContract resource (the operator's
// policy engine decides) and records provider and space-operator decisions as
// the annotations the operator reads (docs/contracts.md):
//   tds.dev/decision         approve | reject   the offer's provider (or an admin acting for it)
//   tds.dev/export-decision  approve | reject   a space admin or compliance reviewer, for cross-border transfers
//   tds.dev/revoke           <reason>           provider or admin; tds.dev/revoked-by names who
import { randomBytes } from "node:crypto";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { canSeeSpace, hasCapability, type Principal } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { contractStore, type ContractStore } from "./contract-store.ts";

const NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const OBJECT_NAME = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
const TOKEN = "^[a-z0-9]+([-.][a-z0-9]+)*$";
const RFC3339 = "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$";
const ADMINS: ReadonlySet<string> = new Set(["platform-admin", "space-admin"]);

interface CreateBody {
  offer: { namespace: string; name: string };
  purpose: string;
  consumer?: string;
  name?: string;
  requestedValidity?: { notBefore?: string; notAfter: string };
  requestedAccesses?: number;
  justification?: string;
}

const contractParams = {
  type: "object",
  required: ["space", "namespace", "name"],
  properties: {
    space: { type: "string", pattern: NAME, maxLength: 63 },
    namespace: { type: "string", pattern: NAME, maxLength: 63 },
    name: { type: "string", pattern: OBJECT_NAME, maxLength: 253 },
  },
} as const;
const contractResponse = {
  type: "object",
  properties: {
    namespace: { type: "string" },
    name: { type: "string" },
    uid: { type: "string" },
    state: { type: "string" },
    annotations: { type: "object", additionalProperties: { type: "string" } },
  },
} as const;

function spaceOf(ns: string): { space: string; participant: string } | undefined {
  const i = ns.indexOf("--");
  return i > 0 ? { space: ns.slice(0, i), participant: ns.slice(i + 2) } : undefined;
}

export const contractRoutes: FastifyPluginCallback = (app, _opts, done) => {
  // 503 when the API has no Kubernetes access (plugins/kube.ts).
  const kube = (): ContractStore => contractStore(app.kubeClient());
  const member = (request: FastifyRequest, space: string): Principal => {
    const p = principalOf(request);
    if (!canSeeSpace(p, space))
      throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
    return p;
  };

  app.post<{ Params: { space: string }; Body: CreateBody }>(
    "/",
    {
      schema: {
        operationId: "requestContract",
        tags: ["contracts"],
        summary:
          "Request a contract: creates a DataContract in the consumer's namespace; the operator decides it (see status.state)",
        params: { type: "object", properties: { space: { type: "string", pattern: NAME, maxLength: 63 } } },
        body: {
          type: "object",
          additionalProperties: false,
          required: ["offer", "purpose"],
          properties: {
            offer: {
              type: "object",
              additionalProperties: false,
              required: ["namespace", "name"],
              properties: {
                namespace: { type: "string", pattern: NAME, maxLength: 63 },
                name: { type: "string", pattern: OBJECT_NAME, maxLength: 253 },
              },
            },
            purpose: { type: "string", pattern: TOKEN, maxLength: 63 },
            consumer: { type: "string", pattern: NAME, maxLength: 59 },
            name: { type: "string", pattern: OBJECT_NAME, maxLength: 253 },
            requestedValidity: {
              type: "object",
              additionalProperties: false,
              required: ["notAfter"],
              properties: {
                notBefore: { type: "string", pattern: RFC3339 },
                notAfter: { type: "string", pattern: RFC3339 },
              },
            },
            requestedAccesses: { type: "integer", minimum: 1 },
            justification: { type: "string", maxLength: 4096 },
          },
        },
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
      if (spaceOf(b.offer.namespace)?.space !== space)
        throw new TdsError("validation", `Offer namespace ${b.offer.namespace} is not in space ${space}`, {
          field: "body/offer/namespace",
        });
      const name =
        b.name ?? `${b.offer.name.slice(0, 40).replace(/[.-]+$/, "")}-${randomBytes(4).toString("hex")}`;
      const created = await kube().createContract({
        apiVersion: "tds.dev/v1alpha1",
        kind: "DataContract",
        metadata: { name, namespace: `${space}--${consumer}` },
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

  type ContractP = { Params: { space: string; namespace: string; name: string } };
  /**
   * Who may decide: the provider of the contract's offer, or an admin of the space;
   * for a verdict (not a revocation) also a compliance reviewer, whose verdict is
   * always the cross-border export decision.
   */
  const decider = async (request: FastifyRequest<ContractP>, action: "verdict" | "revoke") => {
    const { space, namespace, name } = request.params;
    const p = member(request, space);
    if (spaceOf(namespace)?.space !== space)
      throw new TdsError("notFound", `Contract ${namespace}/${name} not found`, { field: "namespace" });
    const contract = await kube().getContract(namespace, name);
    if (!contract) throw new TdsError("notFound", `Contract ${namespace}/${name} not found`);
    const provider = spaceOf(contract.offerNamespace)?.participant;
    const isProvider = p.role === "participant" && p.participant === provider;
    const reviewsExports = action === "verdict" && hasCapability(p.role, "exports:decide");
    if (!isProvider && !ADMINS.has(p.role) && !reviewsExports)
      throw new TdsError(
        "forbidden",
        action === "revoke"
          ? `Only the offer's provider or a space admin may revoke contract ${name}`
          : `Only the offer's provider, a space admin or a compliance reviewer may decide contract ${name}`,
      );
    return { p, isProvider, contract };
  };

  for (const verdict of ["approve", "reject"] as const) {
    app.post<ContractP>(
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
        const { isProvider } = await decider(request, "verdict");
        const key = isProvider ? "tds.dev/decision" : "tds.dev/export-decision";
        return kube().annotate(namespace, name, { [key]: verdict });
      },
    );
  }

  app.post<ContractP & { Body: { reason: string } }>(
    "/:namespace/:name/revoke",
    {
      schema: {
        operationId: "revokeContract",
        tags: ["contracts"],
        summary:
          "Revoke a contract (the offer's provider or a space admin); access stops within one monitor interval",
        params: contractParams,
        body: {
          type: "object",
          additionalProperties: false,
          required: ["reason"],
          properties: { reason: { type: "string", minLength: 1, maxLength: 1024 } },
        },
        response: {
          200: contractResponse,
          "4xx": problemResponse,
          "5xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { namespace, name } = request.params;
      const { p } = await decider(request, "revoke");
      return kube().annotate(namespace, name, {
        "tds.dev/revoke": request.body.reason,
        "tds.dev/revoked-by": `${p.role}:${p.participant ?? p.subject}`,
      });
    },
  );
  done();
};
