// Where SandboxJob grants come from: the job's grant Secret (label
// tds.dev/sandbox-grant=<grant id>, in the sandbox namespace the operator
// created), the SandboxJob and its contract, read from the Kubernetes API on
// each request. Read-only.
import type { DataContract, SandboxJob } from "@tds/crds";
import { digestToken } from "./grants.ts";
import type { KubeReader } from "./kube.ts";
import type { SandboxGrant, SandboxJobView, SandboxSource } from "./sandbox.ts";

export const SANDBOX_GRANT_LABEL = "tds.dev/sandbox-grant";
const TDS = "/apis/tds.dev/v1alpha1";
const enc = encodeURIComponent;

interface Meta {
  metadata: { name?: string; namespace?: string; uid?: string };
}
type JobObj = SandboxJob & Meta;

const text = (b64: string | undefined): string => Buffer.from(b64 ?? "", "base64").toString("utf8");

function view(j: JobObj): SandboxJobView {
  return {
    namespace: j.metadata.namespace ?? "",
    name: j.metadata.name ?? "",
    uid: j.metadata.uid ?? "",
    contract: j.spec.contractRef.name,
    ...(j.status?.phase ? { phase: j.status.phase } : {}),
    ...(j.status?.review?.state ? { reviewState: j.status.review.state } : {}),
    outputs: (j.status?.outputs ?? []).map((o) => ({
      name: o.name,
      ...(o.objectKey ? { objectKey: o.objectKey } : {}),
    })),
  };
}

export class KubeSandboxSource implements SandboxSource {
  constructor(private readonly kube: KubeReader) {}

  async grant(grantId: string): Promise<SandboxGrant | undefined> {
    const list = await this.kube.get<{ items: (Meta & { data?: Record<string, string> })[] }>(
      `/api/v1/secrets?labelSelector=${enc(`${SANDBOX_GRANT_LABEL}=${grantId}`)}`,
    );
    const items = list?.items ?? [];
    if (items.length !== 1) return undefined;
    const d = items[0]?.data ?? {};
    const token = text(d.token);
    if (!token) return undefined;
    let outputs: { name: string; maxBytes: number }[] = [];
    try {
      outputs = (JSON.parse(text(d.outputs) || "[]") as { name: string; maxBytes: string }[]).map((o) => ({
        name: o.name,
        maxBytes: Number(o.maxBytes),
      }));
    } catch {
      return undefined;
    }
    return {
      grantId,
      agreementId: text(d.agreementId),
      job: { namespace: text(d.jobNamespace), name: text(d.jobName), uid: text(d.jobUid) },
      outbox: { bucket: text(d.outboxBucket), prefix: text(d.outboxPrefix) },
      outputs,
      tokenDigest: digestToken(token),
    };
  }

  async job(namespace: string, name: string): Promise<SandboxJobView | undefined> {
    const j = await this.kube.get<JobObj>(`${TDS}/namespaces/${enc(namespace)}/sandboxjobs/${enc(name)}`);
    return j ? view(j) : undefined;
  }

  async jobByUid(uid: string): Promise<SandboxJobView | undefined> {
    // Custom resources have no uid field selector; the gateway lists and picks.
    const list = await this.kube.get<{ items: JobObj[] }>(`${TDS}/sandboxjobs`);
    const j = list?.items.find((i) => i.metadata.uid === uid);
    return j ? view(j) : undefined;
  }

  async agreementOf(namespace: string, name: string): Promise<string | undefined> {
    const c = await this.kube.get<DataContract & Meta>(
      `${TDS}/namespaces/${enc(namespace)}/datacontracts/${enc(name)}`,
    );
    return c?.status?.agreementId;
  }
}
