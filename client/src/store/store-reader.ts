import { createReadStream } from "node:fs";

import type { BlobStore } from "./blob-store.js";

/** Read size per chunk: one batch of the verified writer. */
const READ_BYTES = 256 * 1024;

/**
 * The stored bytes of `hex` from byte 0, in chunks. A reader opened before an eviction keeps its
 * file (unlinked files stay readable while open).
 */
export async function* readStoredBlob(store: BlobStore, hex: string, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  store.touch(hex);
  const stream = createReadStream(store.blobPath(hex), { highWaterMark: READ_BYTES, signal });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    yield chunk;
  }
}
