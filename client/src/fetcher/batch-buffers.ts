/** Bytes per batch buffer: one HTTP write each, and one block of a shared fetch's replay window. */
export const BATCH_BYTES = 256 * 1024;

/**
 * Recycled 256 KB buffers for payload bytes. Segment payloads arrive as views into the uplink
 * socket's 64 KB read chunks; anything that keeps them beyond the current batch is copied in here
 * instead, because views kept the chunks alive long enough for V8 to promote them, and the extra
 * mark-compacts cost more than the copy (ten rounds of three 30 MB blobs at once: client busy
 * time 13.9 s with views, 9.9 s with copies). A buffer is given back only when nothing reads it.
 */
const spare: Buffer[] = [];
const MAX_SPARE = 64;

export function takeBatchBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
}

export function giveBackBatchBuffer(buf: Buffer): void {
  if (spare.length < MAX_SPARE) {
    spare.push(buf);
  }
}
