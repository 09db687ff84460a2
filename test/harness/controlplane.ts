// The local Kubernetes control plane: embedded etcd, kube-apiserver and
// kube-controller-manager built from the Kubernetes Go modules (see
// test/localcluster/build.sh), with generated PKI and random loopback ports.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  createCertificateAuthority,
  createKeyPairPem,
  issueCertificate,
  type KeyedCertificate,
} from "@tds/operator/pki";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

const repoRoot = resolve(import.meta.dirname, "../..");

/** The admission plugins enabled on top of the defaults, as on a production cluster. */
export const admissionPlugins = [
  "NamespaceLifecycle",
  "LimitRanger",
  "ServiceAccount",
  "PodSecurity",
  "ResourceQuota",
  "DefaultStorageClass",
  "MutatingAdmissionPolicy",
  "MutatingAdmissionWebhook",
  "ValidatingAdmissionPolicy",
  "ValidatingAdmissionWebhook",
  "NodeRestriction",
] as const;

/** The Service ClusterIP range (the API server's --service-cluster-ip-range). */
export const SERVICE_CIDR = "10.0.0.0/24";

export interface ControlPlane {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly binDir: string;
  readonly etcdEndpoint: string;
  /** The cluster CA (also the client CA) and its file, for the node's certificates. */
  readonly ca: KeyedCertificate;
  readonly caFile: string;
  readonly processes: readonly ManagedProcess[];
  readonly stop: () => Promise<void>;
}

