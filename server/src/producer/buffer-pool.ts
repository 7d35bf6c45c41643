/** A slab of memory, its blocks, and those of them that are free. */
interface Slab {
  readonly memory: ArrayBuffer;
  readonly blocks: number;
  readonly free: Uint8Array[];
}

/**
 * A fixed number of equal-sized blocks for registry reads: memory for ranges is bounded by
 * construction. Blocks are reused rather than freed, because fresh memory page-faults on first
 * touch, which costs more than everything else the server does with it (docs/performance.md, "The
 * range cache"). Blocks are cut from slabs of about 4 MB, allocated on demand: that large, the C
 * allocator maps each slab on its own and unmaps it once it is freed (smaller buffers would stay
 * in its heap). A slab whose blocks are all free is let go when the pool has been idle.
 */
export class BufferPool {
  private readonly slabs: Slab[] = [];
  private readonly blocksPerSlab: number;
  private taken = 0;
  private created = 0;
  private lastTake = 0;

  constructor(readonly size: number, readonly capacity: number, slabBytes = 4_096_000) {
    this.blocksPerSlab = Math.max(1, Math.floor(slabBytes / size));
  }

  /** A block, or undefined when all `capacity` are in use. `now` is the caller's clock. */
  take(now: number): Uint8Array | undefined {
    this.lastTake = now;
    // From the oldest slabs first, so that the newest empty out and can be let go.
    let slab = this.slabs.find((s) => s.free.length > 0);
    if (!slab) {
      if (this.created >= this.capacity) {
        return undefined;
      }
      slab = this.newSlab(Math.min(this.blocksPerSlab, this.capacity - this.created));
    }
    ++this.taken;
    return slab.free.pop();
  }

  /** Whether take() would return a block now. */
  get available(): boolean {
    return this.taken < this.capacity;
  }

  /** Blocks take() would still return. */
  get free(): number {
    return this.capacity - this.taken;
  }

  /**
   * Give a block back. Views into it stay valid until the end of the event-loop turn: a block is
   * only written by a registry read's network callbacks, which run in a later turn.
   */
  release(block: Uint8Array): void {
    const slab = this.slabs.find((s) => s.memory === block.buffer);
    if (slab) {
      --this.taken;
      slab.free.push(block);
    }
  }

  /** Let go of the slabs with no block in use if nothing was taken since `idleSince`; returns the bytes let go. */
  trim(idleSince: number): number {
    let bytes = 0;
    for (let i = this.slabs.length - 1; i >= 0 && this.lastTake < idleSince; --i) {
      const slab = this.slabs[i]!;
      if (slab.free.length === slab.blocks) {
        this.slabs.splice(i, 1);
        this.created -= slab.blocks;
        bytes += slab.memory.byteLength;
      }
    }
    return bytes;
  }

  /** Bytes of the slabs that exist. */
  get bytes(): number {
    return this.created * this.size;
  }

  private newSlab(blocks: number): Slab {
    const memory = new ArrayBuffer(blocks * this.size);
    const slab: Slab = { memory, blocks, free: [] };
    for (let i = blocks - 1; i >= 0; --i) {
      slab.free.push(new Uint8Array(memory, i * this.size, this.size));
    }
    this.slabs.push(slab);
    this.created += blocks;
    return slab;
  }
}
