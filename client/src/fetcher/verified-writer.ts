import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import type { Writable } from "node:stream";

import type { Sha256Digest } from "@ndnreg/shared";

import type { ByteRange } from "../http/range.js";

export class DigestMismatchError extends Error {}

/**
 * Hashes a blob from byte 0 while writing only the requested window to the response. The last
 * piece of the window is held back until the whole blob has been hashed, so a body whose bytes
 * do not match the digest is never completed: on a mismatch the caller destroys the response.
 */
export class VerifiedWriter {
  private readonly hash: Hash = createHash("sha256");
  private offset = 0;
  private held?: Uint8Array;
  private written = 0;

  constructor(
    private readonly out: Writable,
    private readonly digest: Sha256Digest,
    private readonly size: number,
    private readonly window: ByteRange,
    /** Aborted when the caller goes away, so a wait for `drain` cannot hang. */
    private readonly signal: AbortSignal,
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
      await this.write(previous);
    }
  }

  /** Verify the digest, then release the held-back bytes. */
  async finish(): Promise<void> {
    if (this.offset !== this.size) {
      throw new DigestMismatchError(`blob ended at ${this.offset} of ${this.size} bytes`);
    }
    const actual = this.hash.digest("hex");
    if (actual !== this.digest.hex) {
      throw new DigestMismatchError(`content hashes to sha256:${actual}, expected ${this.digest.text}`);
    }
    if (this.held) {
      await this.write(this.held);
      this.held = undefined;
    }
  }

  private async write(bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    if (!this.out.write(bytes)) {
      await once(this.out, "drain", { signal: this.signal });
    }
  }
}
