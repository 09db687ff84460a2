// The real node of the local environment: containerd (runc and gVisor), kubelet,
// a CNI bridge with a pod CIDR the harness picks, kube-proxy, CoreDNS and the
// kube-router NetworkPolicy firewall, all built by test/localcluster/build-node.sh.
// KWOK's fake node stays for scale tests; this node carries the taint REAL_NODE_TAINT,
// so only pods that tolerate it (and select it) run here.
//
// Only one real node runs per machine: kube-proxy and kube-router own
// machine-wide iptables chains (KUBE-SERVICES, KUBE-ROUTER-*), so a second
// environment (another TDS_STATE_DIR) starts without one while the lock is held.
// Stopping removes everything the node made and restores what it changed:
// see cleanNode and nodeLeftovers.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { issueCertificate, type KeyedCertificate } from "@tds/operator/pki";
import { writeOciLayout } from "../../infra/image/oci-layout.ts";
import { layoutTar, type LayoutTar } from "./images.ts";
import { LOCAL_RUNTIME_CLASS, SERVICE_CIDR } from "./controlplane.ts";
import { freePort, startProcess, waitUntil, type ManagedProcess } from "./processes.ts";

const repoRoot = resolve(import.meta.dirname, "../..");

/** Pods run on the real node only when they tolerate this taint (and select the node by REAL_NODE_LABEL). */
export const REAL_NODE_TAINT = { key: "tds.dev/node", value: "real", effect: "NoSchedule" } as const;
export const REAL_NODE_LABEL = { key: "tds.dev/node", value: "real" } as const;
/** The cluster DNS Service's address in the API server's service range (10.0.0.0/24). */
export const CLUSTER_DNS_IP = "10.0.0.10";

/** Everything the node creates on the machine is named from these, so cleanup needs nothing else. */
export interface NodeNames {
  readonly nodeName: string;
  readonly dir: string;
  readonly bridge: string;
  readonly cgroupRoot: string;
  readonly podCidr: string;
  readonly gateway: string;
  /** The state before the node started: sysctls, iptables tables, ipsets. */
  readonly snapshot: string;
}

export interface RealNode {
  readonly names: NodeNames;
  readonly containerdAddress: string;
  readonly pauseImage: string;
  /** A busybox image (Debian's busybox-static) for probe pods. */
  readonly busyboxImage: string;
  /** CoreDNS (the node's build) as an image: the cluster DNS runs as a pod (deployClusterDns). */
  readonly corednsImage: string;
  readonly processes: readonly ManagedProcess[];
  readonly stop: () => Promise<void>;
}

export interface NodeOptions {
  readonly binDir: string;
  readonly nodeBinDir: string;
  readonly ca: KeyedCertificate;
  readonly caFile: string;
  readonly adminKubeconfig: string;
  readonly kubeconfigFor: (cert: KeyedCertificate, user: string) => string;
}

const LOCK = "/run/tds-real-node.lock";

