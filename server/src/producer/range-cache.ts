import type { BlobId } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import { BufferPool } from "./buffer-pool.js";

/**
 * Loads the bytes [begin, end) of a blob from the registry into `into` (end - begin bytes),
 * reporting how many bytes from the start are in place as they arrive.
 */
export type RangeLoader = (id: BlobId, begin: number, end: number, into: Uint8Array, onProgress: (filled: number) => void) => Promise<unknown>;

/** A chunk on its way from the registry: its first `filled` bytes can be served already. */
interface Loading {
  readonly done: Promise<Uint8Array>;
  readonly bytes: Uint8Array;
  filled: number;
  /**
   * read() calls waiting for bytes up to `need`, sorted by `need`: each progress event settles a
   * prefix instead of rescanning every waiter (hundreds wait on a chunk when several blobs start).
   */
  waiters: Waiter[];
}

interface Waiter {
  readonly need: number;
  readonly resolve: () => void;
}

/** Insert keeping `need` ascending; Interests arrive nearly in order, so this is almost always a push. */
function addWaiter(waiters: Waiter[], w: Waiter): void {
  let i = waiters.length;
  if (i > 0 && waiters[i - 1]!.need > w.need) {
    let lo = 0;
    while (lo < i) {
      const mid = (lo + i) >>> 1;
      if (waiters[mid]!.need <= w.need) {
        lo = mid + 1;
      } else {
        i = mid;
      }
    }
  }
  waiters.splice(i, 0, w);
}

export interface RangeCacheStats {
  hits: number;
  misses: number;
  /** Bytes held now. */
  bytes: number;
  /** Registry range reads that succeeded / failed, and the bytes they brought. */
  loads: number;
  loadErrors: number;
  loadedBytes: number;
}

/**
 * Segment requests are coalesced into aligned chunks (many segments each) read with one Range
 * request; recent chunks are kept in an LRU bounded in bytes. Loads in progress are shared, and
 * the next chunks are read ahead so the registry stays off the critical path of a sequential fetch.
 * Chunk buffers are recycled; a view returned by read() is valid until the end of the current
 * event-loop turn (callers copy it into a packet at once).
 */
export class RangeCache {
  /** Chunks by `<digest hex>:<index>`; an evicted chunk's buffer goes back to the pool. */
  private readonly chunks: LRUCache<string, Uint8Array>;
  private readonly pool: BufferPool;
  private readonly loading = new Map<string, Loading>();
  readonly stats: RangeCacheStats = { hits: 0, misses: 0, bytes: 0, loads: 0, loadErrors: 0, loadedBytes: 0 };

  constructor(
    private readonly load: RangeLoader,
    private readonly chunkSize: number,
    private readonly maxBytes: number,
    /**
     * Chunks read ahead of the one just asked for. Default: about 8 MiB worth, but never more than
     * half the cache holds, or chunks read ahead would be evicted before they are served.
     */
    private readonly readAhead = Math.max(1, Math.min(Math.round(8 * 1024 * 1024 / chunkSize), Math.floor(maxBytes / chunkSize / 2) - 1)),
  ) {
    // As many spare buffers as the cache holds chunks: the loads of three blobs starting together
    // (Docker's default) must not fault in fresh buffers each time (docs/performance.md, "The
    // range cache"). Spares only exist after such a peak, so peak RSS is the same.
    this.pool = new BufferPool(chunkSize, Math.max(4, Math.floor(maxBytes / chunkSize)));
    this.chunks = new LRUCache({
      maxSize: Math.max(1, maxBytes), // 0 is refused; with maxBytes 0 store() keeps nothing anyway
      sizeCalculation: (chunk) => chunk.length,
      dispose: (chunk) => this.pool.release(fullBuffer(chunk)),
    });
  }

  /** Where the chunk holding byte `offset` ends: read() and peek() ranges may not cross it. */
  chunkEnd(offset: number): number {
    return (Math.floor(offset / this.chunkSize) + 1) * this.chunkSize;
  }

