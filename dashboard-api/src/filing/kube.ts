// What the filing record reads from the cluster: the DataSpace, its
// Participants and the DataOffers in its participants' namespaces. An
// interface, so the route stays testable; `kubeFiling` reads them live with
// @kubernetes/client-node (the chart's API role may get and list all three).
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { DataOffer, DataSpace, Participant } from "@tds/crds";
import { defaultKubeConfig } from "../kube/kube.ts";

type Named<T> = T & { metadata: { name?: string; namespace?: string; uid?: string } };

export interface FilingSources {
  readonly space: Named<DataSpace>;
  readonly participants: Named<Participant>[];
  readonly offers: Named<DataOffer>[];
}

export interface FilingKube {
  /** The space and what belongs to it; undefined when there is no such DataSpace. */
  read(space: string): Promise<FilingSources | undefined>;
}

const statusOf = (err: unknown): number | undefined => {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
};

export function kubeFiling(kc: KubeConfig = defaultKubeConfig()): FilingKube {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const list = async <T>(plural: string): Promise<T[]> => {
    const l = (await custom.listClusterCustomObject({ group: "tds.dev", version: "v1alpha1", plural })) as {
      items?: T[];
    };
    return l.items ?? [];
  };
  return {
    async read(name) {
      let space: Named<DataSpace>;
      try {
        space = (await custom.getClusterCustomObject({
          group: "tds.dev",
          version: "v1alpha1",
          plural: "dataspaces",
          name,
        })) as Named<DataSpace>;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw new Error(`cannot read DataSpace ${name}`, { cause: err });
      }
      try {
        const [participants, offers] = await Promise.all([
          list<Named<Participant>>("participants"),
          list<Named<DataOffer>>("dataoffers"),
        ]);
        return {
          space,
          participants: participants.filter((p) => p.spec.dataSpace === name),
          offers: offers.filter((o) => (o.metadata.namespace ?? "").startsWith(`${name}--`)),
        };
      } catch (err) {
        throw new Error(`cannot list the Participants and DataOffers of space ${name}`, { cause: err });
      }
    },
  };
}
