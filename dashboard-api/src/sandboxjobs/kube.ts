// The review route's access to Kubernetes: read a SandboxJob and its
// contract, and merge-patch the job's review annotations with the API's own
// identity (the ValidatingAdmissionPolicy tds-sandboxjob-review lets only the
// operator and the API change them). An interface, so the route stays testable.
import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { TdsError } from "../errors.ts";

export interface SandboxJobReviewView {
  namespace: string;
  name: string;
  uid: string;
  contract: string;
  phase?: string;
  reviewState?: string;
  annotations: Record<string, string>;
}

export interface SandboxJobsKube {
  getJob(namespace: string, name: string): Promise<SandboxJobReviewView | undefined>;
  /** The namespace of the offer of a contract, or undefined when the contract is gone. */
  offerNamespaceOf(namespace: string, contract: string): Promise<string | undefined>;
  annotate(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
  ): Promise<SandboxJobReviewView>;
}

type JobObject = KubernetesObject & {
  spec?: { contractRef?: { name?: string } };
  status?: { phase?: string; review?: { state?: string } };
};

const codeOf = (err: unknown): number | undefined => {
  const c = (err as { code?: unknown }).code;
  return typeof c === "number" ? c : undefined;
};

function view(o: JobObject): SandboxJobReviewView {
  return {
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    uid: o.metadata?.uid ?? "",
    contract: o.spec?.contractRef?.name ?? "",
    ...(o.status?.phase ? { phase: o.status.phase } : {}),
    ...(o.status?.review?.state ? { reviewState: o.status.review.state } : {}),
    annotations: o.metadata?.annotations ?? {},
  };
}

function translate(err: unknown, what: string): never {
  const code = codeOf(err);
  if (code === 404) throw new TdsError("notFound", what, { cause: err });
  if (code === 409) throw new TdsError("conflict", what, { cause: err });
  if (code === 403 || code === 422)
    throw new TdsError("forbidden", `${what}: the Kubernetes API refused`, { cause: err });
  throw new TdsError("unavailable", `${what}: the Kubernetes API failed`, { cause: err });
}

export function kubeSandboxJobs(kc?: KubeConfig): SandboxJobsKube {
  const config = kc ?? new KubeConfig();
  if (!kc) config.loadFromDefault();
  const api = KubernetesObjectApi.makeApiClient(config);
  const ref = (kind: string, namespace: string, name: string) => ({
    apiVersion: "tds.dev/v1alpha1",
    kind,
    metadata: { namespace, name },
  });
  return {
    async getJob(namespace, name) {
      try {
        return view(await api.read<JobObject>(ref("SandboxJob", namespace, name)));
      } catch (err) {
        if (codeOf(err) === 404) return undefined;
        translate(err, `cannot read SandboxJob ${namespace}/${name}`);
      }
    },
    async offerNamespaceOf(namespace, contract) {
      try {
        const c = await api.read<KubernetesObject & { spec?: { offerRef?: { namespace?: string } } }>(
          ref("DataContract", namespace, contract),
        );
        return c.spec?.offerRef?.namespace;
      } catch (err) {
        if (codeOf(err) === 404) return undefined;
        translate(err, `cannot read contract ${namespace}/${contract}`);
      }
    },
    async annotate(namespace, name, annotations) {
      try {
        const patched = await api.patch<JobObject>(
          { ...ref("SandboxJob", namespace, name), metadata: { namespace, name, annotations } },
          undefined,
          undefined,
          "tds-dashboard-api",
          undefined,
          PatchStrategy.MergePatch,
        );
        return view(patched);
      } catch (err) {
        translate(err, `cannot annotate SandboxJob ${namespace}/${name}`);
      }
    },
  };
}
