// TdsPlatform: a Pulumi component that installs TDS on a Kubernetes cluster:
// the CRDs (from crds/generated), the operator's namespace, least-privilege
// RBAC (from charts/tds/templates/rbac.yaml), the operator and dashboard API
// Deployments wired to each other (the operator calls the API with its
// projected ServiceAccount token), the Secret that points them at PostgreSQL
// and S3, and the JWKS the API verifies JWTs with.
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { parse, parseAllDocuments } from "yaml";

const repoRoot = resolve(import.meta.dirname, "../..");

export interface TdsPlatformArgs {
  /** Namespace for the operator and the API; created by the component. */
  readonly namespace?: string;
  /** Container image with the TDS sources (operator and dashboard API). */
  readonly image: string;
  readonly operatorReplicas?: number;
  readonly apiReplicas?: number;
  /** PostgreSQL connection string of the dashboard API. */
  readonly databaseUrl: pulumi.Input<string>;
  readonly objectStore: {
    readonly endpoint: string;
    readonly adminEndpoint: string;
    readonly region: string;
    readonly accessKeyId: pulumi.Input<string>;
    readonly secretAccessKey: pulumi.Input<string>;
  };
  /** The JWKS (JSON) whose keys sign the API's JWTs: the space operators' identity provider. */
  readonly jwks: pulumi.Input<string>;
  /** Where consumers reach the gateway (written into contracts' credentials Secrets). */
  readonly gatewayUrl: string;
}

/** The generated CRDs, as objects. */
export function loadCrds(dir = join(repoRoot, "crds/generated")): Record<string, unknown>[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parse(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>);
}

/** The chart's RBAC manifests (operator and dashboard API) with the release namespace filled in. */
export function loadRbac(namespace: string): Record<string, unknown>[] {
  return ["rbac.yaml", "dashboard-api-rbac.yaml"].flatMap((file) => {
    const text = readFileSync(join(repoRoot, "charts/tds/templates", file), "utf8").replaceAll(
      "{{ .Release.Namespace }}",
      namespace,
    );
    return parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
  });
}

const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

