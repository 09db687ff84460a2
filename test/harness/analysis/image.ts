// The image of the demo's sample analysis (failure-rates.ts): Node alone
// (infra/image's runtime layer) and a layer with the program, written as an
// OCI layout with the project's own writer, then imported into the real
// node's containerd under a digest name (images.ts). Rebuilt only when the
// program or Node change: the same files give the same digest.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { IMAGE_USER, NODE_PATH, pinnedNode, writeNodeRuntime } from "../../../infra/image/build.ts";
import { writeOciLayout } from "../../../infra/image/oci-layout.ts";

export const ANALYSIS_REPOSITORY = "tds.local/sample-analysis";
export const ANALYSIS_PROGRAM = "/analysis/failure-rates.ts";

/** Writes the layout into `dir` and returns it with the manifest digest. */
export function buildAnalysisImage(dir: string): { layout: string; digest: string } {
  const runtime = join(dir, "runtime");
  const program = join(dir, "program");
  writeNodeRuntime(runtime, pinnedNode());
  rmSync(program, { recursive: true, force: true });
  mkdirSync(join(program, "analysis"), { recursive: true });
  cpSync(join(import.meta.dirname, "failure-rates.ts"), join(program, ANALYSIS_PROGRAM));
  const layout = join(dir, "oci");
  const image = writeOciLayout({
    dir: layout,
    layers: [runtime, program],
    refName: "sample-analysis:1",
    config: {
      user: `${IMAGE_USER}:${IMAGE_USER}`,
      entrypoint: [NODE_PATH, ANALYSIS_PROGRAM],
      env: ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp"],
      workingDir: "/tmp",
    },
  });
  return { layout, digest: image.manifest.digest };
}
