// The chart (charts/tds) installed with helm on the real node, as a cloud
// provider would (docs/install.md): the objects the provider creates first,
// the values that run the operator, the dashboard API and the gateway as pods
// from the loaded TDS image on the real node, pointed at the harness's
// PostgreSQL, S3 and API server at the node's bridge address (TDS_POD_*), and
// `helm install --wait`. chart-install.int.test.ts and `make demo` install so.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JSONWebKeySet } from "jose";
import { chartDir, helm } from "./chart.ts";
import type { EnvironmentInfo } from "./environment.ts";
import { withHost } from "./forward.ts";
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from "./node.ts";

/** Node selector and toleration of the real node, as the operator's sandbox placement and the chart take them. */
export const onRealNode = {
  nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
  tolerations: [
    {
      key: REAL_NODE_TAINT.key,
      operator: "Equal" as const,
      value: REAL_NODE_TAINT.value,
      effect: "NoSchedule" as const,
    },
  ],
};

/** What the release's pods need of the environment: where they reach S3, and its admin keys. */
export type PodEnvironment = Pick<
  EnvironmentInfo,
  | "TDS_POD_HOST"
  | "TDS_POD_S3_ENDPOINT"
  | "TDS_POD_S3_ADMIN_ENDPOINT"
  | "TDS_S3_REGION"
  | "TDS_S3_ACCESS_KEY_ID"
  | "TDS_S3_SECRET_ACCESS_KEY"
>;

/**
 * What the provider creates in the release namespace before `helm install`
 * (charts/tds/README.md): the namespace, the Secrets `tds-database` and
 * `tds-object-store`, and, when `jwks` is given, the ConfigMap `tds-auth-jwks`.
 * `databaseUrl` is the database as this machine reaches it; the pods get it at
 * the node's address.
 */
export function prerequisiteObjects(opts: {
  readonly info: PodEnvironment;
  readonly namespace: string;
  readonly databaseUrl: string;
  readonly jwks?: JSONWebKeySet;
}): { apiVersion: "v1"; kind: "List"; items: Record<string, unknown>[] } {
  const { info, namespace } = opts;
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "tds-database", namespace },
        stringData: { url: withHost(opts.databaseUrl, info.TDS_POD_HOST) },
      },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "tds-object-store", namespace },
        stringData: {
          accessKeyId: info.TDS_S3_ACCESS_KEY_ID,
          secretAccessKey: info.TDS_S3_SECRET_ACCESS_KEY,
        },
      },
      ...(opts.jwks
        ? [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: "tds-auth-jwks", namespace },
              data: { "jwks.json": JSON.stringify(opts.jwks) },
            },
          ]
        : []),
    ],
  };
}

/** Small requests, so that the three components and a sandbox fit the 2-core local node. */
export const smallResources = {
  requests: { cpu: "50m", memory: "128Mi" },
  limits: { cpu: "1", memory: "512Mi" },
};

/**
 * The chart's values that run every component as one pod from `image`
 * (`repository@sha256:…`, loaded into the node, never pulled) on the real node,
 * with the sandboxes placed there too, and the object store at the node's address.
 */
export function realNodeValues(image: string, info: PodEnvironment): Record<string, unknown> {
  const [repository, digest] = image.split("@");
  const component = { replicas: 1, resources: smallResources, ...onRealNode };
  return {
    image: { repository, digest, pullPolicy: "Never" },
    operator: component,
    dashboardApi: component,
    gateway: component,
    sandbox: onRealNode,
    objectStore: {
      endpoint: info.TDS_POD_S3_ENDPOINT,
      adminEndpoint: info.TDS_POD_S3_ADMIN_ENDPOINT,
      region: info.TDS_S3_REGION,
    },
  };
}

/**
 * `helm install release charts/tds -n namespace -f values[0] -f values[1] … --wait`:
 * helm merges the values files in order (maps key by key, lists replaced).
 */
export function helmInstall(opts: {
  readonly release: string;
  readonly namespace: string;
  readonly kubeconfig: string;
  readonly values: readonly Record<string, unknown>[];
  readonly timeout?: string;
}): void {
  const dir = mkdtempSync(join(tmpdir(), "tds-release-values-"));
  try {
    const files = opts.values.map((v, i) => {
      const file = join(dir, `values-${String(i)}.json`);
      writeFileSync(file, JSON.stringify(v));
      return file;
    });
    helm([
      "install",
      opts.release,
      chartDir,
      "-n",
      opts.namespace,
      ...files.flatMap((f) => ["-f", f]),
      "--wait",
      "--timeout",
      opts.timeout ?? "5m",
      "--kubeconfig",
      opts.kubeconfig,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The chart's fullname: the release, or release-tds when the release name does not contain the chart's. */
export function chartFullname(release: string): string {
  return release.includes("tds") ? release : `${release}-tds`;
}