export class TdsPlatform extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly apiService: pulumi.Output<string>;
  /** URNs of every resource the component declared (resolves once all are registered). */
  readonly urns: pulumi.Output<string[]>;

  constructor(name: string, args: TdsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tds:platform:TdsPlatform", name, {}, opts);
    const parent = { parent: this };
    const nsName = args.namespace ?? "tds-system";
    const ns = new k8s.core.v1.Namespace(
      `${name}-ns`,
      {
        metadata: {
          name: nsName,
          labels: { "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/part-of": "tds" },
        },
      },
      parent,
    );
    const crds = loadCrds().map(
      (crd) =>
        new k8s.apiextensions.v1.CustomResourceDefinition(
          `${name}-crd-${(crd.metadata as { name: string }).name}`,
          crd as unknown as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
          parent,
        ),
    );
    const rbac = loadRbac(nsName).map((m) => {
      const kind = m.kind as string;
      const objName = (m.metadata as { name: string }).name;
      const o = { ...parent, dependsOn: [ns] };
      switch (kind) {
        case "ServiceAccount":
          return new k8s.core.v1.ServiceAccount(`${name}-sa-${objName}`, m, o);
        case "ClusterRole":
          return new k8s.rbac.v1.ClusterRole(`${name}-cr-${objName}`, m, o);
        case "ClusterRoleBinding":
          return new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-crb-${objName}`,
            m as unknown as k8s.rbac.v1.ClusterRoleBindingArgs,
            o,
          );
        case "Role":
          return new k8s.rbac.v1.Role(`${name}-role-${objName}`, m, o);
        case "RoleBinding":
          return new k8s.rbac.v1.RoleBinding(
            `${name}-rb-${objName}`,
            m as unknown as k8s.rbac.v1.RoleBindingArgs,
            o,
          );
        default:
          throw new Error(`charts/tds/templates/rbac.yaml: unexpected kind ${kind}`);
      }
    });
    const secret = new k8s.core.v1.Secret(
      `${name}-connections`,
      {
        metadata: { name: "tds-connections", namespace: nsName },
        stringData: {
          databaseUrl: args.databaseUrl,
          accessKeyId: args.objectStore.accessKeyId,
          secretAccessKey: args.objectStore.secretAccessKey,
        },
      },
      { ...parent, dependsOn: [ns] },
    );
    const fromSecret = (key: string) => ({ secretKeyRef: { name: "tds-connections", key } });
    const jwks = new k8s.core.v1.ConfigMap(
      `${name}-jwks`,
      { metadata: { name: "tds-auth-jwks", namespace: nsName }, data: { "jwks.json": args.jwks } },
      { ...parent, dependsOn: [ns] },
    );
    const s3Env = [
      { name: "TDS_S3_ENDPOINT", value: args.objectStore.endpoint },
      { name: "TDS_S3_ADMIN_ENDPOINT", value: args.objectStore.adminEndpoint },
      { name: "TDS_S3_REGION", value: args.objectStore.region },
      { name: "TDS_S3_ACCESS_KEY_ID", valueFrom: fromSecret("accessKeyId") },
      { name: "TDS_S3_SECRET_ACCESS_KEY", valueFrom: fromSecret("secretAccessKey") },
    ];
    const deployment = (
      component: string,
      replicas: number,
      entry: string,
      env: k8s.types.input.core.v1.EnvVar[],
      sa: string,
      mount: { volume: k8s.types.input.core.v1.Volume; path: string },
    ) =>
      new k8s.apps.v1.Deployment(
        `${name}-${component}`,
        {
          metadata: {
            name: `tds-${component}`,
            namespace: nsName,
            labels: { "app.kubernetes.io/name": `tds-${component}` },
          },
          spec: {
            replicas,
            selector: { matchLabels: { "app.kubernetes.io/name": `tds-${component}` } },
            template: {
              metadata: {
                labels: { "app.kubernetes.io/name": `tds-${component}`, "app.kubernetes.io/part-of": "tds" },
              },
              spec: {
                serviceAccountName: sa,
                volumes: [mount.volume],
                securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                  {
                    name: component,
                    image: args.image,
                    args: ["node", "--import", "tsx", entry],
                    env,
                    volumeMounts: [{ name: mount.volume.name, mountPath: mount.path, readOnly: true }],
                    ports: [{ name: "http", containerPort: 8080 }],
                    livenessProbe: { httpGet: { path: "/healthz", port: "http" } },
                    readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
                    securityContext: restrictedContainer,
                  },
                ],
              },
            },
          },
        },
        { ...parent, dependsOn: [...crds, ...rbac, secret, jwks] },
      );
    const operator = deployment(
      "operator",
      args.operatorReplicas ?? 2,
      "operator/src/main.ts",
      [
        { name: "TDS_OPERATOR_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "TDS_OPERATOR_IDENTITY", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "TDS_OPERATOR_HOST", value: "0.0.0.0" },
        { name: "TDS_OPERATOR_PORT", value: "8080" },
        // The operator calls the API with its projected ServiceAccount token (TokenReview on the API's side).
        { name: "TDS_DASHBOARD_URL", value: `http://tds-dashboard-api.${nsName}.svc` },
        { name: "TDS_DASHBOARD_TOKEN_FILE", value: "/var/run/secrets/tds/dashboard-api/token" },
        { name: "TDS_GATEWAY_URL", value: args.gatewayUrl },
        { name: "TDS_DASHBOARD_API_SERVICEACCOUNT", value: `${nsName}:tds-dashboard-api` },
        ...s3Env,
      ],
      "tds-operator",
      {
        volume: {
          name: "dashboard-api-token",
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: "tds-dashboard-api",
                  expirationSeconds: 3600,
                  path: "token",
                },
              },
            ],
          },
        },
        path: "/var/run/secrets/tds/dashboard-api",
      },
    );
    const api = deployment(
      "dashboard-api",
      args.apiReplicas ?? 2,
      "dashboard-api/src/server.ts",
      [
        { name: "HOST", value: "0.0.0.0" },
        { name: "PORT", value: "8080" },
        { name: "DATABASE_URL", valueFrom: fromSecret("databaseUrl") },
        { name: "TDS_AUTH_JWKS_FILE", value: "/etc/tds/jwks/jwks.json" },
        { name: "TDS_AUTH_OPERATOR_SERVICEACCOUNT", value: `${nsName}:tds-operator` },
        ...s3Env,
      ],
      "tds-dashboard-api",
      { volume: { name: "jwks", configMap: { name: "tds-auth-jwks" } }, path: "/etc/tds/jwks" },
    );
    const svc = new k8s.core.v1.Service(
      `${name}-api-svc`,
      {
        metadata: { name: "tds-dashboard-api", namespace: nsName },
        spec: {
          selector: { "app.kubernetes.io/name": "tds-dashboard-api" },
          ports: [{ name: "http", port: 80, targetPort: "http" }],
        },
      },
      { ...parent, dependsOn: [ns] },
    );
    this.urns = pulumi.all([ns, ...crds, ...rbac, secret, jwks, operator, api, svc].map((r) => r.urn));
    this.namespace = ns.metadata.name;
    this.apiService = svc.metadata.name;
    this.registerOutputs({ namespace: this.namespace, apiService: this.apiService });
  }
}
