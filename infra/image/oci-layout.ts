// Writes OCI image layouts (https://github.com/opencontainers/image-spec,
// layout.md) from root filesystem folders, without a container daemon: one
// gzip layer per folder, made deterministic (entries sorted, owner 0:0,
// mtime 0), an image config, a manifest and index.json. The same bytes give
// the same digests, so a rebuild of unchanged inputs changes nothing.
// Used by image/build.ts (the TDS image); any other image of the project
// (the local node's pause and sample images) can be written the same way.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";

export interface ImageConfig {
  readonly user: string;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly exposedPorts?: readonly string[];
}

export interface LayoutOptions {
  /** The layout folder; replaced. */
  readonly dir: string;
  /** Root filesystem folders, one layer each, lowest first. */
  readonly layers: readonly string[];
  readonly config: ImageConfig;
  /** The image's name in index.json (annotation org.opencontainers.image.ref.name), e.g. "tds:0.1.0". */
  readonly refName: string;
  readonly architecture?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Record<string, string>;
}

export interface WrittenImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly (Descriptor & { readonly diffId: string })[];
}

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

export const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A deterministic tar of `root`'s content (GNU tar: sorted names, owner 0:0, mtime 0, POSIX format). */
export function tarFolder(root: string): Buffer {
  return execFileSync(
    "tar",
    [
      "--create",
      "--file=-",
      `--directory=${root}`,
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--format=posix",
      "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
      ".",
    ],
    { maxBuffer: 2 ** 31 },
  );
}

export function writeOciLayout(opts: LayoutOptions): WrittenImage {
  rmSync(opts.dir, { recursive: true, force: true });
  const blobs = join(opts.dir, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Buffer, mediaType: string): Descriptor => {
    const digest = sha256(bytes);
    writeFileSync(join(blobs, digest.slice("sha256:".length)), bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const layers = opts.layers.map((root) => {
    const tar = tarFolder(root);
    // gzip's header carries no name and mtime 0 (zlib's default), so the bytes depend on the content only.
    return { ...put(gzipSync(tar, { level: 6 }), MEDIA_TYPES.layer), diffId: sha256(tar) };
  });
  const c = opts.config;
  const configJson = {
    created: "1970-01-01T00:00:00Z",
    architecture: opts.architecture ?? "amd64",
    os: "linux",
    config: {
      User: c.user,
      ...(c.entrypoint ? { Entrypoint: c.entrypoint } : {}),
      ...(c.cmd ? { Cmd: c.cmd } : {}),
      ...(c.env ? { Env: c.env } : {}),
      ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
      ...(c.labels ? { Labels: c.labels } : {}),
      ...(c.exposedPorts ? { ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) } : {}),
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: "1970-01-01T00:00:00Z", created_by: "image/oci-layout.ts" })),
  };
  const config = put(Buffer.from(JSON.stringify(configJson)), MEDIA_TYPES.config);
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    ...(c.labels ? { annotations: c.labels } : {}),
  };
  const manifest = put(Buffer.from(JSON.stringify(manifestJson)), MEDIA_TYPES.manifest);
  writeFileSync(join(opts.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const ref = { ...manifest, annotations: { "org.opencontainers.image.ref.name": opts.refName } };
  writeFileSync(
    join(opts.dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [ref] }),
  );
  return { manifest: ref, config, layers };
}

/** Reads a blob of a layout by digest. */
export function readBlob(layoutDir: string, digest: string): Buffer {
  return readFileSync(join(layoutDir, "blobs", "sha256", digest.replace(/^sha256:/, "")));
}

/**
 * Copies a dynamically linked binary's shared libraries (as `ldd` resolves
 * them on this host, the dynamic loader included) into `root` at the paths
 * the binary asks for, so the binary runs in an image without a base layer.
 * Returns the paths copied.
 */
export function copySharedLibraries(binary: string, root: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  const paths: string[] = [];
  for (const line of out.split("\n")) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) paths.push(m[1]);
  }
  for (const p of paths) {
    const target = join(root, p);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(realpathSync(p), target);
  }
  return paths;
}
