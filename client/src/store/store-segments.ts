import { Segment } from "@ndn/naming-convention2";
import type { Name } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import { canonicalSegmentFields, type DataFields, parseRegistryName, type Resolved, type SegmentSource, segmentCount } from "@ndnreg/shared/ndn";

import type { BlobStore } from "./blob-store.js";
import { StoredBlobFile } from "./stored-blob-file.js";

/** Interests waiting for a disk read or a slot for one: past it, Interests are dropped (their consumers retransmit). */
const MAX_PENDING = 1024;
/** Disk reads in flight (chunks of 256 KB or single segments); further Interests that need one wait for a slot. */
const MAX_READS = 16;
/** Open blob files kept for the next segments of the same blobs (each holds up to 2 MB of chunks). */
const OPEN_FILES = 8;
/** At most one warning per this many ms about Interests dropped for lack of room. */
const DROP_WARNING_MS = 10_000;

/** What the store's segment answers did, for metrics. */
export interface StoreServeCounters {
  /** Segments answered and their payload bytes. */
  data: number;
  dataBytes: number;
  /** Disk reads: read-ahead chunks, single segments. */
  chunkReads: number;
  segmentReads: number;
  /** Dropped: too many Interests waiting for the disk. */
  droppedOverload: number;
  /** Not answered: a digest not held (or evicted), a segment past the end, a failed read. */
  notHeld: number;
  pastEnd: number;
  readErrors: number;
  /** Malformed names under the prefix. */
  malformed: number;
}

/** A stored blob, as a segment Interest names it. */
export interface StoredTarget {
  readonly hex: string;
}

/**
 * The edge store as a source of canonical segments (docs/protocol.md): bytes read from the stored
 * file, fields from the shared deterministic encoder, so a segment is byte-identical to the
 * server's and its implicit digest matches the signed manifest. Only digests `serves()` accepts
 * (announced, not evicted) are answered. The load strangers can put on it is bounded: Interests
 * waiting for the disk and reads in flight are capped, and what is refused is counted.
 */
export class StoreSegments implements SegmentSource<StoredTarget> {
  readonly counters: StoreServeCounters = {
    data: 0, dataBytes: 0, chunkReads: 0, segmentReads: 0, droppedOverload: 0, notHeld: 0, pastEnd: 0, readErrors: 0, malformed: 0,
  };
  private readonly files = new Map<string, StoredBlobFile>();
  private pending = 0;
  private reads = 0;
  /** Interests waiting for a read slot (within MAX_PENDING). */
  private readonly readSlots: Array<() => void> = [];
  private lastDropWarning = -Infinity;

  constructor(readonly prefix: Name, private readonly store: BlobStore, private readonly serves: (hex: string) => boolean, private readonly log: Logger) {}

  resolve(blobName: Name): Resolved<StoredTarget> {
    const parsed = parseRegistryName(this.prefix, blobName.append(Segment, 0));
    if (!parsed.ok) {
      return "malformed";
    }
    return parsed.kind === "segment" ? { hex: parsed.digest.hex } : "decline";
  }

  replyNow({ hex }: StoredTarget, segment: number): DataFields | undefined {
    const size = this.sizeOf(hex);
    const content = size !== undefined && segment < segmentCount(size) ? this.files.get(hex)?.peek(segment) : undefined;
    return content && this.data(content, size!);
  }

  async reply({ hex }: StoredTarget, segment: number): Promise<DataFields | null> {
    const size = this.sizeOf(hex);
    if (size === undefined) {
      ++this.counters.notHeld;
      return null;
    }
    if (segment >= segmentCount(size)) {
      ++this.counters.pastEnd;
      return null; // protocol: a segment past the end is never answered
    }
    const content = this.file(hex, size).peek(segment);
    if (content) {
      return this.data(content, size);
    }
    if (this.pending >= MAX_PENDING) {
      return this.overloaded();
    }
    ++this.pending;
    try {
      let file = this.file(hex, size);
      let needs = file.readNeeded(segment);
      while (needs && this.reads >= MAX_READS) {
        await new Promise<void>((resolve) => this.readSlots.push(resolve)); // FIFO: a slot frees at each read's end
        if (this.sizeOf(hex) === undefined) {
          ++this.counters.notHeld;
          return null; // evicted meanwhile
        }
        file = this.file(hex, size);
        needs = file.readNeeded(segment);
      }
      if (needs) {
        ++this.reads;
        ++this.counters[needs === "chunk" ? "chunkReads" : "segmentReads"];
        this.store.touch(hex);
      }
      try {
        return this.data(await file.read(segment), size);
      } finally {
        if (needs) {
          --this.reads;
          this.readSlots.shift()?.();
        }
      }
    } catch (err: unknown) {
      ++this.counters.readErrors;
      this.log.warn({ digest: `sha256:${hex}`, segment, err: String(err) }, "store: cannot read a segment");
      return null;
    } finally {
      --this.pending;
    }
  }

  drop(): void {
    ++this.counters.malformed;
  }

  /** The blob is no longer served (evicted): its file is closed once its reads are done. */
  forget(hex: string): void {
    this.files.get(hex)?.release();
    this.files.delete(hex);
  }

  close(): void {
    for (const f of this.files.values()) {
      f.release();
    }
    this.files.clear();
  }

  private sizeOf(hex: string): number | undefined {
    return this.serves(hex) ? this.store.info(hex)?.size : undefined;
  }

  private data(content: Uint8Array, size: number): DataFields {
    ++this.counters.data;
    this.counters.dataBytes += content.length;
    return canonicalSegmentFields(segmentCount(size) - 1, content);
  }

  private file(hex: string, size: number): StoredBlobFile {
    let f = this.files.get(hex);
    this.files.delete(hex);
    if (f && !f.failed) {
      this.files.set(hex, f); // most recently used last
      return f;
    }
    f?.release();
    while (this.files.size >= OPEN_FILES) {
      const [k, old] = this.files.entries().next().value!;
      this.files.delete(k);
      old.release();
    }
    f = new StoredBlobFile(this.store.blobPath(hex), size);
    this.files.set(hex, f);
    return f;
  }

  private overloaded(): null {
    ++this.counters.droppedOverload;
    const now = performance.now();
    if (now - this.lastDropWarning >= DROP_WARNING_MS) {
      this.lastDropWarning = now;
      this.log.warn({ pending: this.pending, reads: this.reads, droppedOverload: this.counters.droppedOverload }, "store: dropping Interests, over a bound");
    }
    return null;
  }
}
