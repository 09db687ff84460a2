// Where SandboxJob credentials come from: the SandboxJob's status.credential (the
// digest of the job token, the agreement, the outbox and the outputs, written
// by the operator before the job starts; no Secret is read) and its contract,
// read from the Kubernetes API on each call. The gateway serves from its
// watch-backed cache (grant-cache.ts) and calls this only on a miss.
// Read-only.
import type { DataContract, SandboxJob } from "@tds/crds";
import { kinds, type KubeClient, type KubeObject } from "@tds/kube";
import type { SandboxCredential, SandboxJobView, SandboxSource } from "./sandbox.ts";

interface Meta {
  metadata: { name?: string; namespace?: string; uid?: string };
}
export type JobObj = SandboxJob & Meta;

/**
 * A job's credential from its status (written by the operator before the job
 * starts): the digest of the job token, the agreement, the outbox and the
 * outputs. Undefined when the job has no credential with this id.
 */
export function credentialOf(j: JobObj, credentialId: string): SandboxCredential | undefined {
  const g = j.status?.credential;
  const digest = /^sha256:([0-9a-f]{64})$/.exec(g?.tokenDigest ?? "")?.[1];
  if (g?.id !== credentialId || !digest) return undefined;
  return {
    credentialId,
    agreementId: g.agreementId,
    inputs: (g.inputs ?? []).map((i) => ({ name: i.name, agreementId: i.agreementId })),
    job: { namespace: j.metadata.namespace ?? "", name: j.metadata.name ?? "", uid: j.metadata.uid ?? "" },
    outbox: { bucket: g.outbox.bucket, prefix: g.outbox.prefix },
    outputs: g.outputs.map((o) => ({ name: o.name, maxBytes: o.maxBytes })),
    tokenDigest: Buffer.from(digest, "hex"),
  };
}

/** What the gateway needs to know of a SandboxJob. */
export function view(j: JobObj): SandboxJobView {
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
  constructor(private readonly kube: KubeClient) {}

  async credential(credentialId: string): Promise<SandboxCredential | undefined> {
    // status.credential.id is a selectable field of the CRD: the server filters.
    const { items } = await this.kube.list<JobObj & KubeObject>(kinds.sandboxJob, undefined, {
      fieldSelector: `status.credential.id=${credentialId}`,
    });
    return items.length === 1 && items[0] ? credentialOf(items[0], credentialId) : undefined;
  }

  async job(namespace: string, name: string): Promise<SandboxJobView | undefined> {
    const j = await this.kube.find<JobObj & KubeObject>(kinds.sandboxJob, name, namespace);
    return j ? view(j) : undefined;
  }

  async jobByUid(uid: string): Promise<SandboxJobView | undefined> {
    // Custom resources have no uid field selector; the gateway lists and picks.
    const { items } = await this.kube.list<JobObj & KubeObject>(kinds.sandboxJob);
    const j = items.find((i) => i.metadata.uid === uid);
    return j ? view(j) : undefined;
  }

  async agreementOf(namespace: string, name: string): Promise<string | undefined> {
    const c = await this.kube.find<DataContract & KubeObject>(kinds.dataContract, name, namespace);
    return c?.status?.agreementId;
  }
}
