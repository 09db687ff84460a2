// The TDS API (group tds.dev, version v1alpha1): schemas, types and resource
// names of every kind. Other packages `import type` from here; the dashboard
// API also uses the schemas for request validation.
export * from "./common.types.ts";
export * from "./dataspace.types.ts";
export * from "./participant.types.ts";
export * from "./dataoffer.types.ts";
export * from "./datacontract.types.ts";
export * from "./sandboxjob.types.ts";
export * from "./kind-schemas.ts";
export * from "./sandbox-manifest.ts";
export * from "./revenue.ts";
export * from "./risk.types.ts";
export * from "./time.ts";
export * from "./names.ts";
export * from "./labels.ts";
