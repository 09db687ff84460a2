import { test } from "node:test";
import assert from "node:assert/strict";
import { forwardedHeaderFromEnv, tlsFromEnv } from "./client-certificates.ts";

const cert = "/etc/tds/tls/tls.crt";
const key = "/etc/tds/tls/tls.key";
const files: Record<string, string> = {
  [cert]: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
  [key]: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
};
const readFile = (file: string): string => {
  const text = files[file];
  if (text === undefined) throw new Error(`ENOENT: ${file}`);
  return text;
};

const cases: [string, NodeJS.ProcessEnv, RegExp | "off" | "on"][] = [
  ["neither file: plain HTTP", {}, "off"],
  ["both files", { TDS_TLS_CERT_FILE: cert, TDS_TLS_KEY_FILE: key }, "on"],
  ["a key without a certificate", { TDS_TLS_KEY_FILE: key }, /^Error: TDS_TLS_CERT_FILE must be set/],
  ["a certificate without a key", { TDS_TLS_CERT_FILE: cert }, /^Error: TDS_TLS_KEY_FILE must be set/],
  [
    "an unreadable certificate",
    { TDS_TLS_CERT_FILE: "/etc/tds/tls/missing", TDS_TLS_KEY_FILE: key },
    /^Error: TDS_TLS_CERT_FILE: cannot read/,
  ],
  [
    "a key that is not PEM",
    { TDS_TLS_CERT_FILE: cert, TDS_TLS_KEY_FILE: cert },
    /^Error: TDS_TLS_KEY_FILE: .* is not PEM/,
  ],
  [
    "a certificate that is not PEM",
    { TDS_TLS_CERT_FILE: key, TDS_TLS_KEY_FILE: key },
    /^Error: TDS_TLS_CERT_FILE: .* is not PEM/,
  ],
];

for (const [name, env, expect] of cases) {
  test(`TLS from the environment: ${name}`, () => {
    if (expect instanceof RegExp) {
      assert.throws(() => tlsFromEnv(env, readFile), expect);
      return;
    }
    const tls = tlsFromEnv(env, readFile);
    if (expect === "off") assert.equal(tls, undefined);
    else assert.deepEqual([tls?.requestCert, tls?.rejectUnauthorized], [true, false]);
  });
}

test("the forwarded-certificate header is a header name, lower-cased, or off", () => {
  assert.equal(forwardedHeaderFromEnv({}), undefined);
  assert.equal(forwardedHeaderFromEnv({ TDS_TLS_CLIENT_CERT_HEADER: "SSL-Client-Cert" }), "ssl-client-cert");
  assert.throws(
    () => forwardedHeaderFromEnv({ TDS_TLS_CLIENT_CERT_HEADER: "ssl client cert" }),
    /^Error: TDS_TLS_CLIENT_CERT_HEADER must be a header name/,
  );
});
