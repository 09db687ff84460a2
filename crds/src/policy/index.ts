// The usage-policy engine and the facts it reads: pure, shared by the
// operator's contract decisions and the gateway's check at every access.
export * from "./engine.ts";
export * from "./facts.ts";
export * from "./consent.ts";
