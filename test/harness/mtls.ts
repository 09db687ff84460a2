// Shared by the tests of doors that verify client certificates
// (test/integration/mtls.int.test.ts, dsp-spaces.int.test.ts): a server
// certificate for 127.0.0.1 from a CA of the test's own, one HTTPS request on a
// fresh TLS connection with or without a client certificate, and a
// participant's operator-issued certificate read from its Secret.
import { request } from "node:https";
import type { KubeClient } from "@tds/kube";
import { dataOf, kinds } from "@tds/kube";
import {
  createCertificateAuthority,
  issueCertificate,
  type IssuedCertificate,
  type KeyedCertificate,
} from "@tds/operator/pki";
import { eventually } from "./testkit.ts";

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

/** A door CA and fastify's `https` options for a server certificate of 127.0.0.1 it issued. */
export async function loopbackDoorTls(name: string): Promise<{
  ca: IssuedCertificate;
  https: { cert: string; key: string; requestCert: true; rejectUnauthorized: false };
}> {
  const ca = await createCertificateAuthority(`Door CA ${name}`, 2);
  const server = await issueCertificate(ca, {
    subject: "CN=door",
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    validForDays: 1,
  });
  return {
    ca,
    https: { cert: server.certPem, key: server.keyPem, requestCert: true, rejectUnauthorized: false },
  };
}

/** One request to https://127.0.0.1:port on a fresh TLS connection (no session reuse between identities). */
export function httpsCall(
  port: number,
  path: string,
  opts: {
    ca: string;
    cert?: KeyedCertificate | undefined;
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
  },
): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        ca: opts.ca,
        agent: false,
        headers: {
          ...opts.headers,
          ...(payload === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: Record<string, unknown> = {};
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            // Not JSON (data bytes): `text` holds it.
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** The certificate and key the operator issued to participant `name` of `space`, once it has. */
export async function participantCertificate(
  client: KubeClient,
  space: string,
  name: string,
): Promise<KeyedCertificate> {
  const secret = await eventually(`the certificate of ${name}`, () =>
    client.find(kinds.secret, "participant-identity", `${space}--${name}`),
  );
  return { certPem: unb64(dataOf(secret)["tls.crt"]), keyPem: unb64(dataOf(secret)["tls.key"]) };
}
