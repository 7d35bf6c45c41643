import type { BlobId } from "@ndnreg/shared";

/** Loads the bytes [begin, end) of a blob from the registry. */
export type RangeLoader = (id: BlobId, begin: number, end: number) => Promise<Uint8Array>;

export interface RangeCacheStats {
  hits: number;
  misses: number;
  bytes: number;
}

/**
 * Segment requests are coalesced into aligned chunks (many segments each) read with one Range
 * request; recent chunks are kept in an LRU bounded in bytes. Loads in progress are shared, and
 * the next chunks are read ahead so the registry stays off the critical path of a sequential fetch.
 */
export class RangeCache {
  private readonly chunks = new Map<string, Uint8Array>();
  private readonly loading = new Map<string, Promise<Uint8Array>>();
  private bytes = 0;
  readonly stats: RangeCacheStats = { hits: 0, misses: 0, bytes: 0 };

  constructor(
    private readonly load: RangeLoader,
    private readonly chunkSize: number,
    private readonly maxBytes: number,
    /** Chunks read ahead of the one just asked for. */
    private readonly readAhead = 4,
  ) {}

  /** Bytes [begin, end) of a blob of `size` bytes; must lie within one chunk. */
  async read(id: BlobId, size: number, begin: number, end: number): Promise<Uint8Array> {
    const index = Math.floor(begin / this.chunkSize);
    const chunk = await this.chunk(id, size, index);
    const base = index * this.chunkSize;
    if (end > base + chunk.length) {
      throw new RangeError(`range [${begin},${end}) crosses chunk ${index}`);
    }
    for (let next = index + 1; next <= index + this.readAhead && next * this.chunkSize < size; ++next) {
      this.chunk(id, size, next).catch(() => undefined); // read-ahead; errors resurface on demand
    }
    return chunk.subarray(begin - base, end - base);
  }

  private chunk(id: BlobId, size: number, index: number): Promise<Uint8Array> {
    const key = `${id.digest.hex}:${index}`;
    const hit = this.chunks.get(key);
    if (hit) {
      this.chunks.delete(key); // refresh LRU position
      this.chunks.set(key, hit);
      ++this.stats.hits;
      return Promise.resolve(hit);
    }
    let p = this.loading.get(key);
    if (!p) {
      ++this.stats.misses;
      const begin = index * this.chunkSize;
      p = this.load(id, begin, Math.min(size, begin + this.chunkSize)).then((bytes) => {
        this.store(key, bytes);
        return bytes;
      }).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private store(key: string, bytes: Uint8Array): void {
    if (bytes.length > this.maxBytes) {
      return;
    }
    this.chunks.set(key, bytes);
    this.bytes += bytes.length;
    for (const [k, v] of this.chunks) {
      if (this.bytes <= this.maxBytes) {
        break;
      }
      this.chunks.delete(k);
      this.bytes -= v.length;
    }
    this.stats.bytes = this.bytes;
  }
}
