// The Kubernetes client and supervised informer that the operator and the
// dashboard API's gateway share: one implementation of list/watch, apply and
// typed API errors for every TDS process that talks to the API server.
export * from "./client.ts";
export * from "./informer.ts";
export * from "./resource-types.ts";
