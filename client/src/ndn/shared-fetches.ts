import { type BlobId, blobKey } from "@ndnreg/shared/ndn";

import { BATCH_BYTES, BatchFiller, giveBackBatchBuffer } from "../blob/batch-buffers.js";
import { type ByteWindow, type FetchBatch, type FetchStats, type NdnBlobFetcher, newFetchStats, type SegmentRepair } from "./blob-fetcher.js";

/** A reader's view of a (possibly shared) NDN blob fetch. */
export interface BlobFetch {
  readonly payloads: AsyncGenerator<FetchBatch>;
  readonly stats: FetchStats;
  /** True when this request joined a fetch another request started. */
  readonly joined: boolean;
}

/**
 * Requests may join a fetch until it has produced this much (kept in memory for them). Three
 * blobs at once must fit in the batch buffers the pool keeps, or every burst faults in fresh pages
 * (docs/performance.md, "The join window"). A later request starts its own fetch, which the
 * routers' caches answer.
 */
const JOIN_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Identical concurrent blob requests share one NDN fetch. A request that arrives while the fetch
 * has produced at most 4 MiB replays what it missed from memory and then follows live; a later
 * one starts its own fetch (the routers' caches make that cheap). The fetch is paced by its
 * slowest reader and aborted when its last reader leaves. A reader must be done with a batch's
 * bytes when it asks for the next batch.
 */
export class SharedFetches {
  private readonly live = new Map<string, SharedFetch>();

  constructor(private readonly fetcher: Pick<NdnBlobFetcher, "payloads"> & Partial<Pick<NdnBlobFetcher, "anchored" | "sendMetadataEarly">>) {}

  /**
   * A request for `id` is being planned (or, with `keepMs`, its manifest was relayed): its
   * metadata Interest may leave now, unless a fetch it will join runs.
   */
  sendMetadataEarly(id: BlobId, keepMs?: number): void {
    if (this.fetcher.anchored === true || !this.live.has(blobKey(id))) {
      this.fetcher.sendMetadataEarly?.(id, keepMs);
    }
  }

  /** `repair`: HTTP bytes of a segment no NDN copy of which was right (the first request's, for a shared fetch). */
  open(id: BlobId, size: number, window: ByteWindow, repair: SegmentRepair, signal: AbortSignal): BlobFetch {
    // With an anchor a fetch covers only its window's segments; without one it fetches the whole blob.
    const key = this.fetcher.anchored === true ? `${blobKey(id)}:${window.start}-${window.end}` : blobKey(id);
    let fetch = this.live.get(key);
    const joined = fetch?.joinable === true;
    if (!fetch || !joined) {
      const created = new SharedFetch(this.fetcher, id, size, window, repair, () => {
        if (this.live.get(key) === created) {
          this.live.delete(key);
        }
      });
      this.live.set(key, created);
      fetch = created;
    }
    return { payloads: fetch.subscribe(signal), stats: fetch.stats, joined };
  }

  /** Fetches running now (for tests and metrics). */
  get size(): number {
    return this.live.size;
  }
}

interface Reader {
  next: number;
}

/** A batch, and the pooled buffers its payloads were copied into (none when they are the fetch's own views). */
interface Batch {
  readonly batch: FetchBatch;
  readonly buffers: Buffer[];
}

/**
 * The payloads copied into pooled batch buffers. Kept for late joiners, views would hold the
 * uplink's socket chunks (each shared with other blobs' segments) for as long as the join window
 * lasts, long enough for V8 to promote them (docs/performance.md, "The join window").
 */
function copyBatch(original: FetchBatch): Batch {
  const { payloads } = original;
  const buffers: Buffer[] = [];
  const filler = new BatchFiller((full) => buffers.push(full));
  for (const p of payloads) {
    filler.append(p);
  }
  // One view per buffer, not per segment: fewer objects to outlive the window's young generation.
  const copies = buffers.map((b) => b.subarray(0, BATCH_BYTES));
  const last = filler.takePartial();
  if (last) {
    buffers.push(last.buf);
    copies.push(last.buf.subarray(0, last.length));
  }
  return { batch: { ...original, payloads: copies }, buffers };
}

class SharedFetch {
  readonly stats = newFetchStats();
  private readonly ctrl = new AbortController();
  private readonly source: AsyncGenerator<FetchBatch>;
  private readonly readers = new Set<Reader>();
  /** Batches not yet read by every reader; batches[0] has index `dropped`. */
  private batches: Batch[] = [];
  private dropped = 0;
  private produced = 0;
  private pulling = false;
  private done = false;
  private error: unknown;
  private wake = new Set<() => void>();

  constructor(
    fetcher: Pick<NdnBlobFetcher, "payloads">, id: BlobId, size: number, window: ByteWindow, repair: SegmentRepair, private readonly onEnd: () => void,
  ) {
    this.source = fetcher.payloads(id, size, window, this.ctrl.signal, repair, this.stats);
  }

  get joinable(): boolean {
    return this.dropped === 0 && this.produced <= JOIN_WINDOW_BYTES && !this.done && this.error === undefined && !this.ctrl.signal.aborted;
  }

  async *subscribe(signal: AbortSignal): AsyncGenerator<FetchBatch> {
    const reader: Reader = { next: 0 };
    this.readers.add(reader);
    const onAbort = () => this.notify();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        signal.throwIfAborted();
        if (reader.next < this.dropped + this.batches.length) {
          const batch = this.batches[reader.next - this.dropped]!;
          this.pull();
          yield batch.batch;
          ++reader.next; // only now: its buffers may be recycled once every reader is past it
          this.trim();
          continue;
        }
        if (this.error !== undefined) {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- the fetch's own rejection, passed on as it is
          throw this.error;
        }
        if (this.done) {
          return;
        }
        this.pull();
        await new Promise<void>((resolve) => this.wake.add(resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.readers.delete(reader);
      if (this.readers.size === 0) {
        this.end();
      } else {
        this.trim();
        this.pull();
      }
    }
  }

  /** Ask the fetch for more once the slowest reader has at most one batch after the one it reads. */
  private pull(): void {
    if (this.pulling || this.done || this.error !== undefined || this.readers.size === 0) {
      return;
    }
    const head = this.dropped + this.batches.length;
    if (head - this.slowest() > 2) {
      return;
    }
    this.pulling = true;
    this.source.next().then((r) => {
      if (r.done) {
        this.done = true;
      } else {
        this.batches.push(this.joinable ? copyBatch(r.value) : { batch: r.value, buffers: [] });
        for (const p of r.value.payloads) {
          this.produced += p.length;
        }
      }
    }, (err: unknown) => {
      this.error = err;
    }).finally(() => {
      this.pulling = false;
      if (this.done || this.error !== undefined) {
        this.onEnd(); // no one may join a finished fetch
      }
      this.trim();
      this.notify();
    });
  }

  private slowest(): number {
    let min = Infinity;
    for (const r of this.readers) {
      min = Math.min(min, r.next);
    }
    return min === Infinity ? this.dropped + this.batches.length : min;
  }

  /** Drop batches every reader has read, unless late joiners may still need them. */
  private trim(): void {
    if (this.joinable) {
      return;
    }
    const drop = Math.min(this.slowest(), this.dropped + this.batches.length) - this.dropped;
    if (drop > 0) {
      release(this.batches.splice(0, drop));
      this.dropped += drop;
    }
  }

  private notify(): void {
    const waiting = this.wake;
    this.wake = new Set();
    for (const w of waiting) {
      w();
    }
  }

  private end(): void {
    this.onEnd();
    release(this.batches); // every reader has left: none reads them any more
    this.batches = [];
    if (!this.done) {
      this.ctrl.abort(new Error("no readers left"));
      void this.source.return(undefined).catch(() => undefined);
    }
  }
}

function release(batches: readonly Batch[]): void {
  for (const b of batches) {
    b.buffers.forEach(giveBackBatchBuffer);
  }
}
