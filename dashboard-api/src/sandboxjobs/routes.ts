// POST /v1/spaces/{space}/sandboxjobs/{namespace}/{name}/review: the provider
// of the job's offer releases or withholds its outputs. The API sets the
// annotations the operator reads (tds.dev/review, tds.dev/review-reason,
// tds.dev/reviewed-by) with its own identity; the ValidatingAdmissionPolicy
// tds-sandboxjob-review (charts/tds) denies those annotations to anyone else,
// the consumer's admins included.
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyPluginCallback } from "fastify";
import { canSeeSpace } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import { sandboxJobStore } from "./sandboxjob-store.ts";
import {
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  splitParticipantNamespace,
  REVIEW_ANNOTATION,
  REVIEWER_ANNOTATION,
  REVIEW_REASON_ANNOTATION,
} from "@tds/crds";

const label = Type.String({ pattern: DNS1123_LABEL, maxLength: 63 });

export const sandboxJobRoutes: FastifyPluginCallback = (plugin, _opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    "/:namespace/:name/review",
    {
      schema: {
        operationId: "reviewSandboxJob",
        tags: ["sandboxjobs"],
        summary:
          "Release or withhold the outputs of a SandboxJob awaiting review (the provider of its offer)",
        params: Type.Object({
          space: label,
          namespace: label,
          name: Type.String({ pattern: DNS1123_SUBDOMAIN, maxLength: 253 }),
        }),
        body: Type.Object(
          {
            decision: Type.Unsafe<"release" | "withhold">({ type: "string", enum: ["release", "withhold"] }),
            reason: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            namespace: Type.Optional(Type.String()),
            name: Type.Optional(Type.String()),
            uid: Type.Optional(Type.String()),
            reviewState: Type.Optional(Type.String()),
            annotations: Type.Optional(
              Type.Unsafe<Record<string, string>>({
                type: "object",
                additionalProperties: { type: "string" },
              }),
            ),
          }),
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
      if (splitParticipantNamespace(namespace)?.space !== space) throw notFound();
      // 503 when the API has no Kubernetes access (plugins/kube.ts).
      const jobs = sandboxJobStore(app.kubeClient());
      const job = await jobs.getJob(namespace, name);
      if (!job) throw notFound();
      const offerNs = await jobs.offerNamespaceOf(namespace, job.contract);
      const provider = offerNs === undefined ? undefined : splitParticipantNamespace(offerNs)?.participant;
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
        [REVIEW_ANNOTATION]: decision,
        [REVIEWER_ANNOTATION]: `participant:${provider}`,
        ...(reason ? { [REVIEW_REASON_ANNOTATION]: reason } : {}),
      });
    },
  );
  done();
};
