// TDS's Kubernetes access, shared by the operator, the dashboard API and the
// gateway: the kubeconfig found the standard way, one REST client (server-side
// apply, typed API errors, watch streams), the supervised informer, the table
// of resource types, Lease-based leader election and the keyed work queue the
// controllers run on.
export * from "./client.ts";
export * from "./informer.ts";
export * from "./kubeconfig.ts";
export * from "./leader.ts";
export * from "./resource-types.ts";
export * from "./workqueue.ts";