/** Builds (or reuses) the node's binaries; returns their folder (bin/, cni/ inside). */
export function ensureNodeBinaries(): string {
  const out = execFileSync(join(repoRoot, "test/localcluster/build-node.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = out.trim().split("\n").pop();
  if (!dir) throw new Error("test/localcluster/build-node.sh printed no folder");
  return dir;
}

/** Why this machine cannot run the real node now, or undefined when it can. */
export function realNodeUnavailable(stateDir: string): string | undefined {
  if (process.env.TDS_NODE === "none") return "TDS_NODE=none";
  if (process.getuid?.() !== 0) return "the real node needs root (containerd, kubelet, iptables)";
  for (const tool of ["runc", "iptables", "ipset", "ip", "gcc"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `${tool} is not installed (make deps)`;
  }
  const holder = lockHolder();
  if (holder && resolve(holder.stateDir) !== resolve(stateDir)) {
    return `the real node of ${holder.stateDir} (pid ${String(holder.pid)}) runs on this machine; one per machine`;
  }
  return undefined;
}

function lockRecord(): { pid: number; stateDir: string } | undefined {
  try {
    return JSON.parse(readFileSync(LOCK, "utf8")) as { pid: number; stateDir: string };
  } catch {
    return undefined;
  }
}

/** The live environment that holds the machine's real node, if any. */
function lockHolder(): { pid: number; stateDir: string } | undefined {
  const held = lockRecord();
  if (!held) return undefined;
  try {
    process.kill(held.pid, 0);
    return held;
  } catch {
    return undefined;
  }
}

/** Names for the node of the environment in `stateDir`: a short id from the folder's path. */
export function nodeNames(stateDir: string): NodeNames {
  const dir = join(resolve(stateDir), "node");
  const id = createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 6);
  // Pod CIDR 10.244.N.0/24 with N from the id; a machine runs one node, so N only
  // has to avoid routes the machine already has (checked at start).
  const n = parseInt(id.slice(0, 2), 16);
  return {
    nodeName: "tds-node",
    dir,
    bridge: `tds${id}`,
    cgroupRoot: `/tds-${id}`,
    podCidr: `10.244.${String(n)}.0/24`,
    gateway: `10.244.${String(n)}.1`,
    snapshot: join(dir, "host-snapshot.json"),
  };
}

function run(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}
function tryRun(cmd: string, args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------- host state

/** The sysctls the node's parts may set (bridge plugin, kubelet, kube-proxy). */
const SYSCTL_ROOTS = ["net/ipv4", "net/bridge", "net/netfilter", "vm", "kernel"] as const;

function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const abs = join("/proc/sys", rel);
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        // per-interface and per-neighbour entries come and go with the interfaces
        if (/^net\/ipv4\/(conf|neigh)$/.test(r)) {
          for (const keep of ["all", "default"]) walk(`${r}/${keep}`);
          continue;
        }
        walk(r);
        continue;
      }
      try {
        const st = statSync(join("/proc/sys", r));
        if ((st.mode & 0o200) === 0) continue; // read-only: not a setting
        out[r] = readFileSync(join("/proc/sys", r), "utf8").trim();
      } catch {
        // unreadable (write-only or permission): not ours to restore
      }
    }
  };
  for (const root of SYSCTL_ROOTS) walk(root);
  return out;
}

/** Volatile sysctls that change on their own (counters, random seeds, time stamps). */
const VOLATILE_SYSCTL =
  /random|^kernel\/(ns_last_pid|tainted|hostname|domainname)|^vm\/(drop_caches|compact_memory|stat_refresh)|^net\/netfilter\/nf_conntrack_(count|buckets)/;

interface HostSnapshot {
  readonly sysctls: Record<string, string>;
  readonly iptables: Record<"ipv4" | "ipv6", string>;
  readonly ipsets: readonly string[];
}

/** iptables-save without counters and comments, empty default chains dropped: the rules as a set. */
function iptablesRules(family: "ipv4" | "ipv6"): string {
  const r = tryRun(family === "ipv4" ? "iptables-save" : "ip6tables-save", []);
  if (!r.ok) return "";
  const lines: string[] = [];
  let table = "";
  for (const raw of r.out.split("\n")) {
    const line = raw.replace(/\[\d+:\d+\]/, "").trim();
    if (!line || line.startsWith("#") || line === "COMMIT") continue;
    if (line.startsWith("*")) {
      table = line;
      continue;
    }
    if (/^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ACCEPT$/.test(line)) continue;
    lines.push(`${table} ${line}`);
  }
  return lines.sort().join("\n");
}

function ipsets(): string[] {
  const r = tryRun("ipset", ["list", "-n"]);
  return r.ok ? r.out.split("\n").filter(Boolean).sort() : [];
}

function snapshotHost(): HostSnapshot {
  return {
    sysctls: readSysctls(),
    iptables: { ipv4: iptablesRules("ipv4"), ipv6: iptablesRules("ipv6") },
    ipsets: ipsets(),
  };
}

/** What the node left on the machine, described for a person; empty when nothing. */
export function nodeLeftovers(names: NodeNames, before?: HostSnapshot): string[] {
  const found: string[] = [];
  const snap = before ?? readSnapshot(names);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === names.dir || m.startsWith(`${names.dir}/`));
  if (mounts.length) found.push(`mounts: ${mounts.join(", ")}`);
  for (const link of [names.bridge]) if (tryRun("ip", ["link", "show", link]).ok) found.push(`link ${link}`);
  const veths = tryRun("ip", ["-o", "link", "show", "type", "veth"]).out.trim();
  if (veths) found.push(`veth pairs: ${veths.split("\n").length}`);
  for (const root of cgroupRoots(names)) if (existsSync(root)) found.push(`cgroup ${root}`);
  const procs = ourProcesses(names);
  if (procs.length) found.push(`processes: ${procs.map((p) => `${String(p.pid)} ${p.cmd}`).join("; ")}`);
  if (snap) {
    for (const family of ["ipv4", "ipv6"] as const) {
      const was = new Set(snap.iptables[family].split("\n"));
      const extra = iptablesRules(family)
        .split("\n")
        .filter((l) => l && !was.has(l));
      if (extra.length) found.push(`${family} iptables: ${extra.slice(0, 8).join(" | ")}`);
    }
    const extraSets = ipsets().filter((s) => !snap.ipsets.includes(s));
    if (extraSets.length) found.push(`ipsets: ${extraSets.join(", ")}`);
    const now = readSysctls();
    const changed = Object.entries(snap.sysctls).filter(
      ([k, v]) => !VOLATILE_SYSCTL.test(k) && k in now && now[k] !== v,
    );
    if (changed.length)
      found.push(`sysctls: ${changed.map(([k, v]) => `${k} ${v}->${String(now[k])}`).join(", ")}`);
  }
  return found;
}

