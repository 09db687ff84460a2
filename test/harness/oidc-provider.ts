// Starts the real OpenID provider (oidc-provider-process.ts, the certified
// `oidc-provider` package) as a child process for a test file, over HTTPS on
// loopback with a certificate from a CA made for this test process, which the
// process then trusts (tls.setDefaultCACertificates: fetch, jose's remote JWKS
// and the in-process operator and API all see it). Keys rotate by restarting
// the provider on the same port with a new signing key.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair } from "jose";
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from "@tds/operator/pki";
import type { OidcProviderConfig } from "./oidc-provider-process.ts";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

const entry = fileURLToPath(new URL("./oidc-provider-process.ts", import.meta.url));

let ca: Promise<IssuedCertificate> | undefined;

/** The test process's CA for loopback HTTPS servers, trusted by this process from the first call on. */
export function loopbackCa(): Promise<IssuedCertificate> {
  ca ??= createCertificateAuthority("tds-test-loopback-ca", 1).then((c) => {
    setDefaultCACertificates([...getCACertificates("default"), c.certPem]);
    return c;
  });
  return ca;
}

export interface OidcClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface TokenRequest {
  /** The audience (resource indicator); the provider's first resource when unset. */
  readonly resource?: string;
  /** A token that lives `shortTtlSeconds` (default 1 s). */
  readonly short?: boolean;
}

export interface OidcProvider {
  readonly issuer: string;
  readonly port: number;
  /** The kids the provider signs with now (the first one signs new tokens). */
  readonly keyIds: () => readonly string[];
  /** A client_credentials access token (a JWT) for the client: its `sub` is the client id. */
  readonly token: (clientId: string, req?: TokenRequest) => Promise<string>;
  /** Restarts the provider with a new signing key; the old ones are kept only with `keepOld`. */
  readonly rotate: (opts?: { keepOld?: boolean }) => Promise<void>;
  /** Starts a stopped provider again, on the same port with the same keys. */
  readonly start: () => Promise<void>;
  readonly stop: () => Promise<void>;
}

async function signingKey(): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomBytes(6).toString("hex"), alg: "RS256", use: "sig" };
}

export async function startOidcProvider(opts: {
  readonly clients: readonly string[];
  readonly resources: readonly string[];
  /** The host in the issuer URL (127.0.0.1 or localhost; the certificate names both). */
  readonly host?: string;
  readonly shortTtlSeconds?: number;
}): Promise<OidcProvider> {
  const authority = await loopbackCa();
  const port = await freePort();
  const issuer = `https://${opts.host ?? "127.0.0.1"}:${String(port)}`;
  const tls = await issueCertificate(authority, {
    subject: "CN=oidc-provider",
    usage: "server",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validForDays: 1,
  });
  const dir = mkdtempSync(join(tmpdir(), "tds-oidc-"));
  const clients = opts.clients.map((clientId) => ({
    clientId,
    clientSecret: randomBytes(16).toString("hex"),
  }));
  let keys = [await signingKey()];
  let proc: ManagedProcess | undefined;
  const file = join(dir, "config.json");

  const start = async () => {
    const config: OidcProviderConfig = {
      issuer,
      port,
      tls: { keyPem: tls.keyPem, certPem: tls.certPem },
      jwks: { keys },
      clients,
      resources: opts.resources,
      ttlSeconds: 600,
      shortTtlSeconds: opts.shortTtlSeconds ?? 1,
    };
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    proc = startProcess({
      name: "oidc-provider",
      command: process.execPath,
      args: ["--import", "tsx", entry],
      logFile: join(dir, "oidc-provider.log"),
      env: { ...process.env, OIDC_PROVIDER_CONFIG: file },
    });
    await waitUntil(
      "the OpenID provider serves its discovery document",
      proc,
      async () => (await fetch(`https://127.0.0.1:${String(port)}/.well-known/openid-configuration`)).ok,
      30_000,
    );
  };
  await start();

  return {
    issuer,
    port,
    keyIds: () => keys.map((k) => String(k.kid)),
    token: async (clientId, req = {}) => {
      const c = clients.find((x) => x.clientId === clientId);
      if (!c) throw new Error(`the provider has no client ${clientId}`);
      const body = new URLSearchParams({
        grant_type: "client_credentials",
        scope: req.short ? "api short" : "api",
        resource: req.resource ?? opts.resources[0] ?? "",
      });
      const res = await fetch(`https://127.0.0.1:${String(port)}/token`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body,
      });
      const json = (await res.json()) as {
        access_token?: string;
        error?: string;
        error_description?: string;
      };
      if (!res.ok || !json.access_token)
        throw new Error(
          `token request failed: ${String(res.status)} ${json.error ?? ""} ${json.error_description ?? ""}`,
        );
      return json.access_token;
    },
    rotate: async ({ keepOld = false } = {}) => {
      await proc?.stop();
      keys = [await signingKey(), ...(keepOld ? keys : [])];
      await start();
    },
    start,
    stop: async () => {
      await proc?.stop();
    },
  };
}
