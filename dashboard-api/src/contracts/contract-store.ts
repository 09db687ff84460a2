// The contract routes' and the DSP endpoints' access to DataContracts: create
// one, read one, and merge-patch its annotations, through the API's KubeClient
// (plugins/kube.ts). An interface, so the callers stay testable.
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { kubeError } from "../plugins/kube.ts";

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

export interface ContractStore {
  createContract(obj: KubeObject & { spec: unknown }): Promise<ContractView>;
  getContract(namespace: string, name: string): Promise<ContractView | undefined>;
  annotate(namespace: string, name: string, annotations: Record<string, string>): Promise<ContractView>;
}

type ContractObject = KubeObject & {
  spec?: { offerRef?: { namespace?: string } };
  status?: { state?: string; agreementId?: string; rejection?: { reason?: string; message?: string } };
};

function view(o: ContractObject): ContractView {
  return {
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name ?? "",
    uid: o.metadata.uid ?? "",
    ...(o.status?.state ? { state: o.status.state } : {}),
    ...(o.status?.agreementId ? { agreementId: o.status.agreementId } : {}),
    ...(o.status?.rejection
      ? { rejection: `${o.status.rejection.reason ?? ""}: ${o.status.rejection.message ?? ""}` }
      : {}),
    offerNamespace: o.spec?.offerRef?.namespace ?? "",
    annotations: o.metadata.annotations ?? {},
  };
}

export function contractStore(client: KubeClient): ContractStore {
  return {
    async createContract(obj) {
      try {
        return view((await client.create(kinds.dataContract, obj)) as ContractObject);
      } catch (err) {
        kubeError(err, `cannot create contract ${obj.metadata.namespace ?? ""}/${obj.metadata.name ?? ""}`);
      }
    },
    async getContract(namespace, name) {
      try {
        return view(await client.get<ContractObject>(kinds.dataContract, name, namespace));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        kubeError(err, `cannot read contract ${namespace}/${name}`);
      }
    },
    async annotate(namespace, name, annotations) {
      try {
        return view(
          await client.mergePatch<ContractObject>(kinds.dataContract, name, namespace, {
            metadata: { annotations },
          }),
        );
      } catch (err) {
        kubeError(err, `cannot annotate contract ${namespace}/${name}`);
      }
    },
  };
}
