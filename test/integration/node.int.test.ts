// The local environment's real node: pods run in containerd, under runc or
// gVisor; kubectl logs, exec and port-forward reach the kubelet; pods reach a
// Service by its DNS name through kube-proxy and CoreDNS; kube-router enforces
// NetworkPolicies. All traffic goes to pod and service addresses of the harness's own ranges.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { env, eventually, kubectl } from "../harness/testkit.ts";
import { probePod, realNodePod, waitForPodIp } from "../harness/probes.ts";

const ns = `node-${randomBytes(3).toString("hex")}`;

before(() => {
  kubectl(["create", "namespace", ns]);
});
after(() => {
  kubectl(["delete", "namespace", ns, "--wait=false"]);
});

test("the real node is registered and Ready, next to KWOK's fake node", () => {
  const node = JSON.parse(kubectl(["get", "node", env("TDS_REAL_NODE"), "-o", "json"])) as {
    status: {
      conditions: { type: string; status: string }[];
      nodeInfo: { containerRuntimeVersion: string; kubeletVersion: string };
    };
  };
  assert.equal(node.status.conditions.find((c) => c.type === "Ready")?.status, "True");
  assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/2\.4\.2/);
  assert.equal(node.status.nodeInfo.kubeletVersion, "v1.36.3");
});

test("a pod runs in containerd: logs, exec and port-forward work", async () => {
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify(
      realNodePod(ns, "web", ["sh", "-c", "echo started; exec nc -ll -p 8080 -e /bin/hostname"]),
    ),
  );
  kubectl(["wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=90s"]);
  assert.equal(kubectl(["logs", "-n", ns, "web"]).trim(), "started");
  assert.equal(kubectl(["exec", "-n", ns, "web", "--", "cat", "/etc/hostname"]).trim(), "web");

  const pf = spawn(join(env("TDS_BIN_DIR"), "kubectl"), ["port-forward", "-n", ns, "pod/web", ":8080"], {
    env: { ...process.env, KUBECONFIG: env("KUBECONFIG") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      pf.stdout.on("data", (d: Buffer) => {
        const m = /127\.0\.0\.1:(\d+)/.exec(d.toString());
        if (m?.[1]) resolvePort(Number(m[1]));
      });
      pf.once("exit", (code) => {
        reject(new Error(`kubectl port-forward exited ${String(code)}`));
      });
    });
    const answer = await new Promise<string>((resolveAnswer, reject) => {
      const s = connect(port, "127.0.0.1");
      let data = "";
      s.on("data", (d) => (data += d.toString()));
      s.on("end", () => {
        resolveAnswer(data);
      });
      s.on("error", reject);
    });
    assert.equal(answer.trim(), "web");
  } finally {
    pf.kill();
  }
});

test("a pod reaches a Service by its DNS name (kube-proxy and CoreDNS)", async () => {
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        realNodePod(ns, "backend", ["nc", "-ll", "-p", "8080", "-e", "/bin/hostname"], { app: "backend" }),
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "backend", namespace: ns },
          spec: { selector: { app: "backend" }, ports: [{ port: 80, targetPort: 8080 }] },
        },
      ],
    }),
  );
  await waitForPodIp(ns, "backend");
  const reply = await eventually(
    "the backend answers through its Service name",
    () => {
      const out = probePod(ns, "web", `backend.${ns}.svc.cluster.local`, 80);
      return out === "backend" ? out : undefined;
    },
    60_000,
    1000,
  );
  assert.equal(reply, "backend");
});

test("a pod of RuntimeClass gvisor runs under gVisor's kernel, a runc pod under the machine's", () => {
  const script = "uname -r; dmesg | head -3; sleep 3600";
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        realNodePod(ns, "sandboxed", ["sh", "-c", script], {}, "gvisor"),
        realNodePod(ns, "plain", ["sh", "-c", script]),
      ],
    }),
  );
  kubectl(["wait", "-n", ns, "--for=condition=Ready", "pod/sandboxed", "pod/plain", "--timeout=120s"]);
  const host = kubectl(["exec", "-n", ns, "plain", "--", "uname", "-r"]).trim();
  const sandboxed = kubectl(["exec", "-n", ns, "sandboxed", "--", "uname", "-r"]).trim();
  const dmesg = kubectl(["exec", "-n", ns, "sandboxed", "--", "dmesg"]);
  assert.notEqual(sandboxed, host, "gVisor reports its own kernel version, not the machine's");
  assert.match(dmesg, /gVisor/, "gVisor's boot messages");
});

test("kube-router enforces a NetworkPolicy: default deny stops traffic that flowed", async () => {
  await waitForPodIp(ns, "backend");
  const ip = await waitForPodIp(ns, "backend");
  assert.equal(probePod(ns, "web", ip, 8080), "backend", "allowed before any policy");
  kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "deny-all", namespace: ns },
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    }),
  );
  await eventually(
    "the policy blocks the connection",
    () => probePod(ns, "web", ip, 8080) === "",
    30_000,
    1000,
  );
});
