/**
 * Memory for outgoing packets. Packets are carved from 64 KiB slabs (a fresh ArrayBuffer per 8 KB
 * packet showed up in profiles; 1 MiB slabs were worse, because malloc maps them fresh and every
 * page faults on first touch). A full slab is retired; once the socket has written everything that
 * was queued when it was retired (see WireTransport), it is reused instead of left to the garbage
 * collector: every slab freed meant external memory that made V8 run a full mark-compact per
 * ~64 MB of packets, the largest single CPU cost of a transfer on both ends.
 */
export class SlabArena {
  private slab: Buffer;
  private offset = 0;
  private retired: Buffer[] = [];
  private readonly free: Buffer[] = [];

  constructor(
    readonly slabSize = 64 * 1024,
    /** Slabs kept for reuse; more retired than this (nobody writes them out) go to the GC. */
    private readonly maxKept = 256,
  ) {
    this.slab = Buffer.allocUnsafeSlow(slabSize);
  }

  /** `size` bytes, uninitialized: the caller writes every byte. */
  alloc(size: number): Buffer {
    if (size > this.slabSize / 4) {
      return Buffer.allocUnsafe(size);
    }
    if (this.offset + size > this.slabSize) {
      if (this.retired.length < this.maxKept) {
        this.retired.push(this.slab);
      }
      this.slab = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slabSize);
      this.offset = 0;
    }
    const out = this.slab.subarray(this.offset, this.offset + size);
    this.offset += (size + 7) & ~7;
    return out;
  }

  /** Slabs retired since the last call: hand them back with reuse() once all queued writes are done. */
  takeRetired(): Buffer[] {
    const out = this.retired;
    this.retired = [];
    return out;
  }

  reuse(slabs: readonly Buffer[]): void {
    for (const s of slabs) {
      if (this.free.length < this.maxKept) {
        this.free.push(s);
      }
    }
  }
}

/** The arena every packet encoder of this process uses. */
export const packetArena = new SlabArena();