/** Builds (or reuses the cache of) the control plane binaries; returns their folder. */
export function ensureBinaries(): string {
  // One build at a time per machine (flock): concurrent suites wait for it instead of
  // compiling the same binaries side by side. The lock is outside build.sh, whose own
  // text is part of the cache folder's hash.
  const cache = process.env.TDS_CACHE_DIR ?? join(homedir(), ".cache/tds");
  mkdirSync(cache, { recursive: true });
  const out = execFileSync(
    "flock",
    [join(cache, "build.lock"), join(repoRoot, "test/localcluster/build.sh")],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const dir = out.trim().split("\n").pop();
  if (!dir) throw new Error("test/localcluster/build.sh printed no binary folder");
  return dir;
}

export function kubeconfig(server: string, ca: string, client: KeyedCertificate, user: string): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: tds-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(ca)}`,
    "users:",
    `- name: ${user}`,
    "  user:",
    `    client-certificate-data: ${b64(client.certPem)}`,
    `    client-key-data: ${b64(client.keyPem)}`,
    "contexts:",
    "- name: tds-local",
    "  context:",
    "    cluster: tds-local",
    `    user: ${user}`,
    "current-context: tds-local",
    "",
  ].join("\n");
}

function probeHttps(url: string, ca: string, client: KeyedCertificate): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request(url, { ca, cert: client.certPem, key: client.keyPem, timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode === 200);
    });
    req.on("error", () => {
      resolvePromise(false);
    });
    req.on("timeout", () => {
      req.destroy();
      resolvePromise(false);
    });
    req.end();
  });
}

function probeHttp(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.ok,
    () => false,
  );
}

export interface ControlPlaneOptions {
  /** Folder for certificates, data and logs; created if missing. */
  readonly dir: string;
  readonly binDir?: string;
  /**
   * The address pods reach the API server at (the real node's bridge address,
   * forwarded to loopback by the harness, forward.ts): advertised as the
   * `kubernetes` Service's endpoint and in the serving certificate.
   */
  readonly podAddress?: string;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const binDir = opts.binDir ?? ensureBinaries();
  const dir = resolve(opts.dir);
  const pki = join(dir, "pki");
  const logs = join(dir, "logs");
  mkdirSync(pki, { recursive: true });
  mkdirSync(logs, { recursive: true });

  const ca = await createCertificateAuthority("tds-local-ca", 30);
  const serving = await issueCertificate(ca, {
    subject: "CN=kube-apiserver",
    usage: "server",
    dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
    ipAddresses: ["127.0.0.1", "10.0.0.1", ...(opts.podAddress ? [opts.podAddress] : [])],
    validForDays: 30,
  });
  const admin = await issueCertificate(ca, {
    // tds:reviewers: the local admin may decide reviews and contracts (see charts/tds/templates/*-policy.yaml).
    subject: "CN=tds-admin,O=system:masters,O=tds:reviewers",
    usage: "client",
    validForDays: 30,
  });
  const kcm = await issueCertificate(ca, {
    subject: "CN=system:kube-controller-manager",
    usage: "client",
    validForDays: 30,
  });
  // The API server's client certificate towards kubelets (logs, exec, port-forward).
  const kubeletClient = await issueCertificate(ca, {
    subject: "CN=kube-apiserver-kubelet-client,O=system:masters",
    usage: "client",
    validForDays: 30,
  });
  const sa = await createKeyPairPem();
  const files = {
    ca: join(pki, "ca.crt"),
    caKey: join(pki, "ca.key"),
    servingCert: join(pki, "apiserver.crt"),
    servingKey: join(pki, "apiserver.key"),
    saPub: join(pki, "sa.pub"),
    saKey: join(pki, "sa.key"),
    kubeletClientCert: join(pki, "apiserver-kubelet-client.crt"),
    kubeletClientKey: join(pki, "apiserver-kubelet-client.key"),
  };
  writeFileSync(files.kubeletClientCert, kubeletClient.certPem);
  writeFileSync(files.kubeletClientKey, kubeletClient.keyPem, { mode: 0o600 });
  writeFileSync(files.ca, ca.certPem);
  writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
  writeFileSync(files.servingCert, serving.certPem);
  writeFileSync(files.servingKey, serving.keyPem, { mode: 0o600 });
  writeFileSync(files.saPub, sa.publicKeyPem);
  writeFileSync(files.saKey, sa.privateKeyPem, { mode: 0o600 });

  const processes: ManagedProcess[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
  };

  try {
    const etcdClientPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
    const etcd = startProcess({
      name: "etcd",
      command: join(binDir, "etcd"),
      args: [
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-url=${etcdEndpoint}`,
        `--listen-peer-url=http://127.0.0.1:${etcdPeerPort}`,
      ],
      logFile: join(logs, "etcd.log"),
    });
    processes.push(etcd);
    await waitUntil("etcd health", etcd, () => probeHttp(`${etcdEndpoint}/health`), 60_000);

    const apiPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess({
      name: "kube-apiserver",
      command: join(binDir, "kube-apiserver"),
      args: [
        `--etcd-servers=${etcdEndpoint}`,
        "--bind-address=127.0.0.1",
        `--advertise-address=${opts.podAddress ?? "127.0.0.1"}`,
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${files.servingCert}`,
        `--tls-private-key-file=${files.servingKey}`,
        `--client-ca-file=${files.ca}`,
        `--service-account-key-file=${files.saPub}`,
        `--service-account-signing-key-file=${files.saKey}`,
        "--service-account-issuer=https://kubernetes.default.svc",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--kubelet-client-certificate=${files.kubeletClientCert}`,
        `--kubelet-client-key=${files.kubeletClientKey}`,
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--authorization-mode=RBAC",
        `--enable-admission-plugins=${admissionPlugins.join(",")}`,
        "--allow-privileged=true",
        "--profiling=false",
        "--event-ttl=1h",
        "--v=1",
      ],
      logFile: join(logs, "kube-apiserver.log"),
    });
    processes.push(apiserver);
    await waitUntil(
      "kube-apiserver /readyz",
      apiserver,
      () => probeHttps(`${server}/readyz`, ca.certPem, admin),
      120_000,
    );

    const kubeconfigPath = join(dir, "kubeconfig");
    writeFileSync(kubeconfigPath, kubeconfig(server, ca.certPem, admin, "tds-admin"), { mode: 0o600 });
    const kcmKubeconfig = join(pki, "kube-controller-manager.kubeconfig");
    writeFileSync(kcmKubeconfig, kubeconfig(server, ca.certPem, kcm, "kube-controller-manager"), {
      mode: 0o600,
    });

    const kcmPort = await freePort();
    const controllerManager = startProcess({
      name: "kube-controller-manager",
      command: join(binDir, "kube-controller-manager"),
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${kcmPort}`,
        "--leader-elect=false",
        `--service-account-private-key-file=${files.saKey}`,
        `--root-ca-file=${files.ca}`,
        "--use-service-account-credentials=true",
        "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-persistentvolume-binder,-attachdetach,-persistentvolume-expander",
        "--concurrent-resource-quota-syncs=5",
        "--resource-quota-sync-period=30s",
        "--v=1",
      ],
      logFile: join(logs, "kube-controller-manager.log"),
    });
    processes.push(controllerManager);
    await waitUntil(
      "kube-controller-manager /healthz",
      controllerManager,
      () => probeHttpsInsecure(`https://127.0.0.1:${kcmPort}/healthz`),
      60_000,
    );

    processes.push(...(await startNodeSimulation({ binDir, pki, logs, kubeconfigPath, server, ca })));

    return { server, kubeconfigPath, binDir, etcdEndpoint, ca, caFile: files.ca, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** kube-controller-manager serves /healthz with a self-signed certificate. */
function probeHttpsInsecure(url: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode === 200);
    });
    req.on("error", () => {
      resolvePromise(false);
    });
    req.end();
  });
}

