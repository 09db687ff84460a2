// Loads an OCI image layout (infra/image/oci-layout.ts) into the real node's
// containerd, named by digest (`<repository>@sha256:…`), so that pods that
// name it so run it without a registry. The index's `io.containerd.image.name`
// annotation gives the name; `ctr images import` takes the layout as a tar.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface Index {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

export interface LayoutTar {
  /** `repository@sha256:<manifest digest>`, the name pods use. */
  readonly reference: string;
  readonly tar: string;
}

/** Names the layout's one image `repository@digest` (index annotation) and tars the layout beside it. */
export function layoutTar(layoutDir: string, repository: string): LayoutTar {
  const indexFile = join(layoutDir, "index.json");
  const index = JSON.parse(readFileSync(indexFile, "utf8")) as Index;
  const manifest = index.manifests[0];
  if (!manifest || index.manifests.length !== 1) throw new Error(`${indexFile}: expected one image`);
  const reference = `${repository}@${manifest.digest}`;
  manifest.annotations = { ...(manifest.annotations ?? {}), "io.containerd.image.name": reference };
  writeFileSync(indexFile, JSON.stringify(index));
  const tar = `${layoutDir}.tar`;
  execFileSync("tar", ["-C", layoutDir, "-cf", tar, "."]);
  return { reference, tar };
}

/** Where the real node's containerd is (EnvironmentInfo's TDS_NODE_BIN_DIR and TDS_CONTAINERD_ADDRESS). */
export interface NodeRuntime {
  readonly TDS_NODE_BIN_DIR: string;
  readonly TDS_CONTAINERD_ADDRESS: string;
}

/** ctr of the real node: `node`, or the variables a test runs with. */
function ctr(args: readonly string[], node?: NodeRuntime): string {
  const bin = node?.TDS_NODE_BIN_DIR ?? process.env.TDS_NODE_BIN_DIR;
  const address = node?.TDS_CONTAINERD_ADDRESS ?? process.env.TDS_CONTAINERD_ADDRESS;
  if (!bin || !address)
    throw new Error("no real node in this environment (TDS_NODE_BIN_DIR, TDS_CONTAINERD_ADDRESS)");
  return execFileSync(join(bin, "bin/ctr"), [`--address=${address}`, "-n", "k8s.io", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Imports the layout's one image as `repository@digest` and returns that reference. */
export function importLayout(layoutDir: string, repository: string, node?: NodeRuntime): string {
  const { reference, tar } = layoutTar(layoutDir, repository);
  ctr(["images", "import", tar], node);
  return reference;
}

/** The containers containerd has for pods of a namespace (by the CRI's pod namespace label). */
export function containersOfNamespace(namespace: string): string[] {
  return ctr(["containers", "ls", "-q", `labels."io.kubernetes.pod.namespace"==${namespace}`])
    .split("\n")
    .filter(Boolean);
}

/** Those of the namespace's containers whose task (process) is running. */
export function runningContainersOfNamespace(namespace: string): string[] {
  const ids = new Set(containersOfNamespace(namespace));
  // `ctr tasks ls`: a header, then "TASK PID STATUS" rows, TASK being the container id.
  return ctr(["tasks", "ls"])
    .split("\n")
    .slice(1)
    .map((row) => row.trim().split(/\s+/))
    .filter(([id, , status]) => id !== undefined && ids.has(id) && status === "RUNNING")
    .map(([id]) => id ?? "");
}
