// Where each TDS kind lives in the API, as the client and informer address
// it, derived from the kinds' resource definitions (one source for both).
import type { ResourceInfo } from "../common.types.ts";
import { dataContractResource } from "../datacontract.types.ts";
import { dataOfferResource } from "../dataoffer.types.ts";
import { dataSpaceResource } from "../dataspace.types.ts";
import { participantResource } from "../participant.types.ts";
import { sandboxJobResource } from "../sandboxjob.types.ts";
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