/** The fake node KWOK manages; the scheduler binds sandbox pods to it. */
export const FAKE_NODE = "kwok-node-0";
/** The RuntimeClass the sample space names: gVisor's runsc on the real node (node.ts); KWOK's fake node runs nothing. */
export const LOCAL_RUNTIME_CLASS = { name: "gvisor", handler: "runsc" } as const;

function kwokBinary(binDir: string): string {
  const m = /kwok_version="([^"]+)"/.exec(readFileSync(join(repoRoot, "test/localcluster/build.sh"), "utf8"));
  if (!m?.[1]) throw new Error("cannot read kwok_version from test/localcluster/build.sh");
  return join(binDir, "..", `kwok-${m[1]}`, "kwok");
}

/**
 * kube-scheduler and KWOK: pods are scheduled onto one fake node, and KWOK's
 * stages (test/localcluster/kwok-stages.yaml) move them to Running and, for
 * Job pods, to Succeeded after a short delay. Also creates the fake Node and
 * the RuntimeClass `gvisor` (handler `runsc`).
 */
async function startNodeSimulation(o: {
  binDir: string;
  pki: string;
  logs: string;
  kubeconfigPath: string;
  server: string;
  ca: KeyedCertificate;
}): Promise<ManagedProcess[]> {
  const started: ManagedProcess[] = [];
  try {
    const schedulerCert = await issueCertificate(o.ca, {
      subject: "CN=system:kube-scheduler",
      usage: "client",
      validForDays: 30,
    });
    const schedulerKubeconfig = join(o.pki, "kube-scheduler.kubeconfig");
    writeFileSync(schedulerKubeconfig, kubeconfig(o.server, o.ca.certPem, schedulerCert, "kube-scheduler"), {
      mode: 0o600,
    });
    const schedulerPort = await freePort();
    const scheduler = startProcess({
      name: "kube-scheduler",
      command: join(o.binDir, "kube-scheduler"),
      args: [
        `--kubeconfig=${schedulerKubeconfig}`,
        `--authentication-kubeconfig=${schedulerKubeconfig}`,
        `--authorization-kubeconfig=${schedulerKubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${schedulerPort}`,
        "--leader-elect=false",
        "--v=1",
      ],
      logFile: join(o.logs, "kube-scheduler.log"),
    });
    started.push(scheduler);
    await waitUntil(
      "kube-scheduler /healthz",
      scheduler,
      () => probeHttpsInsecure(`https://127.0.0.1:${schedulerPort}/healthz`),
      60_000,
    );

    const kwokPort = await freePort();
    const kwok = startProcess({
      name: "kwok",
      command: kwokBinary(o.binDir),
      args: [
        `--kubeconfig=${o.kubeconfigPath}`,
        `--config=${join(repoRoot, "test/localcluster/kwok-stages.yaml")}`,
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        `--server-address=127.0.0.1:${kwokPort}`,
        "--node-lease-duration-seconds=0",
      ],
      logFile: join(o.logs, "kwok.log"),
    });
    started.push(kwok);
    await waitUntil("kwok /healthz", kwok, () => probeHttp(`http://127.0.0.1:${kwokPort}/healthz`), 60_000);

    const objects = {
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name: FAKE_NODE,
            annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            labels: { "kubernetes.io/hostname": FAKE_NODE, "kubernetes.io/os": "linux", type: "kwok" },
          },
          status: {
            allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
            capacity: { cpu: "32", memory: "256Gi", pods: "110" },
          },
        },
        {
          apiVersion: "node.k8s.io/v1",
          kind: "RuntimeClass",
          metadata: { name: LOCAL_RUNTIME_CLASS.name },
          handler: LOCAL_RUNTIME_CLASS.handler,
        },
      ],
    };
    execFileSync(join(o.binDir, "kubectl"), [`--kubeconfig=${o.kubeconfigPath}`, "apply", "-f", "-"], {
      input: JSON.stringify(objects),
      stdio: ["pipe", "ignore", "inherit"],
    });
    // The API server taints a new Node not-ready; the node lifecycle controller that would lift
    // the taint is off here (no kubelets), so the harness lifts it once KWOK reports Ready.
    const kubectl = (...args: string[]) =>
      execFileSync(join(o.binDir, "kubectl"), [`--kubeconfig=${o.kubeconfigPath}`, ...args], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    kubectl("wait", "--for=condition=Ready", `node/${FAKE_NODE}`, "--timeout=60s");
    try {
      kubectl("taint", "nodes", FAKE_NODE, "node.kubernetes.io/not-ready:NoSchedule-");
    } catch (err) {
      // already lifted (the taint is added asynchronously and may not have been there)
      if (!/not found/.test(String((err as { stderr?: unknown }).stderr ?? err))) throw err;
    }
    return started;
  } catch (err) {
    for (const p of started.reverse()) await p.stop();
    throw err;
  }
}
