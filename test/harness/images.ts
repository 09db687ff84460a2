// Loads an OCI image layout (infra/image/oci-layout.ts) into the real node's
// containerd, named by digest (`<repository>@sha256:…`), so that pods that
// name it so run it without a registry. The index's `io.containerd.image.name`
// annotation gives the name; `ctr images import` takes the layout as a tar.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { env } from "./testkit.ts";

interface Index {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}

/** Imports the layout's one image as `repository@digest` and returns that reference. */
export function importLayout(layoutDir: string, repository: string): string {
  const indexFile = join(layoutDir, "index.json");
  const index = JSON.parse(readFileSync(indexFile, "utf8")) as Index;
  const manifest = index.manifests[0];
  if (!manifest || index.manifests.length !== 1) throw new Error(`${indexFile}: expected one image`);
  const reference = `${repository}@${manifest.digest}`;
  manifest.annotations = { ...(manifest.annotations ?? {}), "io.containerd.image.name": reference };
  writeFileSync(indexFile, JSON.stringify(index));
  const tar = `${layoutDir}.tar`;
  execFileSync("tar", ["-C", layoutDir, "-cf", tar, "."]);
  execFileSync(
    join(env("TDS_NODE_BIN_DIR"), "bin/ctr"),
    [`--address=${env("TDS_CONTAINERD_ADDRESS")}`, "-n", "k8s.io", "images", "import", tar],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return reference;
}

/** The containers containerd runs for pods of a namespace (by the CRI's pod namespace label). */
export function containersOfNamespace(namespace: string): string[] {
  const out = execFileSync(
    join(env("TDS_NODE_BIN_DIR"), "bin/ctr"),
    [
      `--address=${env("TDS_CONTAINERD_ADDRESS")}`,
      "-n",
      "k8s.io",
      "containers",
      "ls",
      "-q",
      `labels."io.kubernetes.pod.namespace"==${namespace}`,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  return out.split("\n").filter(Boolean);
}
