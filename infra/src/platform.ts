// TdsPlatform: a Pulumi component that installs TDS on a Kubernetes cluster
// with the project's own Helm chart (charts/tds), so that a Pulumi install and
// a `helm install` are the same objects: the CRDs, the least-privilege RBAC,
// the three Deployments (operator, dashboard API, gateway), Services, PodDisruptionBudgets and the four admission
// policy objects. The component adds what the chart expects a provider to
// create first: the namespace, the Secrets with the PostgreSQL URL and the
// object store's admin account, and the ConfigMap with the JWKS.
//
// The chart is rendered with k8s.helm.v3.Chart: the Kubernetes provider runs
// `helm template` (it embeds Helm; no helm CLI is needed) and the SDK
// registers every object as its own resource, which the mock test asserts
// object by object. A real `pulumi preview` or `up` needs the Pulumi CLI and
// the kubernetes provider plugin, neither of which can be obtained here.
import { resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

export const chartPath = resolve(import.meta.dirname, "../../charts/tds");

export interface TdsPlatformArgs {
  /** Namespace for the operator and the API; created by the component. */
  readonly namespace?: string;
  /** The Helm release name (object names are prefixed with it); default "tds". */
  readonly releaseName?: string;
  /** The TDS image (`make image` writes its digest to .tds/image-values.yaml). */
  readonly image: { readonly repository: string; readonly tag?: string; readonly digest?: string };
  readonly operatorReplicas?: number;
  readonly apiReplicas?: number;
  /** PostgreSQL connection string of the dashboard API. */
  readonly databaseUrl: pulumi.Input<string>;
  readonly objectStore: {
    readonly endpoint: string;
    /** versitygw's admin API (docs/install.md, "Object store"). */
    readonly adminEndpoint: string;
    readonly region: string;
    readonly accessKeyId: pulumi.Input<string>;
    readonly secretAccessKey: pulumi.Input<string>;
  };
  /** The JWKS (JSON) whose keys sign the API's JWTs: the space operators' identity provider. */
  readonly jwks: pulumi.Input<string>;
  /** Where consumers reach the gateway (written into contracts' credentials Secrets). */
  readonly gatewayUrl: string;
  /** Any other chart values (charts/tds/README.md), merged over the component's. */
  readonly values?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `over` merged into `base`, objects key by key (as helm merges -f files). */
export function mergeValues(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? mergeValues(b, v) : v;
  }
  return out;
}

/** The chart values of an install (the names of the Secrets and ConfigMap the component makes). */
export function chartValues(args: TdsPlatformArgs): Record<string, unknown> {
  return mergeValues(
    {
      image: {
        repository: args.image.repository,
        ...(args.image.tag ? { tag: args.image.tag } : {}),
        ...(args.image.digest ? { digest: args.image.digest } : {}),
      },
      operator: { replicas: args.operatorReplicas ?? 2 },
      dashboardApi: { replicas: args.apiReplicas ?? 2 },
      gateway: { publicUrl: args.gatewayUrl },
      database: { urlSecret: { name: "tds-database", key: "url" } },
      objectStore: {
        endpoint: args.objectStore.endpoint,
        adminEndpoint: args.objectStore.adminEndpoint,
        region: args.objectStore.region,
        credentialsSecret: {
          name: "tds-object-store",
          accessKeyIdKey: "accessKeyId",
          secretAccessKeyKey: "secretAccessKey",
        },
      },
      auth: { jwksConfigMap: "tds-auth-jwks" },
    },
    args.values ?? {},
  );
}

export class TdsPlatform extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  /** The chart's objects, by "<apiVersion>/<kind>:<namespace>/<name>" (as k8s.helm.v3.Chart keys them). */
  readonly chart: k8s.helm.v3.Chart;
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
    const inNs = { ...parent, dependsOn: [ns] };
    const database = new k8s.core.v1.Secret(
      `${name}-database`,
      { metadata: { name: "tds-database", namespace: nsName }, stringData: { url: args.databaseUrl } },
      inNs,
    );
    const objectStore = new k8s.core.v1.Secret(
      `${name}-object-store`,
      {
        metadata: { name: "tds-object-store", namespace: nsName },
        stringData: {
          accessKeyId: args.objectStore.accessKeyId,
          secretAccessKey: args.objectStore.secretAccessKey,
        },
      },
      inNs,
    );
    const jwks = new k8s.core.v1.ConfigMap(
      `${name}-jwks`,
      { metadata: { name: "tds-auth-jwks", namespace: nsName }, data: { "jwks.json": args.jwks } },
      inNs,
    );
    this.chart = new k8s.helm.v3.Chart(
      args.releaseName ?? "tds",
      { path: chartPath, namespace: nsName, values: chartValues(args) },
      { ...parent, dependsOn: [ns, database, objectStore, jwks] },
    );
    const own = [ns, database, objectStore, jwks].map((r) => r.urn);
    this.urns = pulumi
      .all([pulumi.all(own), this.chart.resources])
      .apply(([mine, objects]) => pulumi.all([...mine, ...Object.values(objects).map((r) => r.urn)]));
    this.namespace = ns.metadata.name;
    this.registerOutputs({ namespace: this.namespace });
  }
}
