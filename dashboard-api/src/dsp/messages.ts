// The Dataspace Protocol 2025-1 wire format: the JSON-LD context, the message
// and process objects this connector sends, the error bodies, and reading
// the fields of the messages it receives. Messages are written and read in
// the compact form of the DSP context (`providerPid`, not
// `https://w3id.org/dspace/2025/1/providerPid`); an expanded or otherwise
// compacted message is refused with a 400 that names the missing field.
// Pure.
import type { NegotiationState, TransferState } from "./machine.ts";

export const DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld";
export const DSP_VERSION = "2025-1";
/** The transfer format this connector serves: HTTP pull through the TDS gateway. */
export const PULL_FORMAT = "HttpData-PULL";

export type Json = Record<string, unknown>;

const ctx = { "@context": [DSP_CONTEXT] };

export function negotiationBody(n: {
  providerPid: string;
  consumerPid: string;
  state: NegotiationState;
}): Json {
  return {
    ...ctx,
    "@type": "ContractNegotiation",
    providerPid: n.providerPid,
    consumerPid: n.consumerPid,
    state: n.state,
  };
}

export function transferBody(t: { providerPid: string; consumerPid: string; state: TransferState }): Json {
  return {
    ...ctx,
    "@type": "TransferProcess",
    providerPid: t.providerPid,
    consumerPid: t.consumerPid,
    state: t.state,
  };
}

export type ErrorType = "CatalogError" | "ContractNegotiationError" | "TransferError";

/** A DSP error body; `code` is the TDS error code, `reason` the human explanation. */
export function errorBody(
  type: ErrorType,
  code: string,
  reason: string,
  pids?: { providerPid?: string | undefined; consumerPid?: string | undefined },
): Json {
  return {
    ...ctx,
    "@type": type,
    ...(pids?.providerPid ? { providerPid: pids.providerPid } : {}),
    ...(pids?.consumerPid ? { consumerPid: pids.consumerPid } : {}),
    code,
    reason: [reason],
  };
}

/** A message to send: its wire type and fields (the context is added here). */
export function message(type: string, fields: Json): Json {
  return { ...ctx, "@type": type, ...fields };
}

/** A 400 for a field a received message lacks or has of the wrong type. */
export class DspFieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function requireType(body: Json, ...types: string[]): string {
  const t = body["@type"];
  if (typeof t !== "string" || !types.includes(t))
    throw new DspFieldError("@type", `@type must be ${types.join(" or ")} (compact DSP 2025-1 form)`);
  return t;
}

export function str(body: Json, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v.length === 0 || v.length > 2048)
    throw new DspFieldError(field, `${field} must be a non-empty string`);
  return v;
}

export function optStr(body: Json, field: string): string | undefined {
  return body[field] === undefined ? undefined : str(body, field);
}

export function obj(body: Json, field: string): Json {
  const v = body[field];
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new DspFieldError(field, `${field} must be an object`);
  return v as Json;
}

/** The callback or connector address of a counterparty: an http(s) URL, without a trailing slash. */
export function address(body: Json, field: string): string {
  const v = str(body, field);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new DspFieldError(field, `${field} must be an absolute http(s) URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new DspFieldError(field, `${field} must be an absolute http(s) URL`);
  return v.replace(/\/+$/, "");
}
