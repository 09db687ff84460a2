// Typed cdk8s constructs for the five TDS kinds, for those who declare spaces
// in code. They come from the same TypeBox schemas as the CRDs (@tds/crds):
// the props' types are the schemas' static types, and each construct checks
// its spec against the schema when it is made, so a mistake fails at synth
// time naming the field, as the API server would at apply time.
import { ApiObject, type ApiObjectMetadata } from "cdk8s";
import type { Construct } from "constructs";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import {
  DataContractSpecSchema,
  DataOfferSpecSchema,
  DataSpaceSpecSchema,
  ParticipantSpecSchema,
  SandboxJobSpecSchema,
  dataContractResource,
  dataOfferResource,
  dataSpaceResource,
  participantResource,
  sandboxJobResource,
  type DataContractSpec,
  type DataOfferSpec,
  type DataSpaceSpec,
  type ParticipantSpec,
  type ResourceInfo,
  type SandboxJobSpec,
} from "@tds/crds";

// The schemas are plain JSON Schema (Kubernetes' structural subset); ajv checks them as the
// API server's OpenAPI validation would. The x-kubernetes-* keywords (CEL rules) are the API
// server's alone and are ignored here.
const ajv = new Ajv({ strict: false, allErrors: false });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const validators = new Map<object, ValidateFunction>();
function validatorOf(schema: object): ValidateFunction {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    validators.set(schema, v);
  }
  return v;
}

export interface TdsObjectProps<Spec> {
  /** Cluster-scoped kinds (DataSpace, Participant) take no namespace; the others need one. */
  readonly metadata: ApiObjectMetadata & { readonly name: string };
  readonly spec: Spec;
}

/** A spec that does not match its kind's schema; `field` names the first wrong field, e.g. "spec.admission.mode". */
export class TdsSpecError extends Error {
  readonly kind: string;
  readonly field: string;
  constructor(kind: string, field: string, detail: string) {
    super(`${kind}: ${field}: ${detail}`);
    this.name = "TdsSpecError";
    this.kind = kind;
    this.field = field;
  }
}

/** The base of the five constructs: one TDS object with a checked spec. */
export abstract class TdsObject<Spec> extends ApiObject {
  readonly spec: Spec;

  protected constructor(
    scope: Construct,
    id: string,
    resource: ResourceInfo,
    schema: object,
    props: TdsObjectProps<Spec>,
  ) {
    const validate = validatorOf(schema);
    if (!validate(props.spec)) {
      const e = validate.errors?.[0];
      const path = (e?.instancePath ?? "").split("/").filter(Boolean);
      const missing = (e?.params as { missingProperty?: string } | undefined)?.missingProperty;
      if (missing) path.push(missing);
      throw new TdsSpecError(resource.kind, ["spec", ...path].join("."), e?.message ?? "invalid");
    }
    const namespaced = resource.scope === "Namespaced";
    if (namespaced && !props.metadata.namespace)
      throw new TdsSpecError(resource.kind, "metadata.namespace", `required: ${resource.kind} is namespaced`);
    if (!namespaced && props.metadata.namespace)
      throw new TdsSpecError(
        resource.kind,
        "metadata.namespace",
        `must be unset: ${resource.kind} is cluster-scoped`,
      );
    super(scope, id, {
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      metadata: props.metadata,
      spec: props.spec,
    });
    this.spec = props.spec;
  }
}

export class DataSpace extends TdsObject<DataSpaceSpec> {
  static readonly GVK = { apiVersion: dataSpaceResource.apiVersion, kind: dataSpaceResource.kind };
  constructor(scope: Construct, id: string, props: TdsObjectProps<DataSpaceSpec>) {
    super(scope, id, dataSpaceResource, DataSpaceSpecSchema, props);
  }
}

export class Participant extends TdsObject<ParticipantSpec> {
  static readonly GVK = { apiVersion: participantResource.apiVersion, kind: participantResource.kind };
  constructor(scope: Construct, id: string, props: TdsObjectProps<ParticipantSpec>) {
    super(scope, id, participantResource, ParticipantSpecSchema, props);
  }
}

export class DataOffer extends TdsObject<DataOfferSpec> {
  static readonly GVK = { apiVersion: dataOfferResource.apiVersion, kind: dataOfferResource.kind };
  constructor(scope: Construct, id: string, props: TdsObjectProps<DataOfferSpec>) {
    super(scope, id, dataOfferResource, DataOfferSpecSchema, props);
  }
}

export class DataContract extends TdsObject<DataContractSpec> {
  static readonly GVK = { apiVersion: dataContractResource.apiVersion, kind: dataContractResource.kind };
  constructor(scope: Construct, id: string, props: TdsObjectProps<DataContractSpec>) {
    super(scope, id, dataContractResource, DataContractSpecSchema, props);
  }
}

export class SandboxJob extends TdsObject<SandboxJobSpec> {
  static readonly GVK = { apiVersion: sandboxJobResource.apiVersion, kind: sandboxJobResource.kind };
  constructor(scope: Construct, id: string, props: TdsObjectProps<SandboxJobSpec>) {
    super(scope, id, sandboxJobResource, SandboxJobSpecSchema, props);
  }
}
