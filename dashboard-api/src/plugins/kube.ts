// The Kubernetes dependency: the API's one KubeClient (@tds/kube) under the
// API's field manager, decorated as `app.kube`. Tests and processes without a
// cluster pass `null`, and routes that need it answer 503. kubeError() turns
// an API server's answer into the API's stable errors, for every route.
import fp from "fastify-plugin";
import { defaultKubeConfig, KubeApiError, KubeClient, type KubeConfig } from "@tds/kube";
import { TdsError } from "../errors.ts";

/** The field manager of every write the API makes (the gateway, its own process, only reads: @tds/gateway). */
export const FIELD_MANAGER = "tds-dashboard-api";

/** The API's client on `kc` (by default the kubeconfig found the standard way). */
export function apiKubeClient(kc: KubeConfig = defaultKubeConfig()): KubeClient {
  return new KubeClient(kc, FIELD_MANAGER);
}

/** Rethrows a failed Kubernetes call as the API's error, `what` saying what was attempted. */
export function kubeError(err: unknown, what: string): never {
  if (!(err instanceof KubeApiError))
    throw new TdsError("unavailable", `${what}: the Kubernetes API failed`, { cause: err });
  const detail = `${what}: ${err.message}`;
  switch (err.code) {
    case 400:
    case 422:
      throw new TdsError("validation", detail, { cause: err });
    case 403:
      throw new TdsError("forbidden", detail, { cause: err });
    case 404:
      throw new TdsError("notFound", detail, { cause: err });
    case 409:
      throw new TdsError("conflict", detail, { cause: err });
    default:
      throw new TdsError("unavailable", `${what}: the Kubernetes API failed`, { cause: err });
  }
}

declare module "fastify" {
  interface FastifyInstance {
    kube: KubeClient | null;
    /** The client, or a 503 when the API has no Kubernetes access. */
    kubeClient: () => KubeClient;
  }
}

export interface KubePluginOptions {
  readonly client: KubeClient | null;
}

export const kubePlugin = fp<KubePluginOptions>(
  (app, opts, done) => {
    app.decorate("kube", opts.client);
    app.decorate("kubeClient", (): KubeClient => {
      if (!opts.client) throw new TdsError("unavailable", "The API has no access to the Kubernetes API");
      return opts.client;
    });
    done();
  },
  { name: "tds-kube" },
);
