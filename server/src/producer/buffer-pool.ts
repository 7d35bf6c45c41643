/** A slab of memory, and which of its blocks are in use. */
interface Slab {
  readonly memory: ArrayBuffer;
  readonly inUse: Uint8Array;
  used: number;
}

/**
 * A fixed number of equal-sized blocks for registry reads: memory for ranges is bounded by
 * construction. A buffer is one block or several adjacent blocks of one slab, so a large read
 * takes what its size needs and no more. Blocks are reused rather than freed, because fresh memory
 * page-faults on first touch, which costs more than everything else the server does with it
 * (docs/performance.md, "The range cache"). Blocks are cut from slabs of about 4 MB, allocated on
 * demand: that large, the C allocator maps each slab on its own and unmaps it once it is freed
 * (smaller buffers would stay in its heap). A slab whose blocks are all free is let go when the
 * pool has been idle.
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

  /** Most blocks one buffer may span (one slab's). */
  get maxBlocks(): number {
    return Math.min(this.blocksPerSlab, this.capacity);
  }

  /**
   * A buffer of `blocks` adjacent blocks, or undefined when no slab has that many free in a row
   * and the pool may not grow. `now` is the caller's clock.
   */
  take(now: number, blocks = 1): Uint8Array | undefined {
    this.lastTake = now;
    const place = this.place(blocks);
    return place && this.mark(place.slab ?? this.newSlab(this.room), place.at, blocks);
  }

  /** Whether take(now, blocks) would return a buffer now. */
  canTake(blocks = 1): boolean {
    return this.place(blocks) !== undefined;
  }

  /** Blocks take() would still return. */
  get free(): number {
    return this.capacity - this.taken;
  }

  /**
   * Give a buffer back. Views into it stay valid until the end of the event-loop turn: a block is
   * only written by a registry read's network callbacks, which run in a later turn.
   */
  release(buffer: Uint8Array): void {
    const slab = this.slabs.find((s) => s.memory === buffer.buffer);
    if (!slab) {
      return;
    }
    const first = buffer.byteOffset / this.size;
    const blocks = buffer.byteLength / this.size;
    for (let i = first; i < first + blocks; ++i) {
      slab.inUse[i] = 0;
    }
    slab.used -= blocks;
    this.taken -= blocks;
  }

  /** Let go of the slabs with no block in use if nothing was taken since `idleSince`; returns the bytes let go. */
  trim(idleSince: number): number {
    let bytes = 0;
    for (let i = this.slabs.length - 1; i >= 0 && this.lastTake < idleSince; --i) {
      const slab = this.slabs[i]!;
      if (slab.used === 0) {
        this.slabs.splice(i, 1);
        this.created -= slab.inUse.length;
        bytes += slab.memory.byteLength;
      }
    }
    return bytes;
  }

  /** Bytes of the slabs that exist. */
  get bytes(): number {
    return this.created * this.size;
  }

  /**
   * Where `blocks` adjacent free blocks are: in the oldest slab that has them (so that the newest
   * empty out and can be let go), else at the start of a new slab (no `slab`) if the pool may grow.
   */
  private place(blocks: number): { slab?: Slab; at: number } | undefined {
    for (const slab of this.slabs) {
      const at = slab.inUse.length - slab.used < blocks ? -1 : freeRow(slab.inUse, blocks);
      if (at >= 0) {
        return { slab, at };
      }
    }
    return this.room >= blocks ? { at: 0 } : undefined;
  }

  /** Blocks a new slab would have. */
  private get room(): number {
    return Math.min(this.blocksPerSlab, this.capacity - this.created);
  }

  private mark(slab: Slab, at: number, blocks: number): Uint8Array {
    slab.inUse.fill(1, at, at + blocks);
    slab.used += blocks;
    this.taken += blocks;
    return new Uint8Array(slab.memory, at * this.size, blocks * this.size);
  }

  private newSlab(blocks: number): Slab {
    const slab: Slab = { memory: new ArrayBuffer(blocks * this.size), inUse: new Uint8Array(blocks), used: 0 };
    this.slabs.push(slab);
    this.created += blocks;
    return slab;
  }
}

/** The first index of `blocks` free entries in a row, or -1. */
function freeRow(inUse: Uint8Array, blocks: number): number {
  let run = 0;
  for (let i = 0; i < inUse.length; ++i) {
    run = inUse[i] ? 0 : run + 1;
    if (run === blocks) {
      return i - blocks + 1;
    }
  }
  return -1;
}
