// The review route's access to SandboxJobs: read a job and its contract, and
// merge-patch the job's review annotations with the API's own identity (the
// ValidatingAdmissionPolicy tds-sandboxjob-review lets only the operator and
// the API change them), through the API's KubeClient (plugins/kube.ts). An
// interface, so the route stays testable.
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { kubeError } from "../plugins/kube.ts";

export interface SandboxJobReviewView {
  namespace: string;
  name: string;
  uid: string;
  contract: string;
  phase?: string;
  reviewState?: string;
  annotations: Record<string, string>;
}

export interface SandboxJobStore {
  getJob(namespace: string, name: string): Promise<SandboxJobReviewView | undefined>;
  /** The namespace of the offer of a contract, or undefined when the contract is gone. */
  offerNamespaceOf(namespace: string, contract: string): Promise<string | undefined>;
  annotate(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
  ): Promise<SandboxJobReviewView>;
}

type JobObject = KubeObject & {
  spec?: { contractRef?: { name?: string } };
  status?: { phase?: string; review?: { state?: string } };
};

function view(o: JobObject): SandboxJobReviewView {
  return {
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name ?? "",
    uid: o.metadata.uid ?? "",
    contract: o.spec?.contractRef?.name ?? "",
    ...(o.status?.phase ? { phase: o.status.phase } : {}),
    ...(o.status?.review?.state ? { reviewState: o.status.review.state } : {}),
    annotations: o.metadata.annotations ?? {},
  };
}

export function sandboxJobStore(client: KubeClient): SandboxJobStore {
  return {
    async getJob(namespace, name) {
      try {
        return view(await client.get<JobObject>(kinds.sandboxJob, name, namespace));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        kubeError(err, `cannot read SandboxJob ${namespace}/${name}`);
      }
    },
    async offerNamespaceOf(namespace, contract) {
      try {
        const c = await client.get<KubeObject & { spec?: { offerRef?: { namespace?: string } } }>(
          kinds.dataContract,
          contract,
          namespace,
        );
        return c.spec?.offerRef?.namespace;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        kubeError(err, `cannot read contract ${namespace}/${contract}`);
      }
    },
    async annotate(namespace, name, annotations) {
      try {
        return view(
          await client.mergePatch<JobObject>(kinds.sandboxJob, name, namespace, {
            metadata: { annotations },
          }),
        );
      } catch (err) {
        kubeError(err, `cannot annotate SandboxJob ${namespace}/${name}`);
      }
    },
  };
}
