// How the evidence log is wired into the dashboard API: who may read and append
// (from the caller's principal), the per-space signing key from the Kubernetes
// Secret tds-<space>/evidence-signing-key, and the public-key route members
// verify checkpoints with. The checkpoints' export to S3 is the gateway's
// (@tds/gateway, evidence-export.ts).
import { Type } from "@sinclair/typebox";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { DNS1123_LABEL, participantNamespace } from "@tds/crds";
import type { FastifyPluginCallback, FastifyRequest } from "fastify";
import { authorize, canSeeSpace, hasCapability } from "../auth/principal.ts";
import { principalOf } from "../plugins/auth.ts";
import { problemResponse, TdsError } from "../errors.ts";
import {
  type CheckpointSigner,
  CheckpointError,
  publicKeyFromRaw,
  signerFromPem,
  verifierKey,
} from "./checkpoint.ts";
import type { SignerFor } from "./checkpoint-loop.ts";
import type { EvidenceAccess } from "./routes.ts";

export const SIGNING_KEY_SECRET = "evidence-signing-key";
export const SIGNING_KEY_FIELD = "ed25519.pem";

/** Members with evidence:read read; participants only entries about their namespace and their Participant. */
export function evidenceAccess(request: FastifyRequest, space: string): Promise<EvidenceAccess> {
  const p = principalOf(request);
  if (!canSeeSpace(p, space)) return Promise.resolve(null);
  if (!hasCapability(p.role, "evidence:read"))
    throw new TdsError("forbidden", `Role ${p.role} may not evidence:read in space ${space}`);
  if (p.role === "participant") {
    const name = p.participant ?? "";
    return Promise.resolve({
      canSeeAllEntries: false,
      filter: {
        namespaces: [participantNamespace(space, name)],
        clusterObjects: [{ kind: "Participant", name }],
      },
    });
  }
  return Promise.resolve({ canSeeAllEntries: true });
}

/** The operator's service identity, platform and space admins append and force checkpoints. */
export function evidenceAppend(request: FastifyRequest, space: string): Promise<boolean> {
  try {
    authorize(principalOf(request), space, "evidence:append");
    return Promise.resolve(true);
  } catch {
    return Promise.resolve(false);
  }
}

/**
 * Signers from the Secret tds-<space>/evidence-signing-key (key ed25519.pem,
 * PKCS#8), which the operator creates once per DataSpace. Cached briefly, so a
 * replaced Secret is picked up without a restart.
 */
export function secretSignerFor(opts: {
  readSecretKey: (namespace: string, name: string, key: string) => Promise<string | undefined>;
  origin: (space: string) => string;
  cacheMs?: number;
}): SignerFor {
  const cache = new Map<string, { signer: CheckpointSigner; at: number }>();
  return async (space) => {
    const hit = cache.get(space);
    if (hit && Date.now() - hit.at < (opts.cacheMs ?? 60_000)) return hit.signer;
    const pem = await opts.readSecretKey(`tds-${space}`, SIGNING_KEY_SECRET, SIGNING_KEY_FIELD);
    if (!pem)
      throw new CheckpointError(
        `no signing key for space ${space}: Secret tds-${space}/${SIGNING_KEY_SECRET} (key ${SIGNING_KEY_FIELD}) is missing`,
      );
    const signer = signerFromPem(opts.origin(space), pem);
    cache.set(space, { signer, at: Date.now() });
    return signer;
  };
}

export interface PublicKeyRouteOptions {
  signerFor?: SignerFor;
}

/** GET /v1/spaces/:space/evidence/public-key: the key members verify checkpoints with. */
export const evidencePublicKeyRoute: FastifyPluginCallback<PublicKeyRouteOptions> = (plugin, opts, done) => {
  const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    "/public-key",
    {
      schema: {
        operationId: "getEvidencePublicKey",
        tags: ["evidence"],
        summary: "The space's Ed25519 checkpoint key (SPKI PEM) and its signed-note verifier key",
        params: Type.Object({ space: Type.String({ pattern: DNS1123_LABEL, maxLength: 63 }) }),
        response: {
          200: Type.Object({
            origin: Type.String(),
            publicKeyPem: Type.String(),
            verifierKey: Type.String(),
          }),
          "4xx": problemResponse,
          "5xx": problemResponse,
        },
      },
    },
    async (request) => {
      const { space } = request.params;
      if (!canSeeSpace(principalOf(request), space))
        throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
      if (!opts.signerFor) throw new TdsError("unavailable", "No evidence signing keys are configured");
      let signer: CheckpointSigner;
      try {
        signer = await opts.signerFor(space);
      } catch (err) {
        if (err instanceof CheckpointError)
          throw new TdsError("spaceNotFound", `Space ${space} has no evidence key yet`, { field: "space" });
        throw err;
      }
      return {
        origin: signer.keyName,
        publicKeyPem: publicKeyFromRaw(signer.publicKey).export({ format: "pem", type: "spki" }).toString(),
        verifierKey: verifierKey(signer.keyName, signer.publicKey),
      };
    },
  );
  done();
};
