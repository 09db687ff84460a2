// @tds/wire: what crosses the operator→API boundary, written once. The API
// validates and documents its internal routes with these schemas; the
// operator sends them with ApiClient. Depends on TypeBox and @tds/crds only.
export * from "./evidence.ts";
export * from "./catalog.ts";
export * from "./usage.ts";
export * from "./agreements.ts";
export * from "./consents.ts";
export * from "./risk.ts";
export * from "./client.ts";
