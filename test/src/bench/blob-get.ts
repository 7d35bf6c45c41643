import { createHash } from "node:crypto";
import { get as httpGet } from "node:http";

export interface BlobResult {
  readonly bytes: number;
  readonly firstByteMs: number;
}

/**
 * GET one blob through a client, hashing it as it streams; rejects unless it is a 200 with the
 * digest's bytes. node:http, not fetch(): a web-stream reader in the bench was slow enough to
 * pace the client. Resolves with the byte count and the time to the first body byte.
 */
export function getBlob(client: { readonly url: string }, repository: string, digest: string): Promise<BlobResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    httpGet(`${client.url}/v2/${repository}/blobs/${digest}`, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${digest}: ${res.statusCode}`));
        return;
      }
      const hash = createHash("sha256");
      let bytes = 0;
      let firstByteMs = -1;
      res.on("data", (chunk: Buffer) => {
        firstByteMs = firstByteMs < 0 ? performance.now() - t0 : firstByteMs;
        hash.update(chunk);
        bytes += chunk.length;
      });
      res.on("error", reject);
      res.on("end", () => (`sha256:${hash.digest("hex")}` === digest ? resolve({ bytes, firstByteMs }) : reject(new Error(`GET ${digest}: wrong bytes`))));
    }).on("error", reject);
  });
}
