// Who is calling a space's DSP endpoint. Every request carries
// `Authorization`; it maps to exactly one counterparty:
//   - a declared external counterparty of the space (configuration below:
//     its DSP participant id and the SHA-256 of the bearer value it sends), or
//   - a participant of the space, by a token the dashboard API already
//     accepts for it (a TDS JWT or a Kubernetes identity of role participant).
// Anything else is 401; a TDS identity of another space is 404 (the space does
// not exist for it); one of this space that is not a participant is 403.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TokenVerifier } from "../auth/tokens.ts";

export interface DspCounterparty {
  /** The counterparty's DSP participant id (assigner/assignee in its agreements). */
  readonly id: string;
  /** Lowercase hex SHA-256 of the exact Authorization header value it sends. */
  readonly authorizationSha256: string;
  /** The Authorization value this connector sends to it, if it asks for one. */
  readonly outgoingAuthorization?: string;
  /** The Participant of this space that stands for it: its contracts are made in that participant's namespace. */
  readonly participant?: string;
}

export interface DspSpaceConfig {
  /** This space's participant id as DSP counterparties see it. */
  readonly participantId: string;
  readonly counterparties: readonly DspCounterparty[];
  /** The participant this space's connector acts for when it is the consumer. */
  readonly consumer?: string;
}

export type DspConfig = Readonly<Record<string, DspSpaceConfig>>;

export type Caller =
  | { readonly kind: "external"; readonly id: string }
  | { readonly kind: "participant"; readonly id: string; readonly participant: string };

export class DspConfigError extends Error {}

const HEX64 = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parses TDS_DSP_SPACES (JSON), naming the first bad field. */
export function parseDspConfig(text: string): DspConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DspConfigError(`TDS_DSP_SPACES is not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new DspConfigError("TDS_DSP_SPACES must be an object keyed by space name");
  const out: Record<string, DspSpaceConfig> = {};
  for (const [space, v] of Object.entries(raw as Record<string, unknown>)) {
    const at = (f: string) => `TDS_DSP_SPACES.${space}${f}`;
    if (!NAME.test(space)) throw new DspConfigError(`${at("")}: not a space name`);
    const c = v as Partial<DspSpaceConfig> | null;
    if (typeof c !== "object" || c === null) throw new DspConfigError(`${at("")} must be an object`);
    if (typeof c.participantId !== "string" || c.participantId === "")
      throw new DspConfigError(`${at(".participantId")} must be a non-empty string`);
    if (c.consumer !== undefined && (typeof c.consumer !== "string" || !NAME.test(c.consumer)))
      throw new DspConfigError(`${at(".consumer")} must be a participant name`);
    if (!Array.isArray(c.counterparties))
      throw new DspConfigError(`${at(".counterparties")} must be an array`);
    const seen = new Set<string>();
    const counterparties = c.counterparties.map((p: Partial<DspCounterparty>, i) => {
      const f = (x: string) => at(`.counterparties[${i}].${x}`);
      if (typeof p.id !== "string" || p.id === "")
        throw new DspConfigError(`${f("id")} must be a non-empty string`);
      if (typeof p.authorizationSha256 !== "string" || !HEX64.test(p.authorizationSha256))
        throw new DspConfigError(`${f("authorizationSha256")} must be 64 lowercase hex digits`);
      if (seen.has(p.authorizationSha256))
        throw new DspConfigError(`${f("authorizationSha256")} is used by two counterparties`);
      seen.add(p.authorizationSha256);
      if (p.outgoingAuthorization !== undefined && typeof p.outgoingAuthorization !== "string")
        throw new DspConfigError(`${f("outgoingAuthorization")} must be a string`);
      if (p.participant !== undefined && (typeof p.participant !== "string" || !NAME.test(p.participant)))
        throw new DspConfigError(`${f("participant")} must be a participant name`);
      return {
        ...(p.participant === undefined ? {} : { participant: p.participant }),
        id: p.id,
        authorizationSha256: p.authorizationSha256,
        ...(p.outgoingAuthorization === undefined ? {} : { outgoingAuthorization: p.outgoingAuthorization }),
      };
    });
    out[space] = {
      participantId: c.participantId,
      counterparties,
      ...(c.consumer === undefined ? {} : { consumer: c.consumer }),
    };
  }
  return out;
}

export function dspConfigFromEnv(env: NodeJS.ProcessEnv): DspConfig {
  const file = env.TDS_DSP_SPACES_FILE;
  const text = file ? readFileSync(file, "utf8") : env.TDS_DSP_SPACES;
  return text ? parseDspConfig(text) : {};
}

export const sha256Hex = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");

export class DspAuthError extends Error {
  constructor(
    readonly statusCode: 401 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

/** The one counterparty an Authorization value names in this space, or a DspAuthError. */
export async function identify(
  config: DspSpaceConfig | undefined,
  space: string,
  authorization: string | undefined,
  verify: TokenVerifier,
): Promise<Caller> {
  if (!config) throw new DspAuthError(404, `Space ${space} has no DSP endpoint`);
  if (authorization === undefined || authorization === "")
    throw new DspAuthError(401, "Authorization is required");
  const digest = Buffer.from(sha256Hex(authorization), "hex");
  for (const c of config.counterparties) {
    if (timingSafeEqual(digest, Buffer.from(c.authorizationSha256, "hex")))
      return { kind: "external", id: c.id };
  }
  const m = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!m?.[1]) throw new DspAuthError(401, "The caller is not a known counterparty of this space");
  let principal;
  try {
    principal = await verify(m[1]);
  } catch {
    throw new DspAuthError(401, "The caller is not a known counterparty of this space");
  }
  if (principal.role !== "platform-admin" && principal.space !== space)
    throw new DspAuthError(404, `Space ${space} has no DSP endpoint`);
  if (principal.role !== "participant" || !principal.participant)
    throw new DspAuthError(
      403,
      `Role ${principal.role} is not a DSP counterparty; only participants negotiate`,
    );
  return { kind: "participant", id: principal.participant, participant: principal.participant };
}
