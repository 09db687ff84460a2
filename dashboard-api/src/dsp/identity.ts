// Who is calling a space's DSP endpoint. Every request carries a credential
// that maps to exactly one counterparty:
//   - a declared external counterparty of the space, by the SHA-256 of the
//     exact Authorization value it sends, or by a client certificate of a
//     participant of another space that this space trusts (trustedSpaces; the
//     door verified it, plugins/client-certificates.ts), or
//   - a participant of the space, by a token the dashboard API already
//     accepts for it (a TDS JWT, a Kubernetes identity or its OIDC token of
//     role participant), or by its own client certificate.
// The configuration is the DataSpace's spec.dsp (cluster.ts) or, for a space
// without a DataSpace (the TCK target), TDS_DSP_SPACES (below).
// Anything else is 401; a TDS identity of another space is 404 (the space does
// not exist for it); one of this space that is not a participant is 403.
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { DNS1123_LABEL } from "@tds/crds";
import type { Acceptance } from "../auth/certificates.ts";
import type { TokenVerifier } from "../auth/tokens.ts";

export interface DspCounterparty {
  /** The counterparty's DSP participant id (assigner/assignee in its agreements). */
  readonly id: string;
  /** Lowercase hex SHA-256 of the exact Authorization header value it sends. */
  readonly authorizationSha256?: string;
  /** Or: it is a participant of another space (of that one participant, when set), by its client certificate. */
  readonly certificate?: { readonly space: string; readonly participant?: string };
  /** The Authorization value this connector sends to it, if it asks for one. */
  readonly outgoingAuthorization?: string;
  /** The client certificate and key this connector presents when calling it (mTLS). */
  readonly clientCertificate?: { readonly certPem: string; readonly keyPem: string };
  /** PEM CAs its HTTPS server certificate is verified against, besides the system's. */
  readonly serverCa?: string;
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

/** The configuration as it is now: fixed, or a live view (the cluster's DataSpaces, cluster.ts). */
export type DspConfigSource = DspConfig | (() => DspConfig);

export const currentDspConfig = (source: DspConfigSource): DspConfig =>
  typeof source === "function" ? source() : source;

export type Caller =
  | { readonly kind: "external"; readonly id: string }
  | { readonly kind: "participant"; readonly id: string; readonly participant: string };

export class DspConfigError extends Error {}

const HEX64 = /^[0-9a-f]{64}$/;
const NAME = new RegExp(DNS1123_LABEL);

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

/** The counterparty a client certificate (accepted at this space's door) is, or a DspAuthError. */
function certificateCaller(config: DspSpaceConfig, space: string, certificate: Acceptance): Caller {
  const { space: from, name } = certificate.participant;
  if (from === space) return { kind: "participant", id: name, participant: name };
  const c = config.counterparties.find(
    (x) => x.certificate?.space === from && (x.certificate.participant ?? name) === name,
  );
  if (!c)
    throw new DspAuthError(
      403,
      `Participant ${name} of space ${from} (anchor ${certificate.anchor.kind}/${certificate.anchor.name}) is not a declared DSP counterparty of space ${space}`,
    );
  return { kind: "external", id: c.id };
}

/**
 * The one counterparty a request's credential names in this space, or a
 * DspAuthError: its Authorization value when it sends one, else the client
 * certificate the door accepted.
 */
export async function identify(
  config: DspSpaceConfig | undefined,
  space: string,
  authorization: string | undefined,
  verify: TokenVerifier,
  certificate: Acceptance | null = null,
): Promise<Caller> {
  if (!config) throw new DspAuthError(404, `Space ${space} has no DSP endpoint`);
  if ((authorization === undefined || authorization === "") && certificate)
    return certificateCaller(config, space, certificate);
  if (authorization === undefined || authorization === "")
    throw new DspAuthError(401, "Authorization or a client certificate is required");
  const digest = Buffer.from(sha256Hex(authorization), "hex");
  for (const c of config.counterparties) {
    if (c.authorizationSha256 && timingSafeEqual(digest, Buffer.from(c.authorizationSha256, "hex")))
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
