// The API's read-only view of the cluster: DataSpaces (price sheets), Participants
// (who may be charged) and the per-space evidence signing key Secret. Standard kubeconfig resolution
// (KUBECONFIG, ~/.kube/config, in-cluster); absent when nothing is configured.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { DataSpace, Participant } from "@tds/crds";

export interface Kube {
  /** Every DataSpace in the cluster. */
  readonly listDataSpaces: () => Promise<DataSpace[]>;
  /** Every Participant in the cluster: its name and its space (spec.dataSpace). */
  readonly listParticipants: () => Promise<{ name: string; space: string }[]>;
  /** One key of a Secret, decoded; undefined when the Secret or the key is missing. */
  readonly readSecretKey: (namespace: string, name: string, key: string) => Promise<string | undefined>;
}

/** True when a kubeconfig can be found the standard way. */
export function kubeConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    env.KUBECONFIG ?? env.KUBERNETES_SERVICE_HOST ?? existsSync(join(homedir(), ".kube", "config")),
  );
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/** The kubeconfig the standard way: KUBECONFIG, ~/.kube/config, or in-cluster. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export function loadKube(): Kube {
  const kc = defaultKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    async listDataSpaces() {
      const list = (await custom.listClusterCustomObject({
        group: "tds.dev",
        version: "v1alpha1",
        plural: "dataspaces",
      })) as { items?: DataSpace[] };
      return list.items ?? [];
    },
    async listParticipants() {
      const list = (await custom.listClusterCustomObject({
        group: "tds.dev",
        version: "v1alpha1",
        plural: "participants",
      })) as { items?: Pick<Participant, "metadata" | "spec">[] };
      return (list.items ?? []).flatMap((p) =>
        p.metadata.name && p.spec.dataSpace ? [{ name: p.metadata.name, space: p.spec.dataSpace }] : [],
      );
    },
    async readSecretKey(namespace, name, key) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        const value = secret.data?.[key];
        return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw new Error(`cannot read Secret ${namespace}/${name}`, { cause: err });
      }
    },
  };
}
