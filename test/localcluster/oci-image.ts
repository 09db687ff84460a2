// Daemonless OCI images: one layer written as a tar with fixed times and owners,
// gzip'd, and wrapped in an OCI image layout tar that `ctr images import` loads.
// No Docker, no registry, no base image: the image holds exactly the files given.
// The same bytes in give the same digests out, so images are named by digest.
//
// Use from TypeScript (buildOciImage) or the command line:
//   node --import tsx test/localcluster/oci-image.ts OUT.tar NAME ENTRYPOINT FILE=SRC...
// which prints the image reference NAME@sha256:... (the manifest digest).
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

/** One entry of the image's single layer. */
export type LayerEntry =
  | { readonly path: string; readonly type: "file"; readonly content: Buffer; readonly mode?: number }
  | { readonly path: string; readonly type: "dir"; readonly mode?: number }
  | { readonly path: string; readonly type: "symlink"; readonly target: string };

export interface OciImageSpec {
  /** Repository part of the name, e.g. `tds.local/pause`; the reference adds `@sha256:<manifest>`. */
  readonly name: string;
  readonly entries: readonly LayerEntry[];
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly user?: string;
  readonly workingDir?: string;
}

export interface OciImage {
  /** `name@sha256:...`, the manifest's digest: what a pod spec names. */
  readonly reference: string;
  readonly manifestDigest: string;
  /** The OCI layout as one tar, for `ctr -n k8s.io images import`. */
  readonly layoutTar: Buffer;
}

const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

/** A ustar header; names over 100 bytes go to the prefix field (split at a slash). */
function header(path: string, typeflag: string, size: number, mode: number, linkname = ""): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/", 154);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar path too long: ${path}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  if (Buffer.byteLength(linkname) > 100) throw new Error(`symlink target too long: ${linkname}`);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode & 0o7777, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii"); // mtime: fixed, so digests depend on content only
  h.fill(" ", 148, 156); // checksum placeholder
  h.write(typeflag, 156, "ascii");
  h.write(linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** A tar of the entries in the order given (parents before children), ending in two zero blocks. */
export function tarOf(entries: readonly LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, "");
    if (e.type === "file") {
      parts.push(header(path, "0", e.content.length, e.mode ?? 0o644), pad(e.content));
    } else if (e.type === "dir") {
      parts.push(header(path.endsWith("/") ? path : `${path}/`, "5", 0, e.mode ?? 0o755));
    } else {
      parts.push(header(path, "2", 0, 0o777, e.target));
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Builds the image: layer, config, manifest and the OCI layout that carries them. */
export function buildOciImage(spec: OciImageSpec): OciImage {
  const layerTar = tarOf(spec.entries);
  const layer = gzipSync(layerTar, { level: 9 });
  // gzip's header holds no time or name here (zlib writes mtime 0), so the bytes are reproducible.
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {
        Entrypoint: spec.entrypoint,
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        Env: spec.env ?? ["PATH=/bin"],
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      },
      rootfs: { type: "layers", diff_ids: [sha256(layerTar)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length },
      ],
    }),
  );
  const manifestDigest = sha256(manifest);
  const reference = `${spec.name}@${manifestDigest}`;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: manifest.length,
          annotations: { "io.containerd.image.name": reference },
        },
      ],
    }),
  );
  const blob = (data: Buffer): LayerEntry => ({
    path: `blobs/sha256/${sha256(data).slice("sha256:".length)}`,
    type: "file",
    content: data,
  });
  const layoutTar = tarOf([
    { path: "oci-layout", type: "file", content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { path: "index.json", type: "file", content: index },
    { path: "blobs", type: "dir" },
    { path: "blobs/sha256", type: "dir" },
    blob(config),
    blob(layer),
    blob(manifest),
  ]);
  return { reference, manifestDigest, layoutTar };
}

/** A file from the machine, keeping its executable bit. */
export function hostFile(path: string, from: string): LayerEntry {
  const mode = statSync(from).mode & 0o111 ? 0o755 : 0o644;
  return { path, type: "file", content: readFileSync(from), mode };
}

if (import.meta.url === `file://${process.argv[1] ?? ""}`) {
  const [out, name, entrypoint, ...files] = process.argv.slice(2);
  if (!out || !name || !entrypoint) {
    console.error("usage: oci-image.ts OUT.tar NAME ENTRYPOINT [PATH_IN_IMAGE=HOST_FILE ...]");
    process.exit(2);
  }
  const entries = files.map((f) => {
    const [path, from] = f.split("=");
    if (!path || !from) throw new Error(`expected PATH_IN_IMAGE=HOST_FILE, got ${f}`);
    return hostFile(path, from);
  });
  const image = buildOciImage({ name, entries, entrypoint: [entrypoint] });
  writeFileSync(out, image.layoutTar);
  console.log(image.reference);
}
