import { type FileHandle, open } from "node:fs/promises";

import { SEGMENT_SIZE, segmentByteRange } from "@ndnreg/shared/ndn";

/** Segments per read-ahead chunk: one 256 KB sequential read serves 32 segment Interests. */
const CHUNK_SEGMENTS = 32;
/** Chunks kept per file (2 MB): a pipeline's window spans several; older ones serve retransmissions. */
const CHUNKS_KEPT = 8;
/** How far past the last chunk read an Interest still counts as sequential. */
const AHEAD = CHUNKS_KEPT;

/** A read the file needs to answer a segment: a whole chunk (sequential) or the segment alone (random). */
export type ReadKind = "chunk" | "segment";

/**
 * A stored blob file kept open for segment reads, with read-ahead: Interests that walk the blob
 * in order are served from 256 KB chunks read once; any other Interest gets a read of its segment
 * alone, so random Interests cost no more than they ask for. Sequential means: segment 0, a chunk
 * at most AHEAD chunks past the last one read (a pipeline's window spans several), or the segment
 * after the last one read alone (a range starting mid-blob). Holds at most CHUNKS_KEPT chunks; the
 * descriptor is closed once released and no read is in flight (an evicted, unlinked file stays
 * readable until then).
 */
export class StoredBlobFile {
  private readonly fh: Promise<FileHandle>;
  /** Chunk index -> its bytes, or their read; in order of use. */
  private readonly chunks = new Map<number, Promise<Buffer> | Buffer>();
  private lastChunk = -1;
  /** The last segment read alone: its successor starts a sequential run. */
  private lastSingle = -1;
  private reads = 0;
  private released = false;
  private closed = false;
  failed = false;

  constructor(file: string, private readonly size: number) {
    this.fh = open(file, "r");
    this.fh.catch(() => { this.failed = true; });
  }

  /** The segment's bytes if its chunk is in memory now. */
  peek(segment: number): Uint8Array | undefined {
    const chunk = this.chunks.get(chunkOf(segment));
    return chunk instanceof Buffer ? this.slice(chunk, segment) : undefined;
  }

  /** The read `segment` needs now: none (its chunk is in memory or being read), a chunk, or itself. */
  readNeeded(segment: number): ReadKind | undefined {
    const c = chunkOf(segment);
    if (this.chunks.has(c)) {
      return undefined;
    }
    const ahead = c > this.lastChunk && c <= this.lastChunk + AHEAD;
    return ahead || segment === 0 || segment === this.lastSingle + 1 ? "chunk" : "segment";
  }

  /** The segment's bytes, reading what readNeeded() says. */
  async read(segment: number): Promise<Uint8Array> {
    const c = chunkOf(segment);
    const have = this.chunks.get(c);
    if (have) {
      return this.slice(await have, segment);
    }
    if (this.readNeeded(segment) === "segment") {
      this.lastSingle = segment;
      const [begin, end] = segmentByteRange(segment, this.size);
      return this.readAt(begin, end - begin);
    }
    const begin = c * CHUNK_SEGMENTS * SEGMENT_SIZE;
    const loading = this.readAt(begin, Math.min(CHUNK_SEGMENTS * SEGMENT_SIZE, this.size - begin));
    this.lastChunk = Math.max(this.lastChunk, c);
    this.chunks.set(c, loading);
    while (this.chunks.size > CHUNKS_KEPT) {
      this.chunks.delete(this.chunks.keys().next().value!);
    }
    try {
      const bytes = await loading;
      if (this.chunks.get(c) === loading) {
        this.chunks.set(c, bytes);
      }
      return this.slice(bytes, segment);
    } catch (err: unknown) {
      this.chunks.delete(c);
      throw err;
    }
  }

  release(): void {
    this.released = true;
    this.chunks.clear();
    this.closeIfDone();
  }

  private slice(chunk: Buffer, segment: number): Uint8Array {
    const [begin, end] = segmentByteRange(segment, this.size);
    const base = chunkOf(segment) * CHUNK_SEGMENTS * SEGMENT_SIZE;
    return chunk.subarray(begin - base, end - base);
  }

  private async readAt(position: number, length: number): Promise<Buffer> {
    ++this.reads;
    try {
      const into = Buffer.allocUnsafe(length);
      const { bytesRead } = await (await this.fh).read(into, 0, length, position);
      if (bytesRead !== length) {
        throw new Error(`read ${bytesRead} of ${length} bytes at ${position}`);
      }
      return into;
    } finally {
      --this.reads;
      this.closeIfDone();
    }
  }

  private closeIfDone(): void {
    if (this.released && this.reads === 0 && !this.closed) {
      this.closed = true;
      void this.fh.then((fh) => fh.close()).catch(() => undefined);
    }
  }
}

function chunkOf(segment: number): number {
  return Math.floor(segment / CHUNK_SEGMENTS);
}
