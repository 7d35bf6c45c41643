import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import type { Writable } from "node:stream";

import type { Sha256Digest } from "@ndnreg/shared";

import type { ByteRange } from "../http/range.js";

export class DigestMismatchError extends Error {}

/** Pieces are written to the response in batches of about this size (one syscall each). */
const BATCH_BYTES = 256 * 1024;

/**
 * Hashes a blob from byte 0 while writing only the requested window to the response. The last
 * piece of the window is held back until the whole blob has been hashed, so a body whose bytes
 * do not match the digest is never completed: on a mismatch the caller destroys the response.
 * Released pieces are written in batches: one write per 8000-byte segment cost more CPU (a
 * syscall and a wake-up of the reader each) than all of the NDN packet handling.
 */
export class VerifiedWriter {
  private readonly hash: Hash = createHash("sha256");
  private offset = 0;
  private held?: Uint8Array;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private written = 0;
  private verified = false;

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
  ) {}

  /** Bytes of the blob hashed so far: where a fallback must resume. */
  get position(): number {
    return this.offset;
  }

  /** Bytes of the window handed to the response so far. */
  get bytesWritten(): number {
    return this.written;
  }

  async push(chunk: Uint8Array): Promise<void> {
    this.take(chunk);
    if (this.batchBytes >= BATCH_BYTES && !this.holdAll) {
      await this.flush();
    }
  }

  /** Several consecutive pieces at once (a batch of segments): at most one write. */
  async pushAll(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      this.take(chunk);
    }
    if (this.batchBytes >= BATCH_BYTES && !this.holdAll) {
      await this.flush();
    }
  }

  private take(chunk: Uint8Array): void {
    const begin = this.offset;
    this.offset += chunk.length;
    if (this.offset > this.size) {
      throw new DigestMismatchError(`blob longer than its ${this.size} bytes`);
    }
    this.hash.update(chunk);
    const from = Math.max(begin, this.window.start);
    const to = Math.min(this.offset, this.window.end + 1);
    if (to <= from) {
      return;
    }
    const slice = chunk.subarray(from - begin, to - begin);
    const previous = this.held;
    this.held = slice;
    if (previous) {
      this.batch.push(previous);
      this.batchBytes += previous.length;
    }
  }

  /** Throws DigestMismatchError unless the whole blob arrived and hashes to its digest. */
  verify(): void {
    if (this.verified) {
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
    if (this.held) {
      this.batch.push(this.held);
      this.batchBytes += this.held.length;
      this.held = undefined;
    }
    await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.batchBytes === 0) {
      return;
    }
    // Corked writes leave as one writev: no copy into a fresh batch buffer.
    const pieces = this.batch;
    this.written += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.out.cork();
    let ok = true;
    for (const piece of pieces) {
      ok = this.out.write(piece);
    }
    this.out.uncork();
    if (!ok) {
      await once(this.out, "drain", { signal: this.signal });
    }
  }
}
