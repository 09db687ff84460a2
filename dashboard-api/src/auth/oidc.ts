// OpenID Connect identities of participants. A Participant that declares
// spec.identity.oidc {issuer, subject} is verified by the operator against its
// issuer (discoverIssuer: discovery, the exact issuer, a usable JWKS), and its
// tokens are then accepted here as that participant:
//
//   - the token's `iss` is exactly a declared issuer (otherwise it is not an
//     OIDC token of a participant, and the next verifier is asked);
//   - signature by a key of that issuer's JWKS (jose's remote key set: keys
//     are fetched again for an unknown kid, at most once per cooldown, so a
//     rotated key is picked up and a removed one stops verifying);
//   - an allow-listed asymmetric algorithm, never `none` or an HMAC;
//   - `exp` (required), `nbf`, and `aud` containing the space's audience
//     `urn:tds:space:<space>` (spaceAudience), so a token issued for one space
//     cannot be replayed at another;
//   - `sub` equal to the declared subject of exactly one participant of that
//     issuer and audience, which must be Active and verified by the operator
//     (condition IdentityVerified=True).
//
// All fetches are https only, time-bounded and size-bounded.
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  importJWK,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from "jose";
import type { Participant } from "@tds/crds";
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { TdsError } from "../errors.ts";
import type { Principal } from "./principal.ts";
import type { TokenVerifier } from "./tokens.ts";

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

/** Tokens longer than this are refused before they are parsed. */
export const MAX_TOKEN_LENGTH = 8192;
/** Discovery documents and key sets larger than this are refused. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 5_000;

/** The audience a participant's token must carry to act in a space. */
export const spaceAudience = (space: string): string => `urn:tds:space:${space}`;

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

/** A participant that declares an OIDC identity, as the verifier needs it. */
export interface OidcParticipant {
  readonly space: string;
  readonly name: string;
  readonly issuer: string;
  readonly subject: string;
  /** Phase Active and IdentityVerified=True. */
  readonly active: boolean;
  /** The phase, to say why an inactive participant is refused. */
  readonly phase: string;
}

type ParticipantObject = Participant & KubeObject;

