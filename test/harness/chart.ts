// The Helm chart (charts/tds) rendered by the real helm, built from its Go
// module by test/localcluster/build-release-tools.sh (cached in ~/.cache/tds).
// Tests and the demo take the chart's objects from here instead of reading
// template files: what they apply is what `helm install` would.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "./environment.ts";

export const chartDir = join(repoRoot, "charts/tds");

let toolsDir: string | undefined;

/** The folder holding helm and crane (built on first use, then reused). */
export function releaseToolsDir(): string {
  if (toolsDir) return toolsDir;
  const out = execFileSync(join(repoRoot, "test/localcluster/build-release-tools.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = out.trim().split("\n").pop();
  if (!dir) throw new Error("test/localcluster/build-release-tools.sh printed no folder");
  toolsDir = dir;
  return dir;
}

/** Runs helm; throws with helm's stderr on failure. */
export function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(join(releaseToolsDir(), "helm"), args, {
    encoding: "utf8",
    env: { ...process.env, ...env, HELM_CACHE_HOME: join(tmpdir(), "tds-helm-cache") },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace: string;
  /** Values, written to a file as JSON and passed with -f (numbers stay numbers, "yes" stays a string). */
  readonly values?: Record<string, unknown>;
  /** Template files to render, e.g. ["templates/rbac.yaml"]; all when unset. */
  readonly showOnly?: readonly string[];
  readonly includeCrds?: boolean;
}

export type ChartObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/** `helm template` output as YAML text. */
export function templateChart(opts: RenderOptions): string {
  const dir = mkdtempSync(join(tmpdir(), "tds-values-"));
  try {
    const file = join(dir, "values.json");
    writeFileSync(file, JSON.stringify(opts.values ?? {}));
    return helm([
      "template",
      opts.release ?? "tds",
      chartDir,
      "--namespace",
      opts.namespace,
      "-f",
      file,
      ...(opts.includeCrds ? ["--include-crds"] : []),
      ...(opts.showOnly ?? []).flatMap((f) => ["--show-only", f]),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The chart's objects as `helm template` renders them. */
export function renderChart(opts: RenderOptions): ChartObject[] {
  return parseAllDocuments(templateChart(opts))
    .map((d) => d.toJS() as ChartObject | null)
    .filter((o): o is ChartObject => o !== null);
}
