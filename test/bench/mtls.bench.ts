// Client-certificate (mTLS) benchmark: what verifying a certificate adds to a
// request at a door. A fastify HTTPS server with the doors' certificate plugin
// (plugins/client-certificates.ts) and the cluster-fed verifier
// (auth/certificate-trust.ts) over the harness's API server, where this bench
// declares what the operator would have published: a DataSpace, its trust
// bundle and a CRL of TDS_BENCH_MTLS_REVOKED serials, and a Participant.
// Measured in the same run, alternating so both sides see the same machine:
//   - keep-alive: GET /healthz with a participant certificate (its verdict
//     cached) against the same request without one;
//   - new connections: GET /healthz on a fresh TLS connection with a
//     certificate never seen before (a full verification: chain, validity,
//     CRL lookup, participant mapping) against a fresh connection without one.
// TDS_BENCH_MTLS_REQUESTS bounds each series. Writes test/bench/results/mtls.json.
// Run under the harness (make bench).
import { mkdir, writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { KubeClient } from "@tds/kube";
import { CertificateVerifier } from "@tds/dashboard-api/certificate-trust";
import { clientCertificatesPlugin } from "@tds/dashboard-api/client-certificates";
import { problemSchema, registerErrorHandling } from "@tds/dashboard-api/errors";
import {
  createCertificateAuthority,
  createRevocationList,
  issueCertificate,
  type KeyedCertificate,
} from "@tds/operator/pki";
import { spaceManifest, participantManifest } from "../harness/operator-fixtures.ts";
import { installCrds, kubeConfig, kubectl } from "../harness/testkit.ts";

const REQUESTS = Number(process.env.TDS_BENCH_MTLS_REQUESTS ?? 200);
const REVOKED = Number(process.env.TDS_BENCH_MTLS_REVOKED ?? 1000);
const round = (x: number, d = 3): number => Number(x.toFixed(d));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const apply = (obj: unknown): void => {
  kubectl(["apply", "--server-side", "--field-manager=tds-bench", "-f", "-"], JSON.stringify(obj));
};

async function main(): Promise<void> {
  installCrds();
  const run = randomBytes(3).toString("hex");
  const space = `mtlsb-${run}`;
  const name = `${space}-p`;
  const subject = `CN=${name},O=${name} Ltd,C=CN`;
  const ca = await createCertificateAuthority(`TDS space ${space} CA`, 30);
  const crl = await createRevocationList(
    ca,
    Array.from({ length: REVOKED }, () => ({
      serialNumber: randomBytes(16).toString("hex"),
      revokedAt: new Date(),
    })),
  );
  const labels = { "app.kubernetes.io/managed-by": "tds-operator", "tds.dev/space": space };
  apply(spaceManifest(space, `bench-${run}`));
  apply(participantManifest(name, space));
  apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: `tds-${space}` } });
  const anchors = JSON.stringify([{ name: space, kind: "spaceCA", certificates: 1 }]);
  for (const [cm, data] of [
    ["trust-bundle", { "ca.crt": ca.certPem, "anchors.json": anchors }],
    ["space-crl", { "ca.crl": crl, "revoked.json": "[]" }],
  ] as const) {
    apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: cm, namespace: `tds-${space}`, labels },
      data,
    });
  }

  const serverCa = await createCertificateAuthority("bench door CA", 1);
  const server = await issueCertificate(serverCa, {
    subject: "CN=door",
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    validForDays: 1,
  });
  const silent = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const verifier = new CertificateVerifier({ client: new KubeClient(kubeConfig()), log: silent });
  const app = Fastify({
    https: { cert: server.certPem, key: server.keyPem, requestCert: true, rejectUnauthorized: false },
  });
  app.addSchema(problemSchema);
  registerErrorHandling(app);
  await app.register(clientCertificatesPlugin, { verifier });
  app.get("/healthz", () => Promise.resolve({ status: "ok" }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;

  const fresh = (): Promise<KeyedCertificate> =>
    issueCertificate(ca, { subject, usage: "client", validForDays: 1 });
  const get = (agent: Agent | false, cert?: KeyedCertificate): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/healthz",
          ca: serverCa.certPem,
          agent,
          ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) reject(new Error(`GET /healthz answered ${String(res.statusCode)}`));
            else resolve(performance.now() - t0);
          });
        },
      );
      req.on("error", reject);
      req.end();
    });

  try {
    const participantCert = await fresh();
    const plainAgent = new Agent({ keepAlive: true, maxSockets: 1, ca: serverCa.certPem });
    const certAgent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      ca: serverCa.certPem,
      cert: participantCert.certPem,
      key: participantCert.keyPem,
    });
    await get(certAgent, participantCert); // the first verification, and the view's first build
    await get(plainAgent);
    const keepAlive = { plain: [] as number[], certificate: [] as number[] };
    const connections = { plain: [] as number[], certificate: [] as number[] };
    const certs = await Promise.all(Array.from({ length: REQUESTS }, fresh));
    for (let i = 0; i < REQUESTS; i++) {
      // Each pair in both orders, so neither side always follows a closing connection.
      const cert = certs[i];
      const pair: (() => Promise<void>)[] = [
        async () => {
          keepAlive.plain.push(await get(plainAgent));
        },
        async () => {
          keepAlive.certificate.push(await get(certAgent, participantCert));
        },
        async () => {
          connections.plain.push(await get(false));
        },
        async () => {
          if (cert) connections.certificate.push(await get(false, cert));
        },
      ];
      const order = i % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0];
      for (const k of order) await pair[k]?.();
    }
    plainAgent.destroy();
    certAgent.destroy();
    const summary = (xs: number[]) => ({ p50Ms: round(pct(xs, 50)), p99Ms: round(pct(xs, 99)) });
    const result = {
      requests: REQUESTS,
      revokedSerials: REVOKED,
      keepAlive: {
        withoutCertificate: summary(keepAlive.plain),
        cachedVerdict: summary(keepAlive.certificate),
        p50Ratio: round(pct(keepAlive.certificate, 50) / pct(keepAlive.plain, 50)),
      },
      newConnection: {
        withoutCertificate: summary(connections.plain),
        fullVerification: summary(connections.certificate),
        p50Ratio: round(pct(connections.certificate, 50) / pct(connections.plain, 50)),
        addedP50Ms: round(pct(connections.certificate, 50) - pct(connections.plain, 50)),
      },
      verifier: verifier.stats,
    };
    const dir = new URL("./results/", import.meta.url);
    await mkdir(dir, { recursive: true });
    await writeFile(new URL("mtls.json", dir), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await app.close();
    await verifier.stop();
    kubectl(["delete", "--wait=false", "participant", name]);
    kubectl(["delete", "--wait=false", "dataspace", space]);
    kubectl(["delete", "--wait=false", "namespace", `tds-${space}`]);
  }
}

await main();
