// Client certificates at a door (the API, the gateway): TLS is Node's own,
// through fastify's `https` option with requestCert and without
// rejectUnauthorized, so a refused certificate is an HTTP answer the caller
// can read (a problem document naming the reason), not a TLS alert. Every
// request that comes with a certificate, on the TLS connection or, behind a
// TLS-terminating proxy, in the header the proxy sets, is verified
// (auth/certificate-trust.ts) at the door of the route's :space, or of the
// space that issued it when the route names none. An accepted one is
// `request.certificate` and, with no bearer token, the request's principal
// (plugins/auth.ts): role participant, in the participant's own space. A
// request without a certificate goes on as before (bearer tokens).
//
//   TDS_TLS_CERT_FILE, TDS_TLS_KEY_FILE   the server's certificate chain and key (PEM); both or neither
//   TDS_TLS_CLIENT_CERT_HEADER            a header a TLS-terminating proxy forwards the client
//                                         certificate in, URL-encoded PEM (ingress-nginx:
//                                         ssl-client-cert); off when unset. Only behind a proxy
//                                         that sets it on every request.
import { readFileSync } from "node:fs";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import { DNS1123_LABEL } from "@tds/crds";
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Principal } from "../auth/principal.ts";
import {
  MAX_CERTIFICATE_BYTES,
  MAX_CHAIN_CERTIFICATES,
  pemCertificates,
  refusalStatus,
  type Acceptance,
  type CertificateVerdict,
} from "../auth/certificates.ts";
import { problemResponse, TdsError } from "../errors.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified client certificate, when the request came with one. */
    certificate: Acceptance | null;
  }
}

export interface CertificateChecker {
  verify(chain: readonly Buffer[], door: string | undefined): Promise<CertificateVerdict>;
  /** Started when the app is built (not awaited: the first verification waits), stopped with it. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export interface ClientCertificateOptions {
  readonly verifier: CertificateChecker;
  /** Header (lower case) a TLS-terminating proxy forwards the client certificate in; off when unset. */
  readonly forwardedHeader?: string;
}

/** The server's TLS options, for fastify's `https`: a client certificate is asked for, never required. */
export interface DoorTls {
  readonly cert: string;
  readonly key: string;
  readonly requestCert: true;
  readonly rejectUnauthorized: false;
}

