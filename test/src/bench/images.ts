import { execFile } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { mkdirSync, openSync, closeSync, readdirSync, renameSync, writeFileSync, writeSync, createReadStream } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { inNetns, requireProgram } from "./process.js";

const run = promisify(execFile);

interface BlobFile {
  readonly digest: string;
  readonly size: number;
}

export interface TestImage {
  readonly dir: string;
  readonly isIndex: boolean;
  /** Every config and layer blob of the image (all platforms). */
  readonly blobs: readonly BlobFile[];
  readonly layers: readonly BlobFile[];
  readonly manifestDigest: string;
}

export interface ImageSpec {
  /** Layer sizes in bytes (each >= 10: a gzip header then random bytes). */
  readonly layers: readonly number[];
  readonly format: "oci" | "docker";
  /** e.g. ["linux/amd64", "linux/arm64"]: a multi-arch index with one image per platform. */
  readonly platforms?: readonly string[];
}

const MEDIA = {
  oci: {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    index: "application/vnd.oci.image.index.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar+gzip",
  },
  docker: {
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    index: "application/vnd.docker.distribution.manifest.list.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  },
} as const;

// skopeo recompresses layers that do not look compressed; a gzip header keeps bytes exact.
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Write `size` random bytes (after the gzip header) to the image dir; returns the blob. */
function writeRandomLayer(dir: string, size: number): BlobFile {
  if (size < GZIP_MAGIC.length) {
    throw new Error(`layer of ${size} bytes: minimum is ${GZIP_MAGIC.length}`);
  }
  const tmp = path.join(dir, `layer-${process.hrtime.bigint()}.tmp`);
  const fd = openSync(tmp, "w");
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  writeSync(fd, GZIP_MAGIC);
  hash.update(GZIP_MAGIC);
  for (let left = size - GZIP_MAGIC.length; left > 0;) {
    const n = Math.min(left, buf.length);
    const chunk = buf.subarray(0, n);
    randomFillSync(chunk);
    writeSync(fd, chunk);
    hash.update(chunk);
    left -= n;
  }
  closeSync(fd);
  const hex = hash.digest("hex");
  renameSync(tmp, path.join(dir, hex));
  return { digest: `sha256:${hex}`, size };
}

function writeJson(dir: string, name: (hex: string) => string, value: unknown): BlobFile {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = sha256(bytes);
  writeFileSync(path.join(dir, name(hex)), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** Build an image in skopeo's `dir:` layout. */
export function createImage(dir: string, spec: ImageSpec): TestImage {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "version"), "Directory Transport Version: 1.1\n");
  const media = MEDIA[spec.format];
  const blobs: BlobFile[] = [];
  const layersAll: BlobFile[] = [];

  const buildImage = (platform: string) => {
    const [os, architecture] = platform.split("/");
    const layers = spec.layers.map((size) => writeRandomLayer(dir, size));
    const config = writeJson(dir, (h) => h, {
      architecture, os, created: new Date(0).toISOString(),
      config: {}, rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    });
    blobs.push(config, ...layers);
    layersAll.push(...layers);
    return {
      schemaVersion: 2, mediaType: media.manifest,
      config: { mediaType: media.config, size: config.size, digest: config.digest },
      layers: layers.map((l) => ({ mediaType: media.layer, size: l.size, digest: l.digest })),
    };
  };

  if (!spec.platforms) {
    const m = writeJson(dir, () => "manifest.json", buildImage("linux/amd64"));
    return { dir, isIndex: false, blobs, layers: layersAll, manifestDigest: m.digest };
  }
  const children = spec.platforms.map((platform) => {
    const child = writeJson(dir, (h) => `${h}.manifest.json`, buildImage(platform));
    const [os, architecture] = platform.split("/");
    return { mediaType: media.manifest, size: child.size, digest: child.digest, platform: { architecture, os } };
  });
  const index = writeJson(dir, () => "manifest.json", { schemaVersion: 2, mediaType: media.index, manifests: children });
  return { dir, isIndex: true, blobs, layers: layersAll, manifestDigest: index.digest };
}

/** skopeo copy with a time limit (inside `netns` if given); errors carry skopeo's stderr. */
async function skopeo(args: string[], timeoutMs: number, netns?: string): Promise<void> {
  requireProgram("skopeo");
  try {
    const [file, argv] = inNetns(netns, "skopeo", args);
    await run(file, argv, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  } catch (err: unknown) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** `creds` ("user:password") for registries that want them (skopeo does the token flow itself). */
export async function pushImage(image: TestImage, host: string, ref: string, timeoutMs = 300_000, creds?: string): Promise<void> {
  await skopeo(["copy", ...(image.isIndex ? ["--all"] : []), "--dest-tls-verify=false", ...(creds ? ["--dest-creds", creds] : []),
    `dir:${image.dir}`, `docker://${host}/${ref}`], timeoutMs);
}

/** Anonymous unless `creds`; skopeo answers token challenges itself, straight to the realm. */
export async function pullImage(
  host: string, ref: string, outDir: string, opts: { all?: boolean; timeoutMs?: number; creds?: string; netns?: string } = {},
): Promise<string> {
  await skopeo(["copy", ...(opts.all ? ["--all"] : []), "--src-tls-verify=false", ...(opts.creds ? ["--src-creds", opts.creds] : []),
    `docker://${host}/${ref}`, `dir:${outDir}`], opts.timeoutMs ?? 300_000, opts.netns);
  return outDir;
}

export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file).on("data", (c) => h.update(c)).on("error", reject).on("end", () => resolve(`sha256:${h.digest("hex")}`));
  });
}

/** Every blob of the image is in the pulled dir and its bytes hash to its digest. */
export async function verifyPulled(image: TestImage, pulledDir: string): Promise<void> {
  const files = new Set(readdirSync(pulledDir));
  for (const blob of image.blobs) {
    const hex = blob.digest.slice("sha256:".length);
    if (!files.has(hex)) {
      throw new Error(`blob ${blob.digest} missing from pull`);
    }
    const actual = await hashFile(path.join(pulledDir, hex));
    if (actual !== blob.digest) {
      throw new Error(`blob ${blob.digest} pulled with wrong bytes (${actual})`);
    }
  }
}
