// Kubernetes identities as API callers: a bearer token that is not one of our
// JWTs is checked with a TokenReview (authentication.k8s.io/v1) for our
// audience, and the authenticated user is mapped to a role:
//
//   the operator's ServiceAccount (TDS_AUTH_OPERATOR_SERVICEACCOUNT,
//   default tds-system:tds-operator)          → operator
//   group tds:platform-admins                  → platform-admin
//   group tds:space:<space>:admins             → space-admin of <space>
//   group tds:space:<space>:finance            → finance-viewer of <space>
//   group tds:space:<space>:auditors           → auditor of <space>
//   group tds:space:<space>:compliance         → compliance-reviewer of <space>
//   a user or group in one Participant's spec.admins → participant (that
//                                                 participant, in its space)
//
// These are the identities the operator already binds in the spaces' and
// participants' RBAC, so one identity works with kubectl and with the API.
// Reviews are cached by token digest: accepted
// ones until the earlier of the token's expiry and `cacheTtlMs`, refusals for
// `negativeTtlMs`, so a flood of bad tokens is not a flood of TokenReviews.
import { createHash } from "node:crypto";
import type { Participant } from "@tds/crds";
import { isNotFound, kinds, type KubeClient, type KubeObject } from "@tds/kube";
import { TdsError } from "../errors.ts";
import type { Principal } from "./principal.ts";
import type { TokenVerifier } from "./tokens.ts";

export interface KubernetesAuthOptions {
  readonly client: KubeClient;
  /** The audience the token must be issued for (default tds-dashboard-api). */
  readonly audience: string;
  /** `<namespace>:<name>` of the operator's ServiceAccount. */
  readonly operatorServiceAccount: string;
  readonly cacheTtlMs?: number;
  readonly negativeTtlMs?: number;
  /** At most this many cached reviews (oldest dropped first). */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

interface ReviewedUser {
  readonly username: string;
  readonly groups: readonly string[];
}

/** A participant a Kubernetes user administers (spec.admins names the user or one of its groups). */
export interface AdministeredParticipant {
  readonly space: string;
  readonly participant: string;
}

interface TokenReviewResponse {
  status?: {
    authenticated?: boolean;
    user?: { username?: string; groups?: string[] };
    audiences?: string[];
    error?: string;
  };
}

const SPACE_GROUP = /^tds:space:([a-z0-9]([-a-z0-9]*[a-z0-9])?):(admins|finance|auditors|compliance)$/;
/** A space group's role; the first kind a user is in wins, in this order. */
const SPACE_GROUP_ROLES = [
  ["admins", "space-admin"],
  ["compliance", "compliance-reviewer"],
  ["auditors", "auditor"],
  ["finance", "finance-viewer"],
] as const;

/** The role a reviewed Kubernetes user has in the API, or a 403 saying why it has none. */
export function principalOfUser(
  user: ReviewedUser,
  operatorServiceAccount: string,
  administers: readonly AdministeredParticipant[] = [],
): Principal {
  if (isOperator(user, operatorServiceAccount)) return { subject: user.username, role: "operator" };
  if (user.groups.includes("tds:platform-admins")) return { subject: user.username, role: "platform-admin" };
  const spaces = user.groups
    .map((g) => SPACE_GROUP.exec(g))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ space: m[1] ?? "", kind: m[3] }));
  const [kind, role] = SPACE_GROUP_ROLES.find(([k]) => spaces.some((s) => s.kind === k)) ?? ["", undefined];
  const pick = spaces.filter((s) => s.kind === kind);
  if (pick.length > 1) {
    throw new TdsError(
      "forbidden",
      `Kubernetes user ${user.username} is in the groups of several spaces (${pick.map((s) => s.space).join(", ")}); ` +
        "use a token scoped to one space",
    );
  }
  const one = pick[0];
  if (!one || !role) {
    if (administers.length > 1) {
      throw new TdsError(
        "forbidden",
        `Kubernetes user ${user.username} administers several participants (${administers.map((a) => `${a.space}/${a.participant}`).join(", ")}); ` +
          "use a token for one of them",
      );
    }
    const admin = administers[0];
    if (admin) {
      return {
        subject: user.username,
        role: "participant",
        space: admin.space,
        participant: admin.participant,
      };
    }
    throw new TdsError(
      "forbidden",
      `Kubernetes user ${user.username} has no TDS role: it is not the operator, in no tds:platform-admins ` +
        "or tds:space:<space>:{admins,compliance,auditors,finance} group, and in no Participant's spec.admins",
    );
  }
  return {
    subject: user.username,
    role,
    space: one.space,
  };
}