/** TLS for a door from the environment, or undefined when neither file is set. Errors name the variable. */
export function tlsFromEnv(
  env: NodeJS.ProcessEnv,
  readFile: (file: string) => string = (file) => readFileSync(file, "utf8"),
): DoorTls | undefined {
  const certFile = env.TDS_TLS_CERT_FILE;
  const keyFile = env.TDS_TLS_KEY_FILE;
  if (!certFile && !keyFile) return undefined;
  if (!certFile) throw new Error("TDS_TLS_CERT_FILE must be set when TDS_TLS_KEY_FILE is");
  if (!keyFile) throw new Error("TDS_TLS_KEY_FILE must be set when TDS_TLS_CERT_FILE is");
  const read = (name: string, file: string, marker: RegExp): string => {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new Error(`${name}: cannot read ${file}`, { cause: err });
    }
    if (!marker.test(text)) throw new Error(`${name}: ${file} is not PEM (${marker.source} not found)`);
    return text;
  };
  return {
    cert: read("TDS_TLS_CERT_FILE", certFile, /-----BEGIN CERTIFICATE-----/),
    key: read("TDS_TLS_KEY_FILE", keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/** The forwarding header's name from TDS_TLS_CLIENT_CERT_HEADER, checked. */
export function forwardedHeaderFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const h = env.TDS_TLS_CLIENT_CERT_HEADER;
  if (h === undefined || h === "") return undefined;
  if (!/^[A-Za-z0-9-]{1,64}$/.test(h))
    throw new Error(`TDS_TLS_CLIENT_CERT_HEADER must be a header name (letters, digits, -), got ${h}`);
  return h.toLowerCase();
}

/** The principal a verified certificate is: the participant, in its own space. */
export function certificatePrincipal(c: Acceptance): Principal {
  return {
    subject: c.subject,
    role: "participant",
    space: c.participant.space,
    participant: c.participant.name,
  };
}

const chains = new WeakMap<TLSSocket, Buffer[]>();

/** The chain (DER, leaf first) presented on the request's TLS connection, if any; read once per connection. */
function tlsChain(request: FastifyRequest): Buffer[] | undefined {
  const socket = request.raw.socket as TLSSocket | undefined;
  if (!socket || !(socket as { encrypted?: boolean }).encrypted) return undefined;
  const known = chains.get(socket);
  if (known) return known.length > 0 ? known : undefined;
  const chain: Buffer[] = [];
  // An empty object when the client sent none.
  let cert: Partial<DetailedPeerCertificate> = socket.getPeerCertificate(true);
  // Bounded: one more than accepted, so an over-long chain is refused as such.
  while (cert.raw && chain.length <= MAX_CHAIN_CERTIFICATES) {
    const raw = cert.raw;
    if (chain.some((c) => c.equals(raw))) break; // a self-signed root points at itself
    chain.push(raw);
    cert = cert.issuerCertificate ?? {};
  }
  chains.set(socket, chain);
  return chain.length > 0 ? chain : undefined;
}

/** The chain a proxy forwarded in `header`, or a 400 naming the header. */
function forwardedChain(request: FastifyRequest, header: string): Buffer[] | undefined {
  const value = request.headers[header];
  if (value === undefined || value === "") return undefined;
  const field = `header/${header}`;
  if (Array.isArray(value)) throw new TdsError("validation", `${header} must be given once`, { field });
  // URL-encoded PEM is about 1.4 times the DER size in base64 and escapes.
  if (value.length > 2 * MAX_CERTIFICATE_BYTES * MAX_CHAIN_CERTIFICATES)
    throw new TdsError(
      "validation",
      `${header} is ${String(value.length)} characters; the chain is too large`,
      {
        field,
      },
    );
  let pem: string;
  try {
    pem = decodeURIComponent(value);
  } catch {
    throw new TdsError("validation", `${header} is not URL-encoded PEM`, { field });
  }
  const chain = pemCertificates(pem);
  if (chain.length === 0)
    throw new TdsError("validation", `${header} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, {
      field,
    });
  return chain;
}

/** A refusal as the problem the caller reads: 400 bad input, 401 not a valid credential, 403 no access. */
export function refusalError(v: Exclude<CertificateVerdict, Acceptance>): TdsError {
  const status = refusalStatus[v.reason];
  const kind = status === 400 ? "validation" : status === 401 ? "unauthenticated" : "forbidden";
  return new TdsError(kind, `Client certificate refused (${v.reason}): ${v.message}`, {
    ...(status === 400 ? { field: "certificate" } : {}),
  });
}

export const clientCertificatesPlugin = fp<ClientCertificateOptions>(
  (app, opts, done) => {
    app.decorateRequest("certificate", null);
    opts.verifier.start?.().catch((err: unknown) => {
      app.log.error({ err }, "the client-certificate trust view failed to start");
    });
    app.addHook("onClose", async () => {
      await opts.verifier.stop?.();
    });
    app.addHook("onRequest", async (request) => {
      const chain =
        tlsChain(request) ??
        (opts.forwardedHeader ? forwardedChain(request, opts.forwardedHeader) : undefined);
      if (!chain) return;
      const door = (request.params as { space?: unknown } | undefined)?.space;
      let verdict: CertificateVerdict;
      try {
        verdict = await opts.verifier.verify(chain, typeof door === "string" ? door : undefined);
      } catch (err) {
        throw new TdsError(
          "unavailable",
          "Cannot verify client certificates now: the trust bundles are not loaded",
          {
            cause: err,
          },
        );
      }
      if (!verdict.accepted) {
        request.log.info({ reason: verdict.reason, door: verdict.door }, "client certificate refused");
        throw refusalError(verdict);
      }
      request.certificate = verdict;
    });
    done();
  },
  { name: "tds-client-certificates" },
);

const identitySchema = {
  type: "object",
  required: ["subject", "role", "method"],
  properties: {
    subject: { type: "string" },
    role: { type: "string" },
    space: {
      type: "string",
      description: "The space the caller belongs to (for a certificate, its issuer's)",
    },
    participant: { type: "string" },
    method: { type: "string", enum: ["certificate", "token"] },
    anchor: {
      type: "object",
      description: "The trust anchor of the door's space that recognised the certificate",
      properties: { name: { type: "string" }, kind: { type: "string" } },
    },
    serialNumber: { type: "string" },
    notAfter: { type: "string", format: "date-time" },
  },
} as const;

/**
 * GET /v1/spaces/:space/identity: who the door of :space recognises the caller
 * as (its certificate, else its bearer token where the app has one).
 */
export function identityRoute(app: FastifyInstance, opts: { readonly public: boolean }): void {
  app.get(
    "/v1/spaces/:space/identity",
    {
      // The gateway has no token layer: there the route answers only for a certificate.
      config: { public: opts.public },
      schema: {
        operationId: "getCallerIdentity",
        tags: ["identity"],
        summary: "Who this space's door recognises the caller as",
        params: {
          type: "object",
          required: ["space"],
          properties: {
            space: { type: "string", pattern: DNS1123_LABEL, maxLength: 63 },
          },
        },
        response: { 200: identitySchema, "4xx": problemResponse },
      },
    },
    (request) => {
      const c = request.certificate;
      if (c) {
        return Promise.resolve({
          ...certificatePrincipal(c),
          method: "certificate",
          anchor: c.anchor,
          serialNumber: c.serialNumber,
          notAfter: c.notAfter.toISOString(),
        });
      }
      const p = (request as { principal?: Principal | null }).principal;
      if (p) return Promise.resolve({ ...p, method: "token" });
      throw new TdsError("unauthenticated", "Present a client certificate (or, at the API, a bearer token)");
    },
  );
}
