import { createHash } from "node:crypto";
import path from "node:path";

import type { BlobLog, ClientHandle, Stack, TestImage } from "../bench/index.js";
import { createImage, type ImageSpec, pushImage } from "../bench/index.js";

let seq = 0;

/** Create an image under the stack's run dir and push it to the stack's registry. */
export async function pushTestImage(stack: Stack, ref: string, spec: ImageSpec): Promise<TestImage> {
  const image = createImage(path.join(stack.runDir, `image-${++seq}`), spec);
  await pushImage(image, stack.registry.host, ref);
  return image;
}

export function sha256Text(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Monolithic blob upload straight to the registry (for blobs skopeo cannot carry, e.g. 0 bytes). */
export async function pushRawBlob(registryUrl: string, repository: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256Text(bytes);
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: "POST" });
  if (start.status !== 202) {
    throw new Error(`upload start: ${start.status}`);
  }
  const location = new URL(start.headers.get("location")!, registryUrl);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: Buffer.from(bytes), headers: { "content-type": "application/octet-stream" } });
  if (put.status !== 201) {
    throw new Error(`upload put: ${put.status}`);
  }
  return digest;
}

/**
 * Where each blob's bytes came from, per the client's "blob done" log lines (waited for: the line
 * is written just after the response ends).
 */
export async function blobSources(client: ClientHandle, digests: readonly string[]): Promise<Map<string, BlobLog["source"] | "missing">> {
  const out = new Map<string, BlobLog["source"] | "missing">();
  for (const d of digests) {
    try {
      await client.proc.waitForLine(new RegExp(`"digest":"${d}".*"blob done"`), 5000);
    } catch {
      out.set(d, "missing");
      continue;
    }
    out.set(d, client.blobLogs().findLast((l) => l.digest === d)!.source);
  }
  return out;
}