function readSnapshot(names: NodeNames): HostSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(names.snapshot, "utf8")) as HostSnapshot;
  } catch {
    return undefined;
  }
}

const CGROUP_BASE = "/sys/fs/cgroup";
function cgroupRoots(names: NodeNames): string[] {
  const out: string[] = [];
  for (const h of readdirSync(CGROUP_BASE)) {
    const p = join(CGROUP_BASE, h);
    if (existsSync(join(p, "cgroup.procs"))) out.push(join(p, names.cgroupRoot));
  }
  return out;
}

/** Processes started for the node: anything whose command line names its folder, plus the cgroups' members. */
function ourProcesses(names: NodeNames): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  const seen = new Set<number>();
  for (const pidDir of readdirSync("/proc")) {
    if (!/^\d+$/.test(pidDir)) continue;
    const pid = Number(pidDir);
    if (pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pidDir}/cmdline`, "utf8").split("\0");
      const cmd = argv.join(" ").trim();
      // A path under the node's folder, not a longer name that starts with it: the recipe
      // of `make test` names `.tds/node-workload-results.tap`, and was once killed for it.
      if (argv.some((a) => a === names.dir || a.includes(`${names.dir}/`))) {
        out.push({ pid, cmd: cmd.slice(0, 120) });
        seen.add(pid);
      }
    } catch {
      // gone
    }
  }
  for (const root of cgroupRoots(names)) {
    for (const pid of cgroupPids(root)) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      out.push({ pid, cmd: `(in ${root})` });
    }
  }
  return out;
}

function cgroupPids(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const pids: number[] = [];
  const walk = (d: string) => {
    try {
      pids.push(...readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
    } catch {
      return;
    }
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(dir);
  return pids;
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // still busy: reported by nodeLeftovers
  }
}

/**
 * Removes what the node made and restores what it changed. Idempotent and
 * driven by the names alone, so it also cleans up after a harness that was killed.
 * Order: processes, firewall rules and sets, mounts, links, cgroups, sysctls.
 */
export async function cleanNode(names: NodeNames, bins?: { nodeBinDir: string }): Promise<void> {
  // 1. Processes: the node's daemons and every shim and container they left.
  for (let round = 0; round < 3; round++) {
    const procs = ourProcesses(names);
    if (!procs.length) break;
    for (const p of procs) {
      try {
        process.kill(p.pid, round === 0 ? "SIGTERM" : "SIGKILL");
      } catch {
        // gone
      }
    }
    await sleep(round === 0 ? 1500 : 300);
  }
  // 2. Firewall: kube-proxy's and kube-router's own cleanup, then anything the snapshot did not have.
  const snap = readSnapshot(names);
  if (bins) {
    tryRun(join(bins.nodeBinDir, "bin/kube-proxy"), ["--cleanup", "--proxy-mode=iptables"]);
  }
  if (snap) {
    for (const family of ["ipv4", "ipv6"] as const) restoreIptables(family, snap.iptables[family]);
    for (const set of ipsets().filter((s) => !snap.ipsets.includes(s))) tryRun("ipset", ["destroy", set]);
  }
  // 3. Mounts under the node's folder, deepest first.
  for (let round = 0; round < 5; round++) {
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m === names.dir || m.startsWith(`${names.dir}/`))
      .sort((a, b) => b.length - a.length);
    if (!mounts.length) break;
    for (const m of mounts) tryRun("umount", ["-l", m]);
  }
  // 4. Links: pod veths on the bridge, then the bridge.
  const onBridge = tryRun("ip", ["-o", "link", "show", "master", names.bridge]).out;
  for (const m of onBridge.matchAll(/^\d+: ([^@:]+)/gm)) if (m[1]) tryRun("ip", ["link", "delete", m[1]]);
  tryRun("ip", ["link", "delete", names.bridge]);
  // 5. cgroups, depth first.
  for (const root of cgroupRoots(names)) removeCgroupTree(root);
  // 6. sysctls back to what they were.
  if (snap) {
    const now = readSysctls();
    for (const [k, v] of Object.entries(snap.sysctls)) {
      if (VOLATILE_SYSCTL.test(k) || now[k] === v || !(k in now)) continue;
      try {
        writeFileSync(join("/proc/sys", k), v);
      } catch {
        // reported by nodeLeftovers
      }
    }
  }
  rmSync("/run/containerd/s", { recursive: true, force: true });
  const holder = lockHolder();
  if (!holder || holder.pid === process.pid) rmSync(LOCK, { force: true });
}

/** Deletes the rules and chains the snapshot did not have, table by table. */
function restoreIptables(family: "ipv4" | "ipv6", before: string): void {
  const tool = family === "ipv4" ? "iptables" : "ip6tables";
  const was = new Set(before.split("\n"));
  const now = iptablesRules(family).split("\n").filter(Boolean);
  const extraRules = now.filter((l) => !was.has(l) && / -A /.test(` ${l.split(" ").slice(1).join(" ")}`));
  for (const l of extraRules) {
    const [table, ...rule] = l.split(" ");
    const args = rule.join(" ").replace(/^-A /, "-D ");
    tryRun("sh", ["-c", `${tool} -t ${(table ?? "*filter").slice(1)} ${args}`]);
  }
  const extraChains = now.filter((l) => !was.has(l) && l.split(" ")[1]?.startsWith(":"));
  for (const l of extraChains) {
    const [table, chain] = l.split(" ");
    const name = (chain ?? "").slice(1);
    tryRun(tool, ["-t", (table ?? "*filter").slice(1), "-F", name]);
  }
  for (const l of extraChains) {
    const [table, chain] = l.split(" ");
    tryRun(tool, ["-t", (table ?? "*filter").slice(1), "-X", (chain ?? "").slice(1)]);
  }
}

// ---------------------------------------------------------------- start

export async function startRealNode(o: NodeOptions, stateDir: string): Promise<RealNode> {
  const names = nodeNames(stateDir);
  // A killed run leaves its node behind: this environment's, or the last lock holder's.
  const previous = lockRecord();
  if (previous && resolve(previous.stateDir) !== resolve(stateDir) && !lockHolder()) {
    await cleanNode(nodeNames(previous.stateDir), { nodeBinDir: o.nodeBinDir });
  }
  await cleanNode(names, { nodeBinDir: o.nodeBinDir });
  const left = nodeLeftovers(names);
  if (left.some((l) => l.startsWith("mounts:"))) {
    throw new Error(`the node folder ${names.dir} still has mounts; not removing it: ${left.join("; ")}`);
  }
  rmSync(names.dir, { recursive: true, force: true });
  mkdirSync(join(names.dir, "logs"), { recursive: true });
  writeFileSync(LOCK, JSON.stringify({ pid: process.pid, stateDir: resolve(stateDir) }));
  if (tryRun("ip", ["route", "show", names.podCidr]).out.trim()) {
    throw new Error(`the pod CIDR ${names.podCidr} is already routed on this machine`);
  }
  writeFileSync(names.snapshot, JSON.stringify(snapshotHost()));

  const bin = join(o.nodeBinDir, "bin");
  const path = `${bin}:${process.env.PATH ?? ""}`;
  const env = { ...process.env, PATH: path };
  const logs = join(names.dir, "logs");
  const processes: ManagedProcess[] = [];
  const kubectl = (...args: string[]) =>
    run(join(o.binDir, "kubectl"), [`--kubeconfig=${o.adminKubeconfig}`, ...args]);
  const apply = (items: unknown[]) =>
    run(
      join(o.binDir, "kubectl"),
      [`--kubeconfig=${o.adminKubeconfig}`, "apply", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items }),
    );
  const stop = async () => {
    // No new pods (a Deployment's replacements), then the pods while kubelet runs,
    // so CNI DEL removes their network namespaces.
    tryRun(join(o.binDir, "kubectl"), [`--kubeconfig=${o.adminKubeconfig}`, "cordon", names.nodeName]);
    tryRun(join(o.binDir, "kubectl"), [
      `--kubeconfig=${o.adminKubeconfig}`,
      "delete",
      "pods",
      "--all-namespaces",
      "--field-selector",
      `spec.nodeName=${names.nodeName}`,
      "--grace-period=1",
      "--wait=true",
      "--timeout=30s",
    ]);
    for (const p of [...processes].reverse()) await p.stop();
    await cleanNode(names, { nodeBinDir: o.nodeBinDir });
    const left = nodeLeftovers(names);
    if (left.length) throw new Error(`stopping the real node left behind: ${left.join("; ")}`);
  };
  try {
    // The bridge carries the pods' gateway and the node's address (no dummy links on this kernel).
    run("ip", ["link", "add", names.bridge, "type", "bridge"]);
    run("ip", ["addr", "add", `${names.gateway}/24`, "dev", names.bridge]);
    run("ip", ["link", "set", names.bridge, "up"]);

    // cgroup v1: the kubelet's cgroupRoot must exist in every hierarchy, with cpuset's cpus and mems.
    for (const root of cgroupRoots(names)) {
      mkdirSync(root, { recursive: true });
      if (root.startsWith(join(CGROUP_BASE, "cpuset"))) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          writeFileSync(join(root, f), readFileSync(join(CGROUP_BASE, "cpuset", f), "utf8").trim());
        }
      }
    }

    const images = buildNodeImages(o.nodeBinDir, names.dir);
    const containerdDir = join(names.dir, "containerd");
    const address = join(containerdDir, "containerd.sock");
    const cniConfDir = join(names.dir, "cni/net.d");
    mkdirSync(cniConfDir, { recursive: true });
    writeFileSync(
      join(cniConfDir, "10-tds.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "tds",
        plugins: [
          {
            type: "bridge",
            bridge: names.bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: names.podCidr, gateway: names.gateway }]],
              // No default route: pods reach their own CIDR on the bridge and the
              // Service range through kube-proxy on the node, nothing else.
              routes: [{ dst: SERVICE_CIDR }],
              dataDir: join(names.dir, "cni/ipam"),
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
    const runscConfig = join(containerdDir, "runsc.toml");
    mkdirSync(containerdDir, { recursive: true });
    writeFileSync(
      runscConfig,
      [
        `binary_name = "${join(bin, "runsc")}"`,
        `root = "${join(containerdDir, "runsc")}"`,
        `log_path = "${join(logs, "runsc")}/"`,
        "[runsc_config]",
        '  platform = "systrap"',
        "",
      ].join("\n"),
    );
    const cri = "plugins.'io.containerd.cri.v1.runtime'";
    writeFileSync(
      join(containerdDir, "config.toml"),
      [
        "version = 3",
        `root = "${join(containerdDir, "root")}"`,
        `state = "${join(containerdDir, "state")}"`,
        "[grpc]",
        `  address = "${address}"`,
        "[ttrpc]",
        `  address = "${address}.ttrpc"`,
        "[debug]",
        `  address = "${address}.debug"`,
        "[metrics]",
        '  address = ""',
        `[${cri}]`,
        "  disable_apparmor = true",
        "  restrict_oom_score_adj = true",
        "  netns_mounts_under_state_dir = true",
        "  enable_selinux = false",
        `[${cri}.containerd]`,
        '  default_runtime_name = "runc"',
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.runc.options]`,
        "  SystemdCgroup = false",
        `  BinaryName = "${run("sh", ["-c", "command -v runc"]).trim()}"`,
        `[${cri}.containerd.runtimes.${LOCAL_RUNTIME_CLASS.handler}]`,
        '  runtime_type = "io.containerd.runsc.v1"',
        `[${cri}.containerd.runtimes.${LOCAL_RUNTIME_CLASS.handler}.options]`,
        '  TypeUrl = "io.containerd.runsc.v1.options"',
        `  ConfigPath = "${runscConfig}"`,
        `[${cri}.cni]`,
        `  bin_dirs = ["${join(o.nodeBinDir, "cni")}"]`,
        `  conf_dir = "${cniConfDir}"`,
        "[plugins.'io.containerd.cri.v1.images']",
        '  snapshotter = "overlayfs"',
        "[plugins.'io.containerd.cri.v1.images'.pinned_images]",
        `  sandbox = "${images.pause}"`,
        "",
      ].join("\n"),
    );
    const containerd = startProcess({
      name: "containerd",
      command: join(bin, "containerd"),
      args: [`--config=${join(containerdDir, "config.toml")}`],
      logFile: join(logs, "containerd.log"),
      env,
    });
    processes.push(containerd);
    const ctr = (...args: string[]) =>
      run(join(bin, "ctr"), [`--address=${address}`, "-n", "k8s.io", ...args]);
    await waitUntil(
      "containerd",
      containerd,
      () => Promise.resolve(tryRun(join(bin, "ctr"), [`--address=${address}`, "version"]).ok),
      60_000,
    );
    for (const tar of images.tars) ctr("images", "import", "--no-unpack=false", tar);

    // Identities: the kubelet's client and serving certificates, kube-proxy's, CoreDNS's and kube-router's.
    const pki = join(names.dir, "pki");
    mkdirSync(pki, { recursive: true });
    const kubeletClient = await issueCertificate(o.ca, {
      subject: `CN=system:node:${names.nodeName},O=system:nodes`,
      usage: "client",
      validForDays: 30,
    });
    const kubeletServing = await issueCertificate(o.ca, {
      subject: `CN=system:node:${names.nodeName}`,
      usage: "server",
      dnsNames: [names.nodeName],
      ipAddresses: [names.gateway, "127.0.0.1"],
      validForDays: 30,
    });
    writeFileSync(join(pki, "kubelet.crt"), kubeletServing.certPem);
    writeFileSync(join(pki, "kubelet.key"), kubeletServing.keyPem, { mode: 0o600 });
    const kubeletKubeconfig = join(pki, "kubelet.kubeconfig");
    writeFileSync(kubeletKubeconfig, o.kubeconfigFor(kubeletClient, `system:node:${names.nodeName}`), {
      mode: 0o600,
    });
    const proxyCert = await issueCertificate(o.ca, {
      subject: "CN=system:kube-proxy",
      usage: "client",
      validForDays: 30,
    });
    const proxyKubeconfig = join(pki, "kube-proxy.kubeconfig");
    writeFileSync(proxyKubeconfig, o.kubeconfigFor(proxyCert, "system:kube-proxy"), { mode: 0o600 });
    const routerCert = await issueCertificate(o.ca, {
      subject: "CN=tds:kube-router",
      usage: "client",
      validForDays: 30,
    });
    const routerKubeconfig = join(pki, "kube-router.kubeconfig");
    writeFileSync(routerKubeconfig, o.kubeconfigFor(routerCert, "tds:kube-router"), { mode: 0o600 });
    apply(clusterObjects(names));

    const resolvConf = join(names.dir, "resolv.conf");
    writeFileSync(resolvConf, ""); // pods get the cluster DNS only, not the machine's resolvers
    const kubeletPort = await freePort();
    const healthzPort = await freePort();
    const kubeletConfig = join(names.dir, "kubelet-config.json");
    writeFileSync(
      kubeletConfig,
      JSON.stringify({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        failCgroupV1: false,
        cgroupDriver: "cgroupfs",
        cgroupRoot: names.cgroupRoot,
        failSwapOn: false,
        oomScoreAdj: 0,
        readOnlyPort: 0,
        address: names.gateway,
        port: kubeletPort,
        healthzBindAddress: "127.0.0.1",
        healthzPort,
        tlsCertFile: join(pki, "kubelet.crt"),
        tlsPrivateKeyFile: join(pki, "kubelet.key"),
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: o.caFile },
        },
        authorization: { mode: "Webhook" },
        clusterDNS: [CLUSTER_DNS_IP],
        clusterDomain: "cluster.local",
        resolvConf,
        containerRuntimeEndpoint: `unix://${address}`,
        podLogsDir: join(names.dir, "pod-logs"),
        registerWithTaints: [REAL_NODE_TAINT],
        evictionHard: {
          "memory.available": "100Mi",
          "nodefs.available": "1%",
          "imagefs.available": "1%",
          "nodefs.inodesFree": "1%",
        },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        protectKernelDefaults: false,
        makeIPTablesUtilChains: true,
        serializeImagePulls: false,
        nodeStatusReportFrequency: "10s",
        syncFrequency: "10s",
        fileCheckFrequency: "10s",
        maxPods: 30,
      }),
    );
    const kubelet = startProcess({
      name: "kubelet",
      command: join(bin, "kubelet"),
      args: [
        `--config=${kubeletConfig}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${join(names.dir, "kubelet")}`,
        `--cert-dir=${pki}`,
        `--hostname-override=${names.nodeName}`,
        `--node-ip=${names.gateway}`,
        `--node-labels=${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`,
        // The summary API's cgroup readings (the operator meters sandboxes from them) every
        // second instead of every 10 s, so that a short job is sampled more than once.
        "--housekeeping-interval=1s",
        "--v=1",
      ],
      logFile: join(logs, "kubelet.log"),
      env,
    });
    processes.push(kubelet);
    await waitUntil(
      `node ${names.nodeName} registered`,
      kubelet,
      () =>
        Promise.resolve(
          tryRun(join(o.binDir, "kubectl"), [
            `--kubeconfig=${o.adminKubeconfig}`,
            "get",
            "node",
            names.nodeName,
          ]).ok,
        ),
      90_000,
    );
    // No nodeipam controller here: the harness assigns the node's pod CIDR itself.
    kubectl(
      "patch",
      "node",
      names.nodeName,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { podCIDR: names.podCidr, podCIDRs: [names.podCidr] } }),
    );

    const proxyConfig = join(names.dir, "kube-proxy-config.json");
    const proxyHealth = await freePort();
    const proxyMetrics = await freePort();
    writeFileSync(
      proxyConfig,
      JSON.stringify({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "iptables",
        clientConnection: { kubeconfig: proxyKubeconfig },
        hostnameOverride: names.nodeName,
        clusterCIDR: names.podCidr,
        bindAddress: names.gateway,
        healthzBindAddress: `127.0.0.1:${String(proxyHealth)}`,
        metricsBindAddress: `127.0.0.1:${String(proxyMetrics)}`,
        // leave the machine's conntrack settings alone
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
        nodePortAddresses: [`${names.gateway}/32`],
      }),
    );
    const proxy = startProcess({
      name: "kube-proxy",
      command: join(bin, "kube-proxy"),
      args: [`--config=${proxyConfig}`, "--v=1"],
      logFile: join(logs, "kube-proxy.log"),
      env,
    });
    processes.push(proxy);

    // kube-router v2.1.0: its NetworkPolicy firewall only (see docs/local-environment.md).
    const routerHealth = await freePort();
    const router = startProcess({
      name: "kube-router",
      command: join(bin, "kube-router"),
      args: [
        `--kubeconfig=${routerKubeconfig}`,
        `--hostname-override=${names.nodeName}`,
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv6=false",
        `--health-port=${String(routerHealth)}`,
        "--metrics-port=0",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--v=1",
      ],
      logFile: join(logs, "kube-router.log"),
      env,
    });
    processes.push(router);

    await waitUntil(
      `node ${names.nodeName} Ready`,
      kubelet,
      () =>
        Promise.resolve(
          tryRun(join(o.binDir, "kubectl"), [
            `--kubeconfig=${o.adminKubeconfig}`,
            "wait",
            "--for=condition=Ready",
            `node/${names.nodeName}`,
            "--timeout=2s",
          ]).ok,
        ),
      120_000,
    );
    tryRun(join(o.binDir, "kubectl"), [
      `--kubeconfig=${o.adminKubeconfig}`,
      "taint",
      "nodes",
      names.nodeName,
      "node.kubernetes.io/not-ready:NoSchedule-",
    ]);
    await waitUntil(
      "kube-proxy healthy",
      proxy,
      () =>
        fetch(`http://127.0.0.1:${String(proxyHealth)}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
    );
    await waitUntil(
      "kube-router healthy",
      router,
      () =>
        fetch(`http://127.0.0.1:${String(routerHealth)}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      60_000,
    );

    return {
      names,
      containerdAddress: address,
      pauseImage: images.pause,
      busyboxImage: images.busybox,
      corednsImage: images.coredns,
      processes,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** RBAC for the node's parts (the cluster DNS is a pod: clusterDnsObjects). */
function clusterObjects(names: NodeNames): unknown[] {
  const binding = (name: string, role: string, user: string) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
  });
  const role = (name: string, rules: unknown[]) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name },
    rules,
  });
  return [
    // No Node authorizer is configured: the kubelet gets the system:node role by binding.
    binding("tds:node", "system:node", `system:node:${names.nodeName}`),
    role("tds:kube-router", [
      {
        apiGroups: [""],
        resources: ["namespaces", "pods", "services", "nodes", "endpoints"],
        verbs: ["get", "list", "watch"],
      },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
    ]),
    binding("tds:kube-router", "tds:kube-router", "tds:kube-router"),
  ];
}

