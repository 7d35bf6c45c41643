import { createHash } from "node:crypto";

export function sha256Text(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * Monolithic blob upload straight to the registry (for blobs skopeo cannot carry, e.g. 0 bytes).
 * `headers`: e.g. a push token for a registry with token auth (see pushHeaders).
 */
export async function pushRawBlob(registryUrl: string, repository: string, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  const digest = sha256Text(bytes);
  const start = await fetch(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: "POST", headers });
  if (start.status !== 202) {
    throw new Error(`upload start: ${start.status}`);
  }
  const location = new URL(start.headers.get("location")!, registryUrl);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body: Buffer.from(bytes), headers: { ...headers, "content-type": "application/octet-stream" } });
  if (put.status !== 201) {
    throw new Error(`upload put: ${put.status}`);
  }
  return digest;
}
