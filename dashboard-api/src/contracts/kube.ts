// The contract routes' access to Kubernetes: create a DataContract, read one,
// and merge-patch its annotations. An interface, so the routes stay testable;
// `kubeContracts` implements it with @kubernetes/client-node.
import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { TdsError } from "../errors.ts";

export interface ContractView {
  namespace: string;
  name: string;
  uid: string;
  state?: string;
  offerNamespace: string;
  annotations: Record<string, string>;
  agreementId?: string;
  /** status.rejection, as "<reason>: <message>". */
  rejection?: string;
}

export interface ContractsKube {
  createContract(obj: KubernetesObject & { spec: unknown }): Promise<ContractView>;
  getContract(namespace: string, name: string): Promise<ContractView | undefined>;
  annotate(namespace: string, name: string, annotations: Record<string, string>): Promise<ContractView>;
}

type ContractObject = KubernetesObject & {
  spec?: { offerRef?: { namespace?: string } };
  status?: { state?: string; agreementId?: string; rejection?: { reason?: string; message?: string } };
};

const codeOf = (err: unknown): number | undefined => {
  const c = (err as { code?: unknown }).code;
  return typeof c === "number" ? c : undefined;
};
const messageOf = (err: unknown): string => {
  const body = (err as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === "string") return m;
    } catch {
      return body.slice(0, 300);
    }
  }
  return err instanceof Error ? err.message : String(err);
};

function view(o: ContractObject): ContractView {
  return {
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    uid: o.metadata?.uid ?? "",
    ...(o.status?.state ? { state: o.status.state } : {}),
    ...(o.status?.agreementId ? { agreementId: o.status.agreementId } : {}),
    ...(o.status?.rejection
      ? { rejection: `${o.status.rejection.reason ?? ""}: ${o.status.rejection.message ?? ""}` }
      : {}),
    offerNamespace: o.spec?.offerRef?.namespace ?? "",
    annotations: o.metadata?.annotations ?? {},
  };
}

/** Translates API server answers into the API's stable errors. */
function translate(err: unknown, what: string): never {
  const code = codeOf(err);
  if (code === 409) throw new TdsError("conflict", `${what}: ${messageOf(err)}`, { cause: err });
  if (code === 422 || code === 400)
    throw new TdsError("validation", `${what}: ${messageOf(err)}`, { cause: err });
  if (code === 404) throw new TdsError("notFound", `${what}: ${messageOf(err)}`, { cause: err });
  if (code === 403) throw new TdsError("forbidden", `${what}: ${messageOf(err)}`, { cause: err });
  throw new TdsError("unavailable", `${what}: the Kubernetes API failed`, { cause: err });
}

export function kubeContracts(kc?: KubeConfig): ContractsKube {
  const config = kc ?? new KubeConfig();
  if (!kc) config.loadFromDefault();
  const api = KubernetesObjectApi.makeApiClient(config);
  const ref = (namespace: string, name: string) => ({
    apiVersion: "tds.dev/v1alpha1",
    kind: "DataContract",
    metadata: { namespace, name },
  });
  return {
    async createContract(obj) {
      try {
        const created: KubernetesObject = await api.create<KubernetesObject>(
          obj,
          undefined,
          undefined,
          "tds-dashboard-api",
        );
        return view(created);
      } catch (err) {
        translate(err, `cannot create contract ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`);
      }
    },
    async getContract(namespace, name) {
      try {
        return view(await api.read<ContractObject>(ref(namespace, name)));
      } catch (err) {
        if (codeOf(err) === 404) return undefined;
        translate(err, `cannot read contract ${namespace}/${name}`);
      }
    },
    async annotate(namespace, name, annotations) {
      try {
        const patched = await api.patch<ContractObject>(
          { ...ref(namespace, name), metadata: { namespace, name, annotations } },
          undefined,
          undefined,
          "tds-dashboard-api",
          undefined,
          PatchStrategy.MergePatch,
        );
        return view(patched);
      } catch (err) {
        translate(err, `cannot annotate contract ${namespace}/${name}`);
      }
    },
  };
}
