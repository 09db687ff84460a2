// Signing keys: production reads public keys (a JWKS) from the environment; the demo and
// tests use a generated Ed25519 key kept in a file, and mint tokens with it.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from "jose";
import type { Role } from "./principal.ts";
import { claimName, defaultAudience } from "./tokens.ts";

export interface DevKey {
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export async function generateDevKey(): Promise<DevKey> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "EdDSA", use: "sig" };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" };
  return { privateJwk, publicJwk };
}

/** Loads the dev key from `file`, creating it (mode 0600) when it does not exist. */
export async function loadOrCreateDevKey(file: string): Promise<DevKey> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as DevKey;
  const key = await generateDevKey();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(key), { mode: 0o600, flag: "wx" });
  return key;
}

export function jwksOf(...keys: DevKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface MintOptions {
  readonly role: Role;
  readonly subject: string;
  readonly space?: string;
  readonly participant?: string;
  readonly audience?: string;
  readonly expiresIn?: string | number;
}

export async function mintToken(key: DevKey, opts: MintOptions): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, "EdDSA");
  const claim: Record<string, string> = { role: opts.role };
  if (opts.space) claim.space = opts.space;
  if (opts.participant) claim.participant = opts.participant;
  return new SignJWT({ [claimName]: claim })
    .setProtectedHeader({ alg: "EdDSA", ...(key.privateJwk.kid ? { kid: key.privateJwk.kid } : {}) })
    .setSubject(opts.subject)
    .setAudience(opts.audience ?? defaultAudience)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(privateKey);
}
