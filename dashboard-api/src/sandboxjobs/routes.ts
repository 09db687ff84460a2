// POST /v1/spaces/{space}/sandboxjobs/{namespace}/{name}/review: the provider
// of the job's offer releases or withholds its outputs. The API sets the
// annotations the operator reads (tds.dev/review, tds.dev/review-reason,
// tds.dev/reviewed-by) with its own identity; the ValidatingAdmissionPolicy
// tds-sandboxjob-review (charts/tds) denies those annotations to anyone else,
// the consumer's admins included.
import type { FastifyPluginCallback } from "fastify";
import { canSeeSpace } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { sandboxJobStore } from "./sandboxjob-store.ts";

const NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const OBJECT_NAME = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

interface ReviewBody {
  decision: "release" | "withhold";
  reason?: string;
}

function spaceOf(ns: string): { space: string; participant: string } | undefined {
  const i = ns.indexOf("--");
  return i > 0 ? { space: ns.slice(0, i), participant: ns.slice(i + 2) } : undefined;
}

export const sandboxJobRoutes: FastifyPluginCallback = (app, _opts, done) => {
  app.post<{ Params: { space: string; namespace: string; name: string }; Body: ReviewBody }>(
    "/:namespace/:name/review",
    {
      schema: {
        operationId: "reviewSandboxJob",
        tags: ["sandboxjobs"],
        summary:
          "Release or withhold the outputs of a SandboxJob awaiting review (the provider of its offer)",
        params: {
          type: "object",
          required: ["space", "namespace", "name"],
          properties: {
            space: { type: "string", pattern: NAME, maxLength: 63 },
            namespace: { type: "string", pattern: NAME, maxLength: 63 },
            name: { type: "string", pattern: OBJECT_NAME, maxLength: 253 },
          },
        },
        body: {
          type: "object",
          additionalProperties: false,
          required: ["decision"],
          properties: {
            decision: { type: "string", enum: ["release", "withhold"] },
            reason: { type: "string", minLength: 1, maxLength: 4096 },
          },
        },
        response: {
          200: {
            type: "object",
            properties: {
              namespace: { type: "string" },
              name: { type: "string" },
              uid: { type: "string" },
              reviewState: { type: "string" },
              annotations: { type: "object", additionalProperties: { type: "string" } },
            },
          },
          "4xx": problemResponse,
          "5xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { space, namespace, name } = request.params;
      const p = principalOf(request);
      const notFound = () => new TdsError("notFound", `SandboxJob ${namespace}/${name} not found`);
      if (!canSeeSpace(p, space)) throw new TdsError("spaceNotFound", `Space ${space} not found`);
      if (spaceOf(namespace)?.space !== space) throw notFound();
      // 503 when the API has no Kubernetes access (plugins/kube.ts).
      const jobs = sandboxJobStore(app.kubeClient());
      const job = await jobs.getJob(namespace, name);
      if (!job) throw notFound();
      const offerNs = await jobs.offerNamespaceOf(namespace, job.contract);
      const provider = offerNs === undefined ? undefined : spaceOf(offerNs)?.participant;
      if (p.role !== "participant" || provider === undefined || p.participant !== provider)
        throw new TdsError(
          "forbidden",
          `Only the provider of the offer of SandboxJob ${name} reviews its outputs`,
        );
      if (job.reviewState !== "PendingReview")
        throw new TdsError(
          "conflict",
          `SandboxJob ${name} is not awaiting review (phase ${job.phase ?? "none"}, review ${job.reviewState ?? "none"})`,
        );
      const { decision, reason } = request.body;
      return jobs.annotate(namespace, name, {
        "tds.dev/review": decision,
        "tds.dev/reviewed-by": `participant:${provider}`,
        ...(reason ? { "tds.dev/review-reason": reason } : {}),
      });
    },
  );
  done();
};
