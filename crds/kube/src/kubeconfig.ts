// The kubeconfig found the standard way, as kubectl and client-go find it:
// KUBECONFIG, then ~/.kube/config, then the in-cluster ServiceAccount.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

export { KubeConfig };

/** True when a kubeconfig can be found the standard way. */
export function kubeConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    env.KUBECONFIG ?? env.KUBERNETES_SERVICE_HOST ?? existsSync(join(homedir(), ".kube", "config")),
  );
}

/** The kubeconfig the standard way: KUBECONFIG, ~/.kube/config, or in-cluster. */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