  /**
   * Bytes [begin, end) of a blob of `size` bytes; must lie within one chunk. Resolves as soon as
   * those bytes have arrived, not when the whole chunk has: the first segments of a blob then
   * leave after the first kilobytes of a 4 MB range, not after all of it.
   */
  async read(id: BlobId, size: number, begin: number, end: number): Promise<Uint8Array> {
    const index = Math.floor(begin / this.chunkSize);
    const key = `${id.digest.hex}:${index}`;
    const pending = this.chunks.has(key) ? undefined : this.loading.get(key) ?? this.startLoad(id, size, index, key);
    if (!pending) {
      this.readAheadFrom(id, size, index);
      return this.slice(await this.chunk(id, size, index), index, begin, end); // counts the hit, refreshes the LRU
    }
    const need = end - index * this.chunkSize;
    if (pending.filled < need) {
      await new Promise<void>((resolve) => addWaiter(pending.waiters, { need, resolve })); // settled by progress or by the load's end
    }
    // Read-ahead starts once the bytes asked for have arrived, not beside their load: each range
    // request costs the registry CPU before its first byte, and the first segments of blobs
    // starting together must not wait behind each other's read-ahead (docs/performance.md).
    this.readAheadFrom(id, size, index);
    // Either enough bytes arrived, or the load ended (then its error surfaces here).
    return this.slice(pending.filled >= need ? pending.bytes : await pending.done, index, begin, end);
  }

  /**
   * The bytes if their chunk is already in memory, else undefined (then call read()). The fast
   * path for nearly every Interest: no promise, and read-ahead and LRU upkeep only once per chunk.
   */
  peek(id: BlobId, size: number, begin: number, end: number): Uint8Array | undefined {
    const index = Math.floor(begin / this.chunkSize);
    const key = `${id.digest.hex}:${index}`;
    const chunk = this.chunks.peek(key);
    if (!chunk) {
      const pending = this.loading.get(key);
      if (pending && pending.filled >= end - index * this.chunkSize) {
        ++this.stats.hits;
        return this.slice(pending.bytes, index, begin, end); // already arrived, chunk still loading
      }
      return undefined;
    }
    ++this.stats.hits;
    if (begin === index * this.chunkSize) {
      this.chunks.get(key); // refresh the LRU position
      this.readAheadFrom(id, size, index);
    }
    return this.slice(chunk, index, begin, end);
  }

  private slice(chunk: Uint8Array, index: number, begin: number, end: number): Uint8Array {
    const base = index * this.chunkSize;
    if (end > base + chunk.length) {
      throw new RangeError(`range [${begin},${end}) crosses chunk ${index}`);
    }
    return chunk.subarray(begin - base, end - base);
  }

  private readAheadFrom(id: BlobId, size: number, index: number): void {
    for (let next = index + 1; next <= index + this.readAhead && next * this.chunkSize < size; ++next) {
      this.chunk(id, size, next).catch(() => undefined); // errors resurface when the chunk is asked for
    }
  }

  private chunk(id: BlobId, size: number, index: number): Promise<Uint8Array> {
    const key = `${id.digest.hex}:${index}`;
    const hit = this.chunks.get(key);
    if (hit) {
      ++this.stats.hits;
      return Promise.resolve(hit);
    }
    return (this.loading.get(key) ?? this.startLoad(id, size, index, key)).done;
  }

  private startLoad(id: BlobId, size: number, index: number, key: string): Loading {
    ++this.stats.misses;
    const begin = index * this.chunkSize;
    const end = Math.min(size, begin + this.chunkSize);
    const buf = this.pool.take();
    const bytes = buf.subarray(0, end - begin);
    const onProgress = (filled: number) => {
      if (filled <= loading.filled) {
        return;
      }
      loading.filled = filled;
      const waiters = loading.waiters;
      let n = 0;
      while (n < waiters.length && waiters[n]!.need <= filled) {
        waiters[n++]!.resolve();
      }
      if (n > 0) {
        waiters.splice(0, n);
      }
    };
    const done = this.load(id, begin, end, bytes, onProgress).then(() => {
      ++this.stats.loads;
      this.stats.loadedBytes += bytes.length;
      this.store(key, bytes);
      return bytes;
    }, (err: unknown) => {
      ++this.stats.loadErrors;
      loading.filled = 0; // nothing more is served from a buffer about to be recycled
      this.pool.release(buf);
      throw err;
    }).finally(() => {
      this.loading.delete(key);
      loading.waiters.forEach((w) => w.resolve()); // the load ended: they see its bytes or its error
      loading.waiters = [];
    });
    done.catch(() => undefined); // a failed load is reported to whoever waits for it, never unhandled
    const loading: Loading = { done, bytes, filled: 0, waiters: [] };
    this.loading.set(key, loading);
    return loading;
  }

  private store(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxBytes) {
      this.pool.release(fullBuffer(bytes));
      return;
    }
    this.chunks.set(key, bytes); // evicts least recently used chunks until it fits
    this.stats.bytes = this.chunks.calculatedSize;
  }
}

/** The pooled buffer a chunk view was cut from. */
function fullBuffer(view: Uint8Array): Uint8Array {
  return new Uint8Array(view.buffer, 0, view.buffer.byteLength);
}
