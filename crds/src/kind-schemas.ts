// Every kind with its root schema, in the order the generator and the docs use.
import type { TSchema } from "@sinclair/typebox";
import type { ResourceInfo } from "./common.types.ts";
import { DataSpaceSchema, dataSpaceResource } from "./dataspace.types.ts";
import { ParticipantSchema, participantResource } from "./participant.types.ts";
import { DataOfferSchema, dataOfferResource } from "./dataoffer.types.ts";
import { DataContractSchema, dataContractResource } from "./datacontract.types.ts";
import { SandboxJobSchema, sandboxJobResource } from "./sandboxjob.types.ts";

export interface KindDefinition {
  resource: ResourceInfo;
  schema: TSchema;
}

export const KIND_SCHEMAS: readonly KindDefinition[] = [
  { resource: dataSpaceResource, schema: DataSpaceSchema },
  { resource: participantResource, schema: ParticipantSchema },
  { resource: dataOfferResource, schema: DataOfferSchema },
  { resource: dataContractResource, schema: DataContractSchema },
  { resource: sandboxJobResource, schema: SandboxJobSchema },
];
