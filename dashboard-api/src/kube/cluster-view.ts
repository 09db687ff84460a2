// The API's read-only view of the cluster, through its KubeClient
// (plugins/kube.ts): DataSpaces (price sheets), Participants (who may be
// charged) and the per-space evidence signing key Secret.
import type { DataSpace, Participant } from "@tds/crds";
import { dataOf, kinds, type KubeClient, type KubeObject } from "@tds/kube";

export interface ClusterView {
  /** Every DataSpace in the cluster. */
  readonly listDataSpaces: () => Promise<DataSpace[]>;
  /** Every Participant in the cluster: its name and its space (spec.dataSpace). */
  readonly listParticipants: () => Promise<{ name: string; space: string }[]>;
  /** One key of a Secret, decoded; undefined when the Secret or the key is missing. */
  readonly readSecretKey: (namespace: string, name: string, key: string) => Promise<string | undefined>;
}

export function clusterView(client: KubeClient): ClusterView {
  return {
    async listDataSpaces() {
      return (await client.list<DataSpace & KubeObject>(kinds.dataSpace)).items;
    },
    async listParticipants() {
      const list = await client.list<Pick<Participant, "metadata" | "spec"> & KubeObject>(kinds.participant);
      return list.items.flatMap((p) =>
        p.metadata.name && p.spec.dataSpace ? [{ name: p.metadata.name, space: p.spec.dataSpace }] : [],
      );
    },
    async readSecretKey(namespace, name, key) {
      let secret: KubeObject | undefined;
      try {
        secret = await client.find(kinds.secret, name, namespace);
      } catch (err) {
        throw new Error(`cannot read Secret ${namespace}/${name}`, { cause: err });
      }
      const value = dataOf(secret)[key];
      return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
    },
  };
}