/** The OIDC participants of the cluster, read with a client (one list per call). */
export function oidcParticipantsFromKube(client: KubeClient): () => Promise<OidcParticipant[]> {
  return async () => {
    let items: ParticipantObject[];
    try {
      items = (await client.list<ParticipantObject>(kinds.participant)).items;
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    return items.flatMap((p) => {
      const oidc = p.spec.identity.oidc;
      if (!oidc) return [];
      const verified = (p.status?.conditions ?? []).some(
        (c) => c.type === IDENTITY_VERIFIED && c.status === "True",
      );
      const phase = p.status?.phase ?? "Pending";
      return [
        {
          space: p.spec.dataSpace,
          name: p.metadata.name ?? "",
          issuer: oidc.issuer,
          subject: oidc.subject,
          active: phase === "Active" && verified,
          phase: verified ? phase : `${phase}, issuer not verified`,
        },
      ];
    });
  };
}

export interface OidcVerifierOptions {
  readonly participants: () => Promise<readonly OidcParticipant[]>;
  /** How long a read of the participants is reused (default 5 s). */
  readonly participantsTtlMs?: number;
  readonly clockToleranceSeconds?: number;
  /** Least time between two fetches of one issuer's JWKS for an unknown kid (default 30 s). */
  readonly jwksCooldownMs?: number;
  /** How long one issuer's discovery (its jwks_uri) is reused (default 10 min). */
  readonly discoveryTtlMs?: number;
  readonly fetch?: FetchLimits;
  readonly now?: () => number;
}

/** Verifies a token as a participant's OIDC token; undefined when its issuer is no participant's. */
export type OidcVerifier = (token: string) => Promise<Principal | undefined>;

const refuse = (message: string, cause?: unknown) =>
  new TdsError("unauthenticated", message, cause === undefined ? undefined : { cause });

export function createOidcVerifier(opts: OidcVerifierOptions): OidcVerifier {
  const now = opts.now ?? Date.now;
  const ttl = opts.participantsTtlMs ?? 5_000;
  const discoveryTtl = opts.discoveryTtlMs ?? 600_000;
  let listed: { at: number; list: Promise<readonly OidcParticipant[]> } | undefined;
  const issuers = new Map<string, { at: number; keys: Promise<JWTVerifyGetKey> }>();

  const participants = () => {
    if (!listed || now() - listed.at >= ttl) {
      const list = opts.participants();
      listed = { at: now(), list };
      list.catch(() => {
        if (listed?.list === list) listed = undefined;
      });
    }
    return listed.list;
  };

  const boundedFetch = async (url: string): Promise<Response> => {
    const got = await boundedGet(url, opts.fetch);
    return new Response(got.body, { status: got.status, headers: { "content-type": "application/json" } });
  };

  const keysOf = (issuer: string): Promise<JWTVerifyGetKey> => {
    const hit = issuers.get(issuer);
    if (hit && now() - hit.at < discoveryTtl) return hit.keys;
    const keys = discoverIssuer(issuer, opts.fetch).then((m) =>
      createRemoteJWKSet(new URL(m.jwksUri), {
        cooldownDuration: opts.jwksCooldownMs ?? 30_000,
        timeoutDuration: opts.fetch?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        [customFetch]: boundedFetch,
      }),
    );
    issuers.set(issuer, { at: now(), keys });
    keys.catch(() => {
      if (issuers.get(issuer)?.keys === keys) issuers.delete(issuer);
    });
    return keys;
  };

  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) return undefined;
    let iss: string | undefined;
    let alg: string | undefined;
    try {
      iss = decodeJwt(token).iss;
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return undefined; // not a JWT: another verifier's token
    }
    if (!iss) return undefined;
    let declared: readonly OidcParticipant[];
    try {
      declared = (await participants()).filter((p) => p.issuer === iss);
    } catch (err) {
      throw new TdsError("unavailable", "Cannot read the participants to check an OIDC token", {
        cause: err,
      });
    }
    if (declared.length === 0) return undefined;
    if (!alg || !(oidcAlgorithms as readonly string[]).includes(alg))
      throw refuse(
        `OIDC token of ${iss}: algorithm ${JSON.stringify(alg ?? null)} is not accepted (${oidcAlgorithms.join(", ")})`,
      );
    let keys: JWTVerifyGetKey;
    try {
      keys = await keysOf(iss);
    } catch (err) {
      throw new TdsError("unavailable", `Cannot fetch the keys of issuer ${iss}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: iss,
        algorithms: [...oidcAlgorithms],
        clockTolerance: opts.clockToleranceSeconds ?? 30,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      if (
        err instanceof joseErrors.JWKSTimeout ||
        (err instanceof joseErrors.JOSEError && err.code === "ERR_JOSE_GENERIC")
      )
        throw new TdsError("unavailable", `Cannot fetch the keys of issuer ${iss}`, { cause: err });
      const code = err instanceof joseErrors.JOSEError ? err.code : "ERR_INVALID_TOKEN";
      const why =
        code === "ERR_JWT_EXPIRED"
          ? "it has expired"
          : code === "ERR_JWKS_NO_MATCHING_KEY"
            ? "it is signed by a key the issuer does not publish"
            : code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
              ? "its signature does not verify"
              : code === "ERR_JWT_CLAIM_VALIDATION_FAILED"
                ? (err as Error).message
                : "it is not a valid signed JWT";
      throw refuse(`Invalid OIDC token of ${iss}: ${why} (${code})`, err);
    }
    const sub = payload.sub ?? "";
    const aud = typeof payload.aud === "string" ? [payload.aud] : (payload.aud ?? []);
    const bySubject = declared.filter((p) => p.subject === sub);
    if (bySubject.length === 0)
      throw refuse(`OIDC token of ${iss}: no participant declares subject ${JSON.stringify(sub)}`);
    const matching = bySubject.filter((p) => aud.includes(spaceAudience(p.space)));
    if (matching.length === 0)
      throw refuse(
        `OIDC token of ${iss} for ${JSON.stringify(sub)}: audience ${JSON.stringify(aud)} does not name the space; ` +
          `expected ${bySubject.map((p) => spaceAudience(p.space)).join(" or ")}`,
      );
    if (matching.length > 1)
      throw refuse(
        `OIDC token of ${iss} for ${JSON.stringify(sub)} names several participants (${matching
          .map((p) => `${p.space}/${p.name}`)
          .join(", ")}); request a token for one space`,
      );
    const one = matching[0];
    if (!one) throw refuse("OIDC token matches no participant");
    if (!one.active)
      throw new TdsError(
        "forbidden",
        `Participant ${one.space}/${one.name} is not active (${one.phase}): its OIDC tokens are not accepted`,
      );
    return { subject: `${iss}#${sub}`, role: "participant", space: one.space, participant: one.name };
  };
}

/** OIDC tokens of participants first; any other token goes to `next`. */
export function withOidc(oidc: OidcVerifier, next: TokenVerifier): TokenVerifier {
  return async (token) => (await oidc(token)) ?? next(token);
}

/**
 * Whether a participant's OIDC token may stand for an agreement's contract
 * token at the gateway: it must verify as the agreement's consumer. Undefined
 * when it does; "notOidc" when it is no participant's OIDC token of that
 * space (answered like any unknown token); otherwise the refusal, with the
 * verifier's reason.
 */
export async function consumerTokenRefusal(
  verify: OidcVerifier | undefined,
  token: string,
  agreement: { readonly space: string; readonly consumer: string },
): Promise<{ status: number; code: string; message: string } | "notOidc" | undefined> {
  if (!verify) return "notOidc";
  let principal: Principal | undefined;
  try {
    principal = await verify(token);
  } catch (err) {
    if (err instanceof TdsError) return { status: err.statusCode, code: err.code, message: err.message };
    throw err;
  }
  if (!principal) return "notOidc";
  if (principal.space !== agreement.space) return "notOidc"; // another space's participant: as unknown
  if (principal.participant !== agreement.consumer)
    return {
      status: 403,
      code: "TDS_ERR_FORBIDDEN",
      message: `Participant ${principal.participant ?? ""} is not the consumer of this agreement`,
    };
  return undefined;
}
