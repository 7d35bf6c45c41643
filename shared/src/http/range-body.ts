/**
 * Copies a ranged response body into `into`, which holds the bytes [begin, begin + into.length)
 * of the resource. A server that ignored the Range header answers 200 with the whole resource:
 * that body is skipped ahead to `begin` as it streams.
 */
export class RangeBody {
  /** Body bytes seen, relative to `begin` (negative while skipping). */
  private pos: number;

  constructor(private readonly into: Uint8Array, begin: number, wholeResource: boolean) {
    this.pos = wholeResource ? -begin : 0;
  }

  /** Copies the part of `chunk` inside the range; true when there was any. */
  push(chunk: Uint8Array): boolean {
    const from = Math.max(0, -this.pos);
    const n = Math.min(chunk.length - from, this.into.length - Math.max(this.pos, 0));
    if (n > 0) {
      this.into.set(n === chunk.length ? chunk : chunk.subarray(from, from + n), Math.max(this.pos, 0));
    }
    this.pos += chunk.length;
    return n > 0;
  }

  /** Bytes of the range in place, from its start. */
  get filled(): number {
    return Math.min(this.into.length, Math.max(this.pos, 0));
  }

  get complete(): boolean {
    return this.pos >= this.into.length;
  }
}
