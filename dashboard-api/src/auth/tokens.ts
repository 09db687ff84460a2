// Bearer token verification: JWTs signed with EdDSA or ES256 only, for our audience,
// against configured public keys. Everything else is rejected before any route runs.
import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from "jose";
import { TdsError } from "../errors.ts";
import { clusterWideRoles, roles, type Principal, type Role } from "./principal.ts";

export const allowedAlgorithms = ["EdDSA", "ES256"] as const;
export const defaultAudience = "tds-dashboard-api";
/** The private claim that carries the caller's role and tenancy. */
export const claimName = "tds";

export interface TokenVerifierOptions {
  readonly jwks: JSONWebKeySet;
  readonly audience?: string;
  readonly issuer?: string;
  readonly clockToleranceSeconds?: number;
}

export type TokenVerifier = (token: string) => Promise<Principal>;

interface TdsClaim {
  role?: unknown;
  space?: unknown;
  participant?: unknown;
}

function isRole(v: unknown): v is Role {
  return typeof v === "string" && (roles as readonly string[]).includes(v);
}

export function principalFromClaims(payload: JWTPayload): Principal {
  const claim = payload[claimName] as TdsClaim | undefined;
  const subject = payload.sub;
  if (!subject) throw new TdsError("unauthenticated", "Token has no subject");
  if (!claim || !isRole(claim.role))
    throw new TdsError("unauthenticated", `Token has no valid ${claimName}.role claim`);
  const space = typeof claim.space === "string" && claim.space ? claim.space : undefined;
  const participant =
    typeof claim.participant === "string" && claim.participant ? claim.participant : undefined;
  if (!clusterWideRoles.includes(claim.role) && !space)
    throw new TdsError("unauthenticated", `Role ${claim.role} requires a ${claimName}.space claim`);
  if ((claim.role === "participant" || claim.role === "data-subject") && !participant)
    throw new TdsError(
      "unauthenticated",
      claim.role === "participant"
        ? `Role participant requires a ${claimName}.participant claim`
        : `Role data-subject requires a ${claimName}.participant claim: the participant that holds the subject's data`,
    );
  return {
    subject,
    role: claim.role,
    ...(space ? { space } : {}),
    ...(participant ? { participant } : {}),
  };
}

export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const keys = createLocalJWKSet(opts.jwks);
  const audience = opts.audience ?? defaultAudience;
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        algorithms: [...allowedAlgorithms],
        audience,
        ...(opts.issuer ? { issuer: opts.issuer } : {}),
        clockTolerance: opts.clockToleranceSeconds ?? 30,
        requiredClaims: ["exp", "sub"],
      });
      return principalFromClaims(payload);
    } catch (err) {
      if (err instanceof TdsError) throw err;
      const reason = err instanceof joseErrors.JOSEError ? err.code : "ERR_INVALID_TOKEN";
      throw new TdsError("unauthenticated", `Invalid bearer token (${reason})`, { cause: err });
    }
  };
}

/** Extracts the token from an Authorization header, or throws 401. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new TdsError("unauthenticated", "Missing Authorization: Bearer token");
  const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  if (!m?.[1]) throw new TdsError("unauthenticated", "Authorization header is not a Bearer token");
  return m[1];
}
