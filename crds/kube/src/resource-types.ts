// Where each TDS kind lives in the API, as the client and informer address
// it, derived from the kinds' resource definitions (one source for both).
import {
  dataContractResource,
  dataOfferResource,
  dataSpaceResource,
  participantResource,
  sandboxJobResource,
  type ResourceInfo,
} from "@tds/crds";
import type { ResourceType } from "./client.ts";

const resourceType = (r: ResourceInfo): ResourceType => ({
  group: r.group,
  version: r.version,
  plural: r.plural,
  kind: r.kind,
  namespaced: r.scope === "Namespaced",
});

export const tdsKinds = {
  dataSpace: resourceType(dataSpaceResource),
  participant: resourceType(participantResource),
  dataOffer: resourceType(dataOfferResource),
  dataContract: resourceType(dataContractResource),
  sandboxJob: resourceType(sandboxJobResource),
} as const satisfies Record<string, ResourceType>;
