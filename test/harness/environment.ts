// The embedded default: the local control plane, PostgreSQL and the S3 store,
// started together for `make demo`, `make cluster-up` and the test suite.
// Each part can be replaced by a real one through the environment:
//   TDS_CLUSTER=external (use $KUBECONFIG), DATABASE_URL, TDS_S3_ENDPOINT (+ keys).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureBinaries, kubeconfig as kubeconfigFor, startControlPlane } from "./controlplane.ts";
import { startPostgres } from "./postgres.ts";
import { startObjectStore } from "./objectstore.ts";
import { stopPid } from "./processes.ts";
import {
  cleanNode,
  clusterDnsObjects,
  ensureNodeBinaries,
  nodeNames,
  realNodeUnavailable,
  startRealNode,
} from "./node.ts";
import { portOf, startForwarders, withHost } from "./forward.ts";

export const repoRoot = resolve(import.meta.dirname, "../..");
/** Where the environment keeps its state; TDS_STATE_DIR lets several environments run side by side. */
export const defaultStateDir = resolve(process.env.TDS_STATE_DIR ?? join(repoRoot, ".tds"));

/** What the environment exposes to tests, the operator and the API, as environment variables. */
export interface EnvironmentInfo {
  readonly KUBECONFIG: string;
  readonly DATABASE_URL: string;
  readonly TDS_S3_ENDPOINT: string;
  readonly TDS_S3_ADMIN_ENDPOINT: string;
  readonly TDS_S3_REGION: string;
  readonly TDS_S3_ACCESS_KEY_ID: string;
  readonly TDS_S3_SECRET_ACCESS_KEY: string;
  readonly TDS_BIN_DIR: string;
  readonly TDS_ETCD_ENDPOINT: string;
  /** The real node's name, or "" when this environment has none (TDS_NODE_ABSENT says why). */
  readonly TDS_REAL_NODE: string;
  readonly TDS_NODE_ABSENT: string;
  /** containerd's socket on the real node, and the images the harness imported (by digest). */
  readonly TDS_CONTAINERD_ADDRESS: string;
  readonly TDS_BUSYBOX_IMAGE: string;
  readonly TDS_NODE_BIN_DIR: string;
  /**
   * Where pods reach the machine's services (the node's bridge address, forwarded
   * to loopback; forward.ts), or "" without a node: the API server (also as the
   * `kubernetes` Service), PostgreSQL, S3 and its admin API at the same ports as on loopback.
   */
  readonly TDS_POD_HOST: string;
  readonly TDS_POD_DATABASE_URL: string;
  readonly TDS_POD_S3_ENDPOINT: string;
  readonly TDS_POD_S3_ADMIN_ENDPOINT: string;
}

export interface Environment {
  readonly info: EnvironmentInfo;
  readonly pids: readonly number[];
  readonly stop: () => Promise<void>;
}

interface StateFile {
  readonly info: EnvironmentInfo;
  readonly pids: readonly number[];
  readonly ownerPid: number;
}

/** True when `pid` is alive and still runs one of our commands (guards against pid reuse). */
function isOurs(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return /etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok|postgres|versitygw|harness|containerd|kubelet|kube-proxy|coredns|kube-router/.test(
      cmd,
    );
  } catch {
    return false;
  }
}

export function stateFile(dir: string): string {
  return join(dir, "env.json");
}

