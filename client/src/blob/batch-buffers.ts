/** Bytes per batch buffer: one HTTP write each, and one block of a shared fetch's replay window. */
export const BATCH_BYTES = 256 * 1024;

/**
 * Recycled 256 KB buffers for payload bytes. Segment payloads arrive as views into the uplink
 * socket's 64 KB read chunks; anything that keeps them beyond the current batch is copied in here
 * instead, so no view keeps a socket chunk alive long enough to be promoted: the copy costs less
 * than the collections (docs/performance.md, "Views that outlived their socket read"). A buffer
 * is given back only when nothing reads it.
 */
const spare: Buffer[] = [];
const MAX_SPARE = 64;

function takeBatchBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
}

export function giveBackBatchBuffer(buf: Buffer): void {
  if (spare.length < MAX_SPARE) {
    spare.push(buf);
  }
}

/** Copies pieces back to back into pooled batch buffers, handing on each buffer as it fills. */
export class BatchFiller {
  private current?: Buffer;
  private used = 0;
  /** Bytes appended so far, counted before a full buffer is handed on. */
  total = 0;

  constructor(private readonly onFull: (buf: Buffer) => void) {}

  append(piece: Uint8Array): void {
    for (let at = 0; at < piece.length;) {
      this.current ??= takeBatchBuffer();
      const n = Math.min(piece.length - at, BATCH_BYTES - this.used);
      this.current.set(n === piece.length ? piece : piece.subarray(at, at + n), this.used);
      this.used += n;
      this.total += n;
      at += n;
      if (this.used === BATCH_BYTES) {
        const full = this.current;
        this.current = undefined;
        this.used = 0;
        this.onFull(full);
      }
    }
  }

  /** The partly filled buffer and its length, if any; later pieces go into a new one. */
  takePartial(): { buf: Buffer; length: number } | undefined {
    const buf = this.current;
    if (!buf) {
      return undefined;
    }
    const length = this.used;
    this.current = undefined;
    this.used = 0;
    return { buf, length };
  }
}
