// OpenID Connect issuer discovery: the one rule by which the operator
// verifies a participant's declared issuer (condition IdentityVerified) and
// the API's token verifier fetches its keys. An issuer serves its discovery
// document at <issuer>/.well-known/openid-configuration over https, naming
// exactly itself, and a JWKS with at least one usable signing key of an
// allowed (asymmetric) algorithm. Every fetch is https only, time-bounded and
// size-bounded. Depends on jose only.
import { importJWK, type JSONWebKeySet, type JWK } from "jose";

/** The signature algorithms accepted from an issuer: asymmetric only. */
export const oidcAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

/** Discovery documents and key sets larger than this are refused. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
/** How long one fetch of a discovery document or key set may take. */
export const DEFAULT_TIMEOUT_MS = 5_000;

/** The condition the operator sets when the participant's issuer was verified. */
export const IDENTITY_VERIFIED = "IdentityVerified";

export type IssuerProblem =
  "IssuerUnreachable" | "IssuerMismatch" | "DiscoveryInvalid" | "JwksUnreachable" | "JwksInvalid";

/** Why an issuer could not be verified; `reason` is the status condition's reason. */
export class IssuerError extends Error {
  constructor(
    readonly reason: IssuerProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface FetchLimits {
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
}

class FetchError extends Error {}

/** GETs an https URL with a timeout and a bound on the body; redirects are refused. */
export async function boundedGet(
  url: string,
  limits: FetchLimits = {},
): Promise<{ status: number; body: string }> {
  if (!url.startsWith("https://")) throw new FetchError(`${url} is not an https URL`);
  const maxBytes = limits.maxBytes ?? MAX_DOCUMENT_BYTES;
  let res: Response;
  try {
    res = await fetch(url, {
      redirect: "error",
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(limits.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FetchError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, {
      cause: err,
    });
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new FetchError(`${url} answered ${String(declared)} bytes, more than ${String(maxBytes)}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
  try {
    for (;;) {
      if (!reader) break;
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new FetchError(`${url} answered more than ${String(maxBytes)} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw new FetchError(`cannot read ${url}: ${(err as Error).message}`, { cause: err });
  }
  return { status: res.status, body: Buffer.concat(chunks).toString("utf8") };
}

export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwksUri: string;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The signing keys of a JWKS document that jose can use with an allowed algorithm, or an IssuerError. */
export async function usableSigningKeys(doc: unknown, where: string): Promise<JSONWebKeySet> {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new IssuerError("JwksInvalid", `${where} has no "keys" array`);
  const usable: JWK[] = [];
  for (const k of keys as JWK[]) {
    if (typeof k !== "object" || typeof k.kty !== "string") continue;
    if (k.use !== undefined && k.use !== "sig") continue;
    if ("d" in k)
      throw new IssuerError("JwksInvalid", `${where} publishes a private key (kid ${k.kid ?? "?"})`);
    const alg =
      k.alg ??
      (k.kty === "RSA" ? "RS256" : k.kty === "OKP" ? "EdDSA" : k.crv === "P-384" ? "ES384" : "ES256");
    if (!(oidcAlgorithms as readonly string[]).includes(alg)) continue;
    try {
      await importJWK(k, alg);
      usable.push(k);
    } catch {
      // not a well-formed key of that algorithm
    }
  }
  if (usable.length === 0)
    throw new IssuerError(
      "JwksInvalid",
      `${where} has no usable signing key (${String(keys.length)} keys; algorithms accepted: ${oidcAlgorithms.join(", ")})`,
    );
  return { keys: usable };
}

/**
 * Verifies an issuer as a participant declared it: its discovery document is
 * served at <issuer>/.well-known/openid-configuration over https and names
 * exactly that issuer, and its jwks_uri serves at least one usable signing key.
 */
export async function discoverIssuer(
  issuer: string,
  limits: FetchLimits = {},
): Promise<IssuerMetadata & { readonly jwks: JSONWebKeySet }> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  let got;
  try {
    got = await boundedGet(url, limits);
  } catch (err) {
    throw new IssuerError("IssuerUnreachable", (err as Error).message, { cause: err });
  }
  if (got.status !== 200)
    throw new IssuerError("IssuerUnreachable", `${url} answered HTTP ${String(got.status)}`);
  const doc = parseJson(got.body) as { issuer?: unknown; jwks_uri?: unknown } | null | undefined;
  if (typeof doc !== "object" || doc === null)
    throw new IssuerError("DiscoveryInvalid", `${url} is not a JSON object`);
  if (doc.issuer !== issuer)
    throw new IssuerError(
      "IssuerMismatch",
      `${url} names issuer ${JSON.stringify(doc.issuer)}, not the declared ${JSON.stringify(issuer)}`,
    );
  if (typeof doc.jwks_uri !== "string" || !doc.jwks_uri.startsWith("https://"))
    throw new IssuerError("DiscoveryInvalid", `${url} has no https jwks_uri`);
  let keys;
  try {
    keys = await boundedGet(doc.jwks_uri, limits);
  } catch (err) {
    throw new IssuerError("JwksUnreachable", (err as Error).message, { cause: err });
  }
  if (keys.status !== 200)
    throw new IssuerError("JwksUnreachable", `${doc.jwks_uri} answered HTTP ${String(keys.status)}`);
  const jwks = await usableSigningKeys(parseJson(keys.body), doc.jwks_uri);
  return { issuer, jwksUri: doc.jwks_uri, jwks };
}
