// What the filing record reads from the cluster, through the API's KubeClient
// (plugins/kube.ts): the DataSpace, its Participants and the DataOffers in its
// participants' namespaces (the chart's API role may get and list all three).
// An interface, so the route stays testable.
import { splitParticipantNamespace, type DataOffer, type DataSpace, type Participant } from "@tds/crds";
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";

type Named<T> = T & { metadata: { name?: string; namespace?: string; uid?: string } };

export interface FilingSources {
  readonly space: Named<DataSpace>;
  readonly participants: Named<Participant>[];
  readonly offers: Named<DataOffer>[];
}

export interface FilingView {
  /** The space and what belongs to it; undefined when there is no such DataSpace. */
  read(space: string): Promise<FilingSources | undefined>;
}

export function filingView(client: KubeClient): FilingView {
  return {
    async read(name) {
      let space: Named<DataSpace> & KubeObject;
      try {
        space = await client.get<Named<DataSpace> & KubeObject>(kinds.dataSpace, name);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw new Error(`cannot read DataSpace ${name}`, { cause: err });
      }
      try {
        const [participants, offers] = await Promise.all([
          client.list<Named<Participant> & KubeObject>(kinds.participant),
          client.list<Named<DataOffer> & KubeObject>(kinds.dataOffer),
        ]);
        return {
          space,
          participants: participants.items.filter((p) => p.spec.dataSpace === name),
          offers: offers.items.filter((o) => splitParticipantNamespace(o.metadata.namespace)?.space === name),
        };
      } catch (err) {
        throw new Error(`cannot list the Participants and DataOffers of space ${name}`, { cause: err });
      }
    },
  };
}