const DNS_LABELS = { "k8s-app": "kube-dns" } as const;

/**
 * The cluster DNS as any cluster runs it: CoreDNS (the node's build, as an
 * image) in a Deployment of `kube-system` labelled `k8s-app=kube-dns`, behind
 * the Service `kube-dns` at CLUSTER_DNS_IP, reading the API server in-cluster
 * (the `kubernetes` Service, forwarded to loopback by the harness). Tenant
 * namespaces' NetworkPolicies admit exactly these pods for DNS.
 */
export function clusterDnsObjects(image: string): unknown[] {
  const ns = "kube-system";
  const meta = (name: string) => ({ name, namespace: ns, labels: { ...DNS_LABELS } });
  const corefile = [
    ".:53 {",
    "  errors",
    "  health :8080",
    "  ready :8181",
    "  kubernetes cluster.local in-addr.arpa ip6.arpa {",
    "    pods insecure",
    "    fallthrough in-addr.arpa ip6.arpa",
    "  }",
    "  cache 30",
    "  loadbalance",
    "}",
    "",
  ].join("\n");
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("coredns") },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "tds:coredns" },
      rules: [
        { apiGroups: [""], resources: ["services", "pods", "namespaces"], verbs: ["list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "tds:coredns" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "tds:coredns" },
      subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: ns }],
    },
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("coredns"), data: { Corefile: corefile } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("coredns"),
      spec: {
        replicas: 1,
        selector: { matchLabels: { ...DNS_LABELS } },
        template: {
          metadata: { labels: { ...DNS_LABELS } },
          spec: {
            serviceAccountName: "coredns",
            nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
            tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
            dnsPolicy: "Default",
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "coredns",
                image,
                imagePullPolicy: "Never",
                args: ["-conf", "/etc/coredns/Corefile"],
                ports: [
                  { name: "dns", containerPort: 53, protocol: "UDP" },
                  { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                ],
                readinessProbe: { httpGet: { path: "/ready", port: 8181 } },
                livenessProbe: { httpGet: { path: "/health", port: 8080 } },
                resources: { requests: { cpu: "20m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
                },
                volumeMounts: [{ name: "config", mountPath: "/etc/coredns", readOnly: true }],
              },
            ],
            volumes: [{ name: "config", configMap: { name: "coredns" } }],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("kube-dns"),
      spec: {
        clusterIP: CLUSTER_DNS_IP,
        selector: { ...DNS_LABELS },
        ports: [
          { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
          { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
        ],
      },
    },
  ];
}

/**
 * The pause image (pause/pause.c) and a busybox probe image, written as OCI
 * layouts by the project's one writer (infra/image/oci-layout.ts) from root
 * folders, and tarred for `ctr images import` under their digest names.
 */
function buildNodeImages(
  nodeBinDir: string,
  dir: string,
): { pause: string; busybox: string; coredns: string; tars: string[] } {
  const out = join(dir, "images");
  rmSync(out, { recursive: true, force: true });
  const pauseRoot = join(out, "pause-root");
  mkdirSync(pauseRoot, { recursive: true });
  copyFileSync(join(nodeBinDir, "bin/pause"), join(pauseRoot, "pause"));
  chmodSync(join(pauseRoot, "pause"), 0o755);
  const applets = [
    "sh",
    "nc",
    "nslookup",
    "cat",
    "echo",
    "sleep",
    "timeout",
    "printf",
    "wc",
    "uname",
    "dmesg",
    "wget",
    "ls",
    "hostname",
    "ip",
    "true",
  ];
  const busyboxRoot = join(out, "busybox-root");
  mkdirSync(join(busyboxRoot, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(busyboxRoot, "bin/busybox"));
  chmodSync(join(busyboxRoot, "bin/busybox"), 0o755);
  for (const a of applets) symlinkSync("busybox", join(busyboxRoot, "bin", a));
  mkdirSync(join(busyboxRoot, "tmp"));
  chmodSync(join(busyboxRoot, "tmp"), 0o1777);
  const corednsRoot = join(out, "coredns-root");
  mkdirSync(corednsRoot, { recursive: true });
  copyFileSync(join(nodeBinDir, "bin/coredns"), join(corednsRoot, "coredns"));
  chmodSync(join(corednsRoot, "coredns"), 0o755);
  const images = [
    { name: "pause", repository: "tds.local/pause", root: pauseRoot, entrypoint: ["/pause"] },
    { name: "busybox", repository: "tds.local/busybox", root: busyboxRoot, entrypoint: ["/bin/sh"] },
    { name: "coredns", repository: "tds.local/coredns", root: corednsRoot, entrypoint: ["/coredns"] },
  ].map((i) => {
    const layout = join(out, i.name);
    writeOciLayout({
      dir: layout,
      layers: [i.root],
      refName: `${i.name}:local`,
      config: { user: "0:0", entrypoint: i.entrypoint },
    });
    return layoutTar(layout, i.repository);
  });
  const [pause, busybox, coredns] = images as [LayoutTar, LayoutTar, LayoutTar];
  return {
    pause: pause.reference,
    busybox: busybox.reference,
    coredns: coredns.reference,
    tars: [pause.tar, busybox.tar, coredns.tar],
  };
}
