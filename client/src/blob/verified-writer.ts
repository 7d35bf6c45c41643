import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import type { Writable } from "node:stream";

import type { Sha256Digest } from "@ndnreg/shared/ndn";

import type { ByteRange } from "../http/range.js";
import { BATCH_BYTES, BatchFiller, giveBackBatchBuffer } from "./batch-buffers.js";

export class DigestMismatchError extends Error {}

/**
 * Hashes a blob from byte 0 while writing only the requested window to the response. The batch
 * holding the window's last byte is written only once the whole blob has been hashed, so a body
 * whose bytes do not match the digest is never completed: on a mismatch the caller destroys the
 * response. Bytes that were each checked against a signed manifest (see begin()) are not hashed:
 * they may start anywhere before the window, and the body completes once the window is in. Pieces
 * are copied into batches of BATCH_BYTES as they come (the caller may reuse its buffers as soon as
 * a push returns) and written one batch per call: each write costs a syscall and
 * a wake-up of the reader. `out` must be done with a chunk when it calls back (sockets and HTTP
 * responses are), as the batch buffer is reused after that.
 */
export class VerifiedWriter {
  private hash?: Hash = createHash("sha256");
  private offset = 0;
  private begun = false;
  private readonly windowBytes: number;
  /** Batches filled but not yet written (more than one only while holding all). */
  private readonly filled: Buffer[] = [];
  /** Copies of the window's bytes; `total` is how many of windowBytes are in. */
  private readonly batches = new BatchFiller((full) => {
    this.filled.push(full);
    // The batch with the window's last byte waits for finish() and the digest check.
    if (!this.holdAll && this.batches.total < this.windowBytes) {
      this.writeFilled();
    }
  });
  private written = 0;
  private verified = false;
  private backpressure = false;

  constructor(
    private readonly out: Writable,
    private readonly digest: Sha256Digest,
    private readonly size: number,
    private readonly window: ByteRange,
    /** Aborted when the caller goes away, so a wait for `drain` cannot hang. */
    private readonly signal: AbortSignal,
    /**
     * Write nothing before the whole blob is verified (small blobs): the caller can then still
     * answer with other bytes if this copy turns out wrong.
     */
    private readonly holdAll = false,
  ) {
    this.windowBytes = window.end + 1 - window.start;
  }

  /**
   * Where the first bytes pushed sit in the blob, and whether they were checked segment by segment
   * (then nothing is hashed). Without a call, bytes start at 0 and are hashed.
   */
  begin(offset: number, verified: boolean): void {
    if (this.begun) {
      return;
    }
    this.begun = true;
    if (verified) {
      this.hash = undefined;
      this.offset = offset;
    } else if (offset !== 0) {
      throw new Error(`unverified bytes must start at 0, not ${offset}`);
    }
  }

  /** Bytes of the blob received so far: where a fallback must resume. */
  get position(): number {
    return this.offset;
  }

  /** The last byte a resume must read: the window's end when bytes are checked per segment, else the blob's. */
  get lastNeeded(): number {
    return this.hash ? this.size - 1 : this.window.end;
  }

  /** Bytes of the window handed to the response so far. */
  get bytesWritten(): number {
    return this.written;
  }

  async push(chunk: Uint8Array): Promise<void> {
    await this.pushAll([chunk]);
  }

  /**
   * Several consecutive pieces at once (a batch of segments); waits only if the response is full.
   * The pieces have been copied when it returns.
   */
  async pushAll(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      this.take(chunk);
    }
    await this.drained();
  }

  private take(chunk: Uint8Array): void {
    this.begun = true;
    const begin = this.offset;
    this.offset += chunk.length;
    if (this.offset > this.size) {
      throw new DigestMismatchError(`blob longer than its ${this.size} bytes`);
    }
    this.hash?.update(chunk);
    const from = Math.max(begin, this.window.start);
    const to = Math.min(this.offset, this.window.end + 1);
    if (to <= from) {
      return;
    }
    this.batches.append(chunk.subarray(from - begin, to - begin));
  }

  /**
   * Throws DigestMismatchError unless the whole blob arrived and hashes to its digest (or, with
   * bytes checked per segment, unless the window arrived).
   */
  verify(): void {
    if (this.verified) {
      return;
    }
    if (!this.hash) {
      if (this.offset <= this.window.end) {
        throw new DigestMismatchError(`bytes ended at ${this.offset}, before the window's end ${this.window.end}`);
      }
      this.verified = true;
      return;
    }
    if (this.offset !== this.size) {
      throw new DigestMismatchError(`blob ended at ${this.offset} of ${this.size} bytes`);
    }
    const actual = this.hash.digest("hex");
    if (actual !== this.digest.hex) {
      throw new DigestMismatchError(`content hashes to sha256:${actual}, expected ${this.digest.text}`);
    }
    this.verified = true;
  }

  /** Verify the digest, then release the held-back bytes. */
  async finish(): Promise<void> {
    this.verify();
    this.writeFilled();
    const last = this.batches.takePartial();
    if (last) {
      this.write(last.buf, last.length);
    }
    await this.drained();
  }

  /** Returns once the response has room again, if a write filled it. */
  private async drained(): Promise<void> {
    if (this.backpressure) {
      this.backpressure = false;
      await once(this.out, "drain", { signal: this.signal });
    }
  }

  private writeFilled(): void {
    for (const buf of this.filled.splice(0)) {
      this.write(buf, BATCH_BYTES);
    }
  }

  private write(buf: Buffer, length: number): void {
    this.written += length;
    if (!this.out.write(buf.subarray(0, length), () => giveBackBatchBuffer(buf))) {
      this.backpressure = true;
    }
  }
}
