/**
 * Memory for outgoing packets, carved from 64 KiB slabs: no allocation per packet, and slabs small
 * enough to stay in malloc's reused memory. A full slab is retired, and reused once the socket has
 * written everything queued before it was retired (see the wire transports): freed slabs would count as
 * external memory and set off V8's full collections (docs/performance.md, "Packet slabs").
 */
export class SlabArena {
  private slab: Buffer;
  private offset = 0;
  private retired: Buffer[] = [];
  private readonly free: Buffer[] = [];

  constructor(
    readonly slabSize = 64 * 1024,
    /**
     * Slabs kept for reuse; more retired than this (nobody writes them out) go to the GC. A stream
     * face's backlog is bounded (wire-transport.ts: 1 MiB, plus the answers to one read of
     * Interests), so 4 MiB covers nearly every packet in flight and little is kept after a load.
     */
    private readonly maxKept = 64,
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
