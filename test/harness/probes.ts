// Probe pods on the real node (busybox, imported by the harness) and real TCP
// connections between them, for the node and isolation tests.
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { REAL_NODE_LABEL, REAL_NODE_TAINT } from "./node.ts";
import { env, eventually, kubectl } from "./testkit.ts";

/** A pod that runs on the real node only (node selector and toleration), from the busybox image. */
export function realNodePod(
  namespace: string,
  name: string,
  command: readonly string[],
  labels: Record<string, string> = {},
  runtimeClassName?: string,
): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: {
      nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
      tolerations: [
        { key: REAL_NODE_TAINT.key, operator: "Equal", value: REAL_NODE_TAINT.value, effect: "NoSchedule" },
      ],
      ...(runtimeClassName ? { runtimeClassName } : {}),
      terminationGracePeriodSeconds: 1,
      // Pod Security "restricted" (the participant and sandbox namespaces enforce it);
      // servers bind ports 80/81 as a user through the namespaced, safe sysctl.
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        seccompProfile: { type: "RuntimeDefault" },
        sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }],
      },
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [
        {
          name: "main",
          image: env("TDS_BUSYBOX_IMAGE"),
          imagePullPolicy: "Never",
          command,
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
        },
      ],
    },
  };
}

/** Waits until the pod is Ready and returns its IP. */
export async function waitForPodIp(namespace: string, name: string, timeoutMs = 90_000): Promise<string> {
  kubectl([
    "wait",
    "-n",
    namespace,
    "--for=condition=Ready",
    `pod/${name}`,
    `--timeout=${String(Math.round(timeoutMs / 1000))}s`,
  ]);
  return eventually(`pod ${namespace}/${name} has an IP`, () => {
    const ip = kubectl(["get", "pod", "-n", namespace, name, "-o", "jsonpath={.status.podIP}"]).trim();
    return ip || undefined;
  });
}

/**
 * Opens a TCP connection from inside `from` to host:port (busybox nc, 2 s timeout)
 * and returns what the server wrote, trimmed; "" when nothing answered.
 */
export function probePod(namespace: string, from: string, host: string, port: number): string {
  const r = spawnSync(
    join(env("TDS_BIN_DIR"), "kubectl"),
    ["exec", "-n", namespace, from, "--", "sh", "-c", `nc -w 2 ${host} ${String(port)} </dev/null`],
    { encoding: "utf8", env: { ...process.env, KUBECONFIG: env("KUBECONFIG") }, timeout: 20_000 },
  );
  return r.status === 0 ? r.stdout.trim() : "";
}

/** `kubectl exec` of a shell script in the pod, without blocking the event loop (in-process operators keep running). */
function execIn(namespace: string, from: string, script: string): Promise<string> {
  return new Promise((resolveOut, reject) => {
    execFile(
      join(env("TDS_BIN_DIR"), "kubectl"),
      ["exec", "-n", namespace, from, "--", "sh", "-c", script],
      { encoding: "utf8", env: { ...process.env, KUBECONFIG: env("KUBECONFIG") }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`probing from ${namespace}/${from} failed: ${stderr || err.message}`));
        else resolveOut(stdout);
      },
    );
  });
}

/** One TCP probe: from a pod to an address and port. */
export interface Probe {
  readonly host: string;
  readonly port: number;
}

/**
 * Runs all probes from one pod at once (one exec, connections in parallel, 2 s
 * timeout each) and returns what each server answered, "" where nothing did.
 */
export async function probeMany(
  namespace: string,
  from: string,
  probes: readonly Probe[],
): Promise<string[]> {
  const script = probes
    .map((p, i) => `(nc -w 2 ${p.host} ${String(p.port)} </dev/null >/tmp/probe.${String(i)} 2>/dev/null) &`)
    .join("\n");
  const collect = probes.map((_, i) => `echo "${String(i)} $(cat /tmp/probe.${String(i)})"`).join("; ");
  const stdout = await execIn(namespace, from, `${script}\nwait; ${collect}`);
  const answers = probes.map(() => "");
  for (const line of stdout.split("\n")) {
    const m = /^(\d+) ?(.*)$/.exec(line);
    if (m?.[1] !== undefined) answers[Number(m[1])] = (m[2] ?? "").trim();
  }
  return answers;
}

/**
 * Whether a TCP connection from the pod reaches each address: it connects and the
 * exchange ends (an HTTP request is sent; any server answers or closes), within 5 s.
 */
export async function connects(
  namespace: string,
  from: string,
  probes: readonly Probe[],
): Promise<boolean[]> {
  const script = probes
    .map(
      (p, i) =>
        `(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 2 ${p.host} ${String(p.port)} >/tmp/out.${String(i)} 2>/dev/null; echo $? >/tmp/rc.${String(i)}) &`,
    )
    .join("\n");
  const collect = probes
    .map((_, i) => `echo "${String(i)} $(cat /tmp/rc.${String(i)}) $(wc -c </tmp/out.${String(i)})"`)
    .join("; ");
  const stdout = await execIn(namespace, from, `${script}\nwait; ${collect}`);
  const reached = probes.map(() => false);
  for (const line of stdout.split("\n")) {
    const m = /^(\d+) (\d+) +(\d+)$/.exec(line.trim());
    if (m?.[1] !== undefined) reached[Number(m[1])] = m[2] === "0" || Number(m[3]) > 0;
  }
  return reached;
}
