// The chart's gateway (charts/tds/templates/gateway.yaml, rendered by helm) as
// a pod on the real node, for the demo and the tests: the TDS image and the
// sample analysis image are built with the project's OCI writer and loaded
// into the node's containerd; the gateway reaches PostgreSQL, S3 and the API
// server at the node's bridge address (TDS_POD_*, forward.ts). Pods reach it
// by its Service's DNS name (the cluster DNS is a pod, node.ts
// clusterDnsObjects); this machine, which does not use the cluster DNS, at its
// ClusterIP.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { buildImage, pinnedNode } from "../../infra/image/build.ts";
import { ANALYSIS_REPOSITORY, buildAnalysisImage } from "./analysis/image.ts";
import { templateChart } from "./chart.ts";
import {
  chartFullname,
  onRealNode,
  prerequisiteObjects,
  smallResources,
  type PodEnvironment,
} from "./chart-release.ts";
import { importLayout, type NodeRuntime } from "./images.ts";

/**
 * Builds both images into `dir` and loads them into the node; returns their
 * digest references. `dir` is the caller's own: two callers at once (tests run
 * two files at a time) must not write the same layouts.
 */
export async function loadImages(
  dir: string,
  node?: NodeRuntime,
): Promise<{ tds: string; analysis: string }> {
  mkdirSync(dir, { recursive: true });
  const tds = await buildImage({ out: join(dir, "tds-image"), node: pinnedNode() });
  return {
    tds: importLayout(tds.layout, "tds.local/tds", node),
    analysis: importLayout(buildAnalysisImage(join(dir, "analysis-image")).layout, ANALYSIS_REPOSITORY, node),
  };
}

export interface GatewayPod {
  /** http://<ClusterIP>:80, reachable from pods and from this machine (kube-proxy). */
  readonly url: string;
  /** http://<service>.<namespace>.svc:80, as pods (sandboxes) reach it through the cluster DNS. */
  readonly podUrl: string;
  readonly deployment: string;
  /** The pods' labels, as the operator's TDS_GATEWAY_POD_LABELS selects them. */
  readonly podLabels: Record<string, string>;
}

/**
 * Installs the chart's gateway objects for `release` in `namespace` (created
 * here) with the Secrets they read, and waits for the rollout.
 */
export function installGatewayPod(opts: {
  readonly info: PodEnvironment;
  readonly kubectl: (args: readonly string[], input?: string) => string;
  readonly namespace: string;
  readonly release: string;
  readonly image: string;
  /** The gateway's database, as this machine reaches it (rewritten to the node's address). */
  readonly databaseUrl: string;
  readonly monitorIntervalMs?: number;
}): GatewayPod {
  const { info, kubectl } = opts;
  kubectl(
    ["apply", "--server-side", "--field-manager=tds-harness", "-f", "-"],
    JSON.stringify(prerequisiteObjects({ info, namespace: opts.namespace, databaseUrl: opts.databaseUrl })),
  );
  const [repository, digest] = opts.image.split("@");
  kubectl(
    ["apply", "--server-side", "--force-conflicts", "--field-manager=tds-harness", "-f", "-"],
    templateChart({
      release: opts.release,
      namespace: opts.namespace,
      showOnly: ["templates/gateway.yaml"],
      values: {
        image: { repository, digest, pullPolicy: "Never" },
        objectStore: { endpoint: info.TDS_POD_S3_ENDPOINT, region: info.TDS_S3_REGION },
        gateway: {
          replicas: 1,
          monitorIntervalMs: opts.monitorIntervalMs ?? 2000,
          resources: smallResources,
          ...onRealNode,
        },
      },
    }),
  );
  const deployment = `${chartFullname(opts.release)}-gateway`;
  kubectl(["rollout", "status", "-n", opts.namespace, `deployment/${deployment}`, "--timeout=180s"]);
  const ip = kubectl([
    "get",
    "service",
    "-n",
    opts.namespace,
    deployment,
    "-o",
    "jsonpath={.spec.clusterIP}",
  ]).trim();
  return {
    url: `http://${ip}:80`,
    podUrl: `http://${deployment}.${opts.namespace}.svc:80`,
    deployment,
    podLabels: { "app.kubernetes.io/instance": opts.release, "app.kubernetes.io/component": "gateway" },
  };
}
