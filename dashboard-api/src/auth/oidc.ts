// OpenID Connect identities of participants. A Participant that declares
// spec.identity.oidc {issuer, subject} is verified by the operator against its
// issuer (discoverIssuer in @tds/oidc: discovery, the exact issuer, a usable
// JWKS, by the rule this verifier fetches keys by), and its
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
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { Participant } from "@tds/crds";
import {
  boundedGet,
  DEFAULT_TIMEOUT_MS,
  discoverIssuer,
  IDENTITY_VERIFIED,
  oidcAlgorithms,
  type FetchLimits,
} from "@tds/oidc";
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { TdsError } from "../errors.ts";
import type { Principal } from "./principal.ts";
import type { TokenVerifier } from "./tokens.ts";

/** Tokens longer than this are refused before they are parsed. */
export const MAX_TOKEN_LENGTH = 8192;
/** The audience a participant's token must carry to act in a space. */
export const spaceAudience = (space: string): string => `urn:tds:space:${space}`;

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