/** The `exp` of a JWT-shaped token, unverified (only to bound the cache), or undefined. */
function expiryOf(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export function createKubernetesVerifier(opts: KubernetesAuthOptions): TokenVerifier {
  const now = opts.now ?? Date.now;
  const ttl = opts.cacheTtlMs ?? 60_000;
  const negativeTtl = opts.negativeTtlMs ?? 10_000;
  const size = opts.cacheSize ?? 10_000;
  const cache = new Map<string, { until: number; principal?: Principal; error?: TdsError }>();

  const remember = (key: string, until: number, entry: { principal?: Principal; error?: TdsError }) => {
    cache.delete(key);
    cache.set(key, { until, ...entry });
    while (cache.size > size) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
  };

  return async (token) => {
    const key = createHash("sha256").update(token).digest("hex");
    const hit = cache.get(key);
    if (hit && hit.until > now()) {
      if (hit.principal) return hit.principal;
      throw hit.error ?? new TdsError("unauthenticated", "Invalid bearer token");
    }
    let review: TokenReviewResponse;
    try {
      review = await opts.client.request<TokenReviewResponse>(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [opts.audience] },
          },
        },
      );
    } catch (err) {
      // Not the caller's fault, and not cached: the next request asks again.
      throw new TdsError("unavailable", "Cannot review the Kubernetes token now", { cause: err });
    }
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) {
      const error = new TdsError(
        "unauthenticated",
        `Invalid bearer token (not a JWT of this API, and Kubernetes did not authenticate it for audience ${opts.audience})`,
      );
      remember(key, now() + negativeTtl, { error });
      throw error;
    }
    const until = Math.min(now() + ttl, expiryOf(token) ?? Infinity);
    const user = { username: status.user.username, groups: status.user.groups ?? [] };
    try {
      // Participants are listed only for a user no group or ServiceAccount rule maps.
      const byGroups = mappedWithoutParticipants(user, opts.operatorServiceAccount);
      const principal = principalOfUser(
        user,
        opts.operatorServiceAccount,
        byGroups ? [] : await administered(opts.client, user),
      );
      remember(key, until, { principal });
      return principal;
    } catch (err) {
      if (err instanceof TdsError) remember(key, Math.min(until, now() + negativeTtl), { error: err });
      throw err;
    }
  };
}

/** True when the operator, platform-admin or space-group rules decide the user's role. */
function mappedWithoutParticipants(user: ReviewedUser, operatorServiceAccount: string): boolean {
  return (
    isOperator(user, operatorServiceAccount) ||
    user.groups.some((g) => g === "tds:platform-admins" || SPACE_GROUP.test(g))
  );
}

/** The user is the operator's ServiceAccount (`namespace:name`). */
function isOperator(user: ReviewedUser, operatorServiceAccount: string): boolean {
  const [ns, name] = operatorServiceAccount.split(":");
  return user.username === `system:serviceaccount:${ns ?? ""}:${name ?? ""}`;
}

/** The participants whose spec.admins names the user or one of its groups (read on a review, not per request). */
async function administered(client: KubeClient, user: ReviewedUser): Promise<AdministeredParticipant[]> {
  let items: (Participant & KubeObject)[];
  try {
    items = (await client.list<Participant & KubeObject>(kinds.participant)).items;
  } catch (err) {
    // No Participant kind on this cluster (CRDs not installed): nobody administers one.
    if (isNotFound(err)) return [];
    throw new TdsError("unavailable", "Cannot read Participants to map the Kubernetes user", { cause: err });
  }
  return items
    .filter((p) =>
      (p.spec.admins ?? []).some((a) =>
        a.kind === "User" ? a.name === user.username : user.groups.includes(a.name),
      ),
    )
    .map((p) => ({ space: p.spec.dataSpace, participant: p.metadata.name ?? "" }));
}

/** JWT failures that mean "not signed by one of our keys", as opposed to "ours, but expired or wrong". */
const notOurs = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JOSE_ALG_NOT_ALLOWED", // Kubernetes signs with RS256 unless configured otherwise
  "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  "ERR_JWS_INVALID",
  "ERR_JWT_INVALID",
]);

/**
 * Our JWTs first; a token that is not one of ours is reviewed by Kubernetes.
 * One of ours that is expired, for another audience or without a role is
 * refused with that reason and never sent to Kubernetes.
 */
export function anyVerifier(jwt: TokenVerifier, kubernetes: TokenVerifier): TokenVerifier {
  return async (token) => {
    try {
      return await jwt(token);
    } catch (err) {
      const code = err instanceof TdsError ? (err.cause as { code?: unknown } | undefined)?.code : undefined;
      if (typeof code === "string" && notOurs.has(code)) return kubernetes(token);
      throw err;
    }
  };
}