export async function startEnvironment(dirIn: string = defaultStateDir): Promise<Environment> {
  const dir = resolve(dirIn);
  await stopEnvironment(dir); // a previous run that was killed leaves its state behind
  rmSync(join(dir, "cluster"), { recursive: true, force: true });
  rmSync(join(dir, "postgres"), { recursive: true, force: true });
  rmSync(join(dir, "s3"), { recursive: true, force: true });
  mkdirSync(join(dir, "logs"), { recursive: true });

  const binDir = ensureBinaries();
  const stops: (() => Promise<void>)[] = [];
  const pids: number[] = [];
  const stop = async () => {
    // Every part is stopped even when one fails (the node reports what it left behind).
    const failures: unknown[] = [];
    for (const s of stops.reverse()) await s().catch((err: unknown) => failures.push(err));
    // A part that failed to stop may have left processes, mounts or links: the state file
    // stays, so that `make cluster-down` or the next start finds them and cleans up.
    if (failures.length) throw failures[0];
    rmSync(stateFile(dir), { force: true });
  };
  try {
    let kubeconfig: string;
    let etcd = "";
    let apiServer = "";
    let corednsImage = "";
    let node: Pick<
      EnvironmentInfo,
      | "TDS_REAL_NODE"
      | "TDS_NODE_ABSENT"
      | "TDS_CONTAINERD_ADDRESS"
      | "TDS_BUSYBOX_IMAGE"
      | "TDS_NODE_BIN_DIR"
    > = {
      TDS_REAL_NODE: "",
      TDS_NODE_ABSENT: "an external cluster (TDS_CLUSTER=external)",
      TDS_CONTAINERD_ADDRESS: "",
      TDS_BUSYBOX_IMAGE: "",
      TDS_NODE_BIN_DIR: "",
    };
    if (process.env.TDS_CLUSTER === "external") {
      kubeconfig = process.env.KUBECONFIG ?? join(process.env.HOME ?? "", ".kube/config");
    } else {
      const absent = realNodeUnavailable(dir);
      const cp = await startControlPlane({
        dir: join(dir, "cluster"),
        binDir,
        ...(absent ? {} : { podAddress: nodeNames(dir).gateway }),
      });
      stops.push(cp.stop);
      pids.push(...cp.processes.map((p) => p.pid));
      kubeconfig = join(dir, "kubeconfig");
      writeFileSync(kubeconfig, readFileSync(cp.kubeconfigPath), { mode: 0o600 });
      etcd = cp.etcdEndpoint;
      apiServer = cp.server;
      if (absent) {
        node = { ...node, TDS_NODE_ABSENT: absent };
      } else {
        const nodeBinDir = ensureNodeBinaries();
        const real = await startRealNode(
          {
            binDir,
            nodeBinDir,
            ca: cp.ca,
            caFile: cp.caFile,
            adminKubeconfig: kubeconfig,
            kubeconfigFor: (cert, user) => kubeconfigFor(cp.server, cp.ca.certPem, cert, user),
          },
          dir,
        );
        // stopped before the control plane (stops run in reverse)
        stops.push(real.stop);
        corednsImage = real.corednsImage;
        pids.push(...real.processes.map((p) => p.pid));
        node = {
          TDS_REAL_NODE: real.names.nodeName,
          TDS_NODE_ABSENT: "",
          TDS_CONTAINERD_ADDRESS: real.containerdAddress,
          TDS_BUSYBOX_IMAGE: real.busyboxImage,
          TDS_NODE_BIN_DIR: nodeBinDir,
        };
      }
    }

    let databaseUrl = process.env.DATABASE_URL ?? "";
    if (!databaseUrl) {
      const pg = await startPostgres(join(dir, "postgres"));
      stops.push(pg.stop);
      pids.push(pg.process.pid);
      databaseUrl = pg.url;
    }

    let s3: Pick<
      EnvironmentInfo,
      | "TDS_S3_ENDPOINT"
      | "TDS_S3_ADMIN_ENDPOINT"
      | "TDS_S3_REGION"
      | "TDS_S3_ACCESS_KEY_ID"
      | "TDS_S3_SECRET_ACCESS_KEY"
    >;
    if (process.env.TDS_S3_ENDPOINT) {
      s3 = {
        TDS_S3_ENDPOINT: process.env.TDS_S3_ENDPOINT,
        TDS_S3_ADMIN_ENDPOINT: process.env.TDS_S3_ADMIN_ENDPOINT ?? "",
        TDS_S3_REGION: process.env.TDS_S3_REGION ?? "us-east-1",
        TDS_S3_ACCESS_KEY_ID: process.env.TDS_S3_ACCESS_KEY_ID ?? "",
        TDS_S3_SECRET_ACCESS_KEY: process.env.TDS_S3_SECRET_ACCESS_KEY ?? "",
      };
    } else {
      const store = await startObjectStore(join(dir, "s3"), join(versitygwDir(binDir), "versitygw"));
      stops.push(store.stop);
      pids.push(store.process.pid);
      s3 = {
        TDS_S3_ENDPOINT: store.endpoint,
        TDS_S3_ADMIN_ENDPOINT: store.adminEndpoint,
        TDS_S3_REGION: store.region,
        TDS_S3_ACCESS_KEY_ID: store.accessKeyId,
        TDS_S3_SECRET_ACCESS_KEY: store.secretAccessKey,
      };
    }

    // Pods reach the API server, PostgreSQL and S3 at the node's bridge address.
    let pods = {
      TDS_POD_HOST: "",
      TDS_POD_DATABASE_URL: "",
      TDS_POD_S3_ENDPOINT: "",
      TDS_POD_S3_ADMIN_ENDPOINT: "",
    };
    if (node.TDS_REAL_NODE) {
      const host = nodeNames(dir).gateway;
      // Services on loopback are forwarded; an external one is reached where it is.
      const local = (url: string) => !!url && ["127.0.0.1", "localhost"].includes(new URL(url).hostname);
      const forwarded = [apiServer, databaseUrl, s3.TDS_S3_ENDPOINT, s3.TDS_S3_ADMIN_ENDPOINT].filter(local);
      const fw = await startForwarders(host, forwarded.map(portOf), join(dir, "logs"));
      stops.push(() => fw.stop());
      pids.push(fw.pid);
      const podUrl = (url: string) => (local(url) ? withHost(url, host) : url);
      // The cluster DNS as a pod, now that pods reach the API server (clusterDnsObjects).
      const kubectlBin = join(binDir, "kubectl");
      execFileSync(kubectlBin, [`--kubeconfig=${kubeconfig}`, "apply", "-f", "-"], {
        input: JSON.stringify({ apiVersion: "v1", kind: "List", items: clusterDnsObjects(corednsImage) }),
        stdio: ["pipe", "ignore", "pipe"],
      });
      execFileSync(
        kubectlBin,
        [
          `--kubeconfig=${kubeconfig}`,
          "rollout",
          "status",
          "-n",
          "kube-system",
          "deployment/coredns",
          "--timeout=120s",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      pods = {
        TDS_POD_HOST: host,
        TDS_POD_DATABASE_URL: podUrl(databaseUrl),
        TDS_POD_S3_ENDPOINT: podUrl(s3.TDS_S3_ENDPOINT),
        TDS_POD_S3_ADMIN_ENDPOINT: podUrl(s3.TDS_S3_ADMIN_ENDPOINT),
      };
    }

    const info: EnvironmentInfo = {
      ...pods,
      KUBECONFIG: kubeconfig,
      DATABASE_URL: databaseUrl,
      ...s3,
      TDS_BIN_DIR: binDir,
      TDS_ETCD_ENDPOINT: etcd,
      ...node,
    };
    const state: StateFile = { info, pids, ownerPid: process.pid };
    writeFileSync(stateFile(dir), JSON.stringify(state, null, 2), { mode: 0o600 });
    return { info, pids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The versitygw binary sits next to the Kubernetes binaries' folder. */
function versitygwDir(binDir: string): string {
  const dir = readFileSync(join(repoRoot, "test/localcluster/build.sh"), "utf8").match(
    /versitygw_version="([^"]+)"/,
  );
  if (!dir?.[1]) throw new Error("cannot read versitygw_version from test/localcluster/build.sh");
  return join(binDir, "..", `versitygw-${dir[1]}`);
}

/** Reads the running environment's state, if any. */
export function readEnvironment(dir: string = defaultStateDir): StateFile | undefined {
  const file = stateFile(resolve(dir));
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as StateFile;
}

/** Stops an environment started by another process (make cluster-down), by its recorded pids. */
export async function stopEnvironment(dir: string = defaultStateDir): Promise<boolean> {
  const state = readEnvironment(dir);
  if (!state) return false;
  // The owner stops its node itself (pods first, while the kubelet runs); then whatever is left goes.
  if (state.ownerPid !== process.pid && isOurs(state.ownerPid)) await stopPid(state.ownerPid, 60_000);
  for (const pid of [...state.pids].reverse()) if (isOurs(pid)) await stopPid(pid);
  if (state.info.TDS_REAL_NODE) {
    await cleanNode(nodeNames(dir), { nodeBinDir: state.info.TDS_NODE_BIN_DIR });
  }
  rmSync(stateFile(resolve(dir)), { force: true });
  return true;
}
