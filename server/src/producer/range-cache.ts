import type { BlobId } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import { BoundRefusedError } from "../registry/bound-refusal.js";
import { BufferPool } from "./buffer-pool.js";
import { LoadSlots, type SlotOutcome } from "./load-slots.js";
import { aheadReadBytes, BlobRuns, missReadBytes, readBudget, type ReadSizes, type Run } from "./sequential-runs.js";

/**
 * Who reads a blob's bytes: the segments being published; the manifest builder hashing the whole
 * blob in order (a second pass over the same bytes, ahead of or behind the first, for anchored
 * consumers and edge stores); or the builder reading a node's segments ahead of that hash (nodes
 * asked out of order: those bytes are read again, in order, by the hash).
 */
export type RangeReader = "segments" | "hash" | "node";

/**
 * Loads the bytes [begin, end) of a blob from the registry into `into` (end - begin bytes),
 * reporting how many bytes from the start are in place as they arrive.
 */
export type RangeLoader = (id: BlobId, begin: number, end: number, into: Uint8Array, onProgress: (filled: number) => void) => Promise<unknown>;

/**
 * A read the bounds leave no room for (registry reads in flight and queued, range buffers): the
 * Interest gets no answer and its consumer retransmits.
 */
export class RangeOverloadError extends BoundRefusedError {}

export interface RangeCacheOptions {
  readonly segmentSize: number;
  /** A read with no evidence behind it: the block around a miss; ranges are made of whole blocks. */
  readonly blockBytes: number;
  /** Largest registry read, bytes (a multiple of segmentSize). */
  readonly maxRead: number;
  /** Memory for ranges: the fixed pools of small and large buffers are sized from it. */
  readonly cacheBytes: number;
  /** Registry reads in flight. */
  readonly maxLoads: number;
  /** Reads waiting for a slot, and how long they may wait. */
  readonly maxQueuedLoads?: number;
  readonly maxQueueMs?: number;
  /** Ranges not served for this long are let go, and spare buffers with them. */
  readonly idleMs?: number;
}

export interface RangeCacheStats {
  /** Interests served from bytes in memory, and those that waited for a registry read. */
  hits: number;
  misses: number;
  /** Bytes of range buffers in existence. */
  readonly bytes: number;
  /** Registry range reads that succeeded / failed, and the bytes they brought. */
  loads: number;
  loadErrors: number;
  loadedBytes: number;
  readonly loadsInFlight: number;
  readonly loadsQueued: number;
}

interface Waiter {
  readonly need: number;
  readonly resolve: () => void;
}

/** Buffers of one size and the ranges in memory that hold them (the ones that may be evicted). */
interface Tier {
  readonly pool: BufferPool;
  readonly ready: Set<Extent>;
  /** Free buffers read-ahead leaves to reads that Interests wait for (another blob's included). */
  readonly reserve: number;
}

/** Bytes [begin, end) of a blob: waiting for a registry slot, loading, or in memory. */
interface Extent {
  readonly blob: BlobState;
  readonly begin: number;
  readonly end: number;
  readonly tier: Tier;
  state: "queued" | "loading" | "ready" | "gone";
  buf?: Uint8Array;
  /** The first `filled` bytes of the range can be served. */
  bytes: Uint8Array;
  filled: number;
  /** Why a range went before its bytes arrived (its waiters rethrow it). */
  error?: Error;
  /** read() calls waiting for bytes up to `need`, sorted by `need`: each progress event settles a prefix. */
  waiters: Waiter[];
  /** Tick of the last segment served from it. */
  lastHit: number;
  /** A run of segments published has passed its end, from before its start. */
  published: boolean;
  /** The whole-blob hash has passed its end. */
  hashed: boolean;
}

/** What is known of one blob (by digest): its ranges, sorted and disjoint, and its runs. */
interface BlobState {
  readonly hex: string;
  readonly size: number;
  readonly extents: Extent[];
  /** The range the previous segment came from: consecutive Interests nearly always hit it again. */
  hint?: Extent;
  /** Runs of segments published, of the whole-blob hash, and of nodes built ahead of it. */
  readonly runs: BlobRuns;
  readonly hashRuns: BlobRuns;
  readonly nodeRuns: BlobRuns;
  /**
   * The manifest builder read this blob (or, see HASHING_TICKS, read others lately): a range its
   * whole-blob hash has not passed yet stays until it has, from the blob's start if it has not
   * read that yet.
   */
  hashing: boolean;
  /** Bytes published from it and read for it since it was last forgotten: the read budget. */
  published: number;
  read: number;
  touched: number;
  alive: boolean;
  /** Offsets of the reads that missed in this event-loop turn, and a name to read each with. */
  wanted: Array<{ readonly at: number; readonly id: BlobId; readonly reader: RangeReader }>;
}

const EMPTY = new Uint8Array(0);
/** Blobs whose access (ranges, runs) is remembered; the least recently used is forgotten. */
const MAX_BLOBS = 4096;
/**
 * Blocks a largest read is made of: a run's reads shrink to fewer of them when many runs share the
 * large pool (see runSizes).
 */
const LARGE_PARTS = 4;
/** V8's collector, when node runs with --expose-gc (the server's shebang). */
const collectGarbage = (globalThis as { gc?: () => void }).gc;
/** The coarse clock: ticks of TICK_MS. */
const TICK_MS = 250;
/** A range served within this many ticks is in use: never evicted for another read. */
const HOT_TICKS = 4;
/**
 * The manifest builder read a blob within this many ticks: anchored consumers or edge stores are
 * about, and they ask a blob's manifest nodes while or just after they fetch its segments (a store
 * once the blob is complete), so every blob's ranges are kept for the builder's hash too.
 */
const HASHING_TICKS = 240;

/** Which ranges in memory a new read may push out: only those read to their end, or also those gone cold. */
type Evictable = "consumed" | "cold";

/** The range (in memory or on its way) that holds byte `at`, by binary search. */
function findExtent(extents: readonly Extent[], at: number): Extent | undefined {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = extents[mid]!;
    if (at < e.begin) {
      hi = mid;
    } else if (at >= e.end) {
      lo = mid + 1;
    } else {
      return e;
    }
  }
  return undefined;
}

/** Index of the first range that begins at or after `at`. */
function firstFrom(extents: readonly Extent[], at: number): number {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (extents[mid]!.begin < at) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
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

/**
 * Blob bytes read from the registry, in ranges that earn their size: a segment that misses with no
 * evidence behind it reads its 48 KB block (the blocks that missed in the same turn together);
 * blobs being read in sequence (see sequential-runs.ts) read larger ranges and ahead, up to
 * `maxRead` per request. Memory comes from two fixed pools (small blocks, large ranges) sized from
 * `cacheBytes`; registry reads in flight are bounded (LoadSlots). A range in use is never evicted
 * for another: past the bounds a read is refused (RangeOverloadError). A view returned by peek()
 * or read() is valid until the end of the current event-loop turn (callers copy it at once).
 */
/** Whether a read may take `blocks` free blocks of `tier`: read-ahead ("consumed") only above the tier's reserve. */
function mayTakeFree(tier: Tier, evict: Evictable, blocks: number): boolean {
  return evict === "cold" || tier.pool.free - blocks >= tier.reserve;
}

export class RangeCache {
  private readonly seg: number;
  private readonly sizes: ReadSizes;
  /**
   * Segments a run publishes in order before it reads ahead or reads a miss in its window larger
   * than a block: one legacy segment (two of segmentSize) or a few scattered ones are no evidence.
   */
  private readonly evidence: number;
  /** Blobs whose runs asked for a large read, and the tick they last did: they share the large pool. */
  private readonly running = new Map<BlobState, number>();
  private readonly small: Tier;
  private readonly large: Tier;
  private readonly slots: LoadSlots;
  /** Read-ahead leaves this many slots to reads that Interests wait for. */
  private readonly reserve: number;
  private readonly idleTicks: number;
  private readonly blobs: LRUCache<string, BlobState>;
  /** BlobIds are shared per blob name by the adapters: the per-Interest lookup skips the digest's hex. */
  private readonly byId = new WeakMap<BlobId, BlobState>();
  private readonly dirty = new Set<BlobState>();
  /** Settled by the next flush; read() calls that missed in this turn wait for it. */
  private flushed?: { readonly promise: Promise<void>; readonly resolve: () => void };
  private tick = 0;
  /** The tick the manifest builder last read a range. */
  private hashedTick = -Infinity;
  private readonly timer: NodeJS.Timeout;
  readonly stats: RangeCacheStats;

  constructor(private readonly load: RangeLoader, opts: RangeCacheOptions) {
    this.seg = opts.segmentSize;
    // Ranges begin and end on small-block boundaries (or the blob's end), so they never overlap.
    const small = Math.min(opts.maxRead, opts.blockBytes);
    const smallPerMax = Math.max(1, Math.floor(opts.maxRead / small));
    const parts = Math.min(LARGE_PARTS, smallPerMax);
    const largeBlock = small * Math.floor(smallPerMax / parts);
    const max = parts * largeBlock;
    this.sizes = { small, max, maxAhead: 3 * max };
    this.evidence = Math.ceil(small / this.seg);
    // A quarter of the memory for small blocks (random reads, a blob's first blocks), the rest for
    // large ranges, each 1 to LARGE_PARTS adjacent large blocks; at least a few of each, so a tiny
    // RANGE_CACHE_BYTES still serves.
    const smallCount = Math.max(4, Math.floor(opts.cacheBytes / 4 / small));
    const largeCount = Math.max(2 * parts, Math.floor((opts.cacheBytes - smallCount * small) / largeBlock));
    const tier = (pool: BufferPool): Tier => ({ pool, ready: new Set(), reserve: Math.max(1, Math.floor(pool.capacity / 4)) });
    this.small = tier(new BufferPool(small, smallCount));
    this.large = tier(new BufferPool(largeBlock, largeCount, max));
    this.slots = new LoadSlots(opts.maxLoads, opts.maxQueuedLoads ?? 4 * opts.maxLoads, opts.maxQueueMs ?? 1000);
    this.reserve = Math.max(1, Math.floor(opts.maxLoads / 4));
    this.idleTicks = Math.ceil((opts.idleMs ?? 5000) / TICK_MS);
    this.blobs = new LRUCache({ max: MAX_BLOBS, dispose: (blob) => this.forget(blob) });
    const { small: s, large: l, slots } = this;
    this.stats = {
      hits: 0, misses: 0, loads: 0, loadErrors: 0, loadedBytes: 0,
      get bytes() { return s.pool.bytes + l.pool.bytes; },
      get loadsInFlight() { return slots.inFlight; },
      get loadsQueued() { return slots.queued; },
    };
    this.timer = setInterval(this.onTick, TICK_MS).unref();
  }

  /** Bytes [begin, end) of a blob of `size` bytes, if they are in memory: the per-Interest fast path. */
  peek(id: BlobId, size: number, begin: number, end: number): Uint8Array | undefined {
    const blob = this.known(id);
    if (!blob) {
      return undefined;
    }
    let ext = blob.hint;
    if (ext === undefined || begin < ext.begin || begin >= ext.end) {
      ext = findExtent(blob.extents, begin);
      if (ext === undefined) {
        return undefined;
      }
      blob.hint = ext;
    }
    if (ext.filled < end - ext.begin) {
      return undefined;
    }
    ++this.stats.hits;
    this.served(blob, id, ext, begin, end);
    return ext.bytes.subarray(begin - ext.begin, end - ext.begin);
  }

  /**
   * Where the block holding byte `offset` ends: read() and peek() ranges may not cross it (ranges
   * are made of whole blocks, so a read within one block lies within one range).
   */
  chunkEnd(offset: number): number {
    return (Math.floor(offset / this.sizes.small) + 1) * this.sizes.small;
  }

  /**
   * Bytes [begin, end) (one segment, within one block: see chunkEnd) of a blob of `size` bytes,
   * read from the registry if they are not in memory. Resolves as soon as those bytes have arrived, not when the whole range has.
   * Rejects with RangeOverloadError when the bounds leave no room, or with the registry's error.
   */
  async read(id: BlobId, size: number, begin: number, end: number, reader: RangeReader = "segments"): Promise<Uint8Array> {
    const blob = this.known(id) ?? this.create(id, size);
    ++this.stats.misses;
    let ext = findExtent(blob.extents, begin);
    if (!ext) {
      blob.wanted.push({ at: begin, id, reader });
      this.dirty.add(blob);
      await this.nextFlush();
      ext = findExtent(blob.extents, begin);
      if (!ext) {
        throw new RangeOverloadError("no room for another registry read");
      }
    }
    const need = end - ext.begin;
    if (ext.filled < need && ext.state !== "gone") {
      const waiting = ext;
      await new Promise<void>((resolve) => addWaiter(waiting.waiters, { need, resolve })); // settled by progress or by the load's end
    }
    if (ext.filled < need) {
      throw ext.error ?? new RangeOverloadError("range let go before its bytes arrived");
    }
    this.served(blob, id, ext, begin, end, reader);
    return ext.bytes.subarray(begin - ext.begin, end - ext.begin);
  }

  /** Stop the clock (the process may exit without it; tests call it). */
  close(): void {
    clearInterval(this.timer);
  }

  private known(id: BlobId): BlobState | undefined {
    let blob = this.byId.get(id);
    if (blob === undefined || !blob.alive) {
      blob = this.blobs.get(id.digest.hex);
      if (blob === undefined) {
        return undefined;
      }
      this.byId.set(id, blob);
    } else if (blob.touched !== this.tick) {
      this.blobs.get(blob.hex); // keeps its place in the LRU, once per tick
    }
    blob.touched = this.tick;
    return blob;
  }

  private create(id: BlobId, size: number): BlobState {
    const blob: BlobState = {
      hex: id.digest.hex, size, extents: [], runs: new BlobRuns(), hashRuns: new BlobRuns(), nodeRuns: new BlobRuns(), hashing: false,
      published: 0, read: 0, touched: this.tick, alive: true, wanted: [],
    };
    this.blobs.set(blob.hex, blob);
    this.byId.set(id, blob);
    return blob;
  }

  /**
   * A segment is published from `ext`, or read by the manifest builder: evidence for that reader's
   * runs, and read-ahead when they earned it.
   */
  private served(blob: BlobState, id: BlobId, ext: Extent, begin: number, end: number, reader: RangeReader = "segments"): void {
    ext.lastHit = this.tick;
    blob.published += end - begin;
    // Runs count in segments of segmentSize: a read of another size (legacy names) is evidence for
    // each segment it overlaps.
    const first = Math.floor(begin / this.seg);
    const last = Math.max(first, Math.ceil(end / this.seg) - 1);
    const share = Math.ceil((end - begin) / (last - first + 1));
    if (reader !== "segments") {
      blob.hashing = true;
      this.hashedTick = this.tick;
    }
    const runs = reader === "segments" ? blob.runs : reader === "hash" ? blob.hashRuns : blob.nodeRuns;
    let run: Run | undefined;
    for (let s = first; s <= last; ++s) {
      run = runs.served(s, share) ?? run;
    }
    if (run === undefined) {
      return;
    }
    if (reader !== "node" && run.frontier * this.seg >= ext.end && this.pass(blob, ext, run, reader === "hash" ? "hashed" : "published")
      && this.slots.queued > 0) {
      this.slots.pump(); // a read may be waiting for a buffer these can give
    }
    if (run.frontier >= run.nextCheck && run.frontier - run.start >= this.evidence) {
      run.nextCheck = run.frontier + this.sizes.small / this.seg;
      this.readAhead(blob, id, run, reader);
    }
  }

  /**
   * `run`'s frontier has passed `ext`: mark `flag` on the ranges it covers from its start up to its
   * frontier, which may have jumped (segments published out of order, a run joined). Returns
   * whether a range was marked.
   */
  private pass(blob: BlobState, ext: Extent, run: Run, flag: "published" | "hashed"): boolean {
    const { extents } = blob;
    const from = run.start * this.seg;
    const frontier = run.frontier * this.seg;
    const at = firstFrom(extents, Math.max(ext.begin, from));
    let marked = false;
    for (let i = at; i < extents.length && extents[i]!.end <= frontier; ++i) {
      marked ||= !extents[i]![flag];
      extents[i]![flag] = true;
    }
    for (let i = at - 1; i >= 0 && !extents[i]![flag] && extents[i]!.begin >= from; --i) {
      extents[i]![flag] = true; // behind: passed when this run joined another
      marked = true;
    }
    return marked;
  }

  /**
   * How far the range's readers are done with it. "all": a run passed it, and no run of segments
   * or of the whole-blob hash is behind it and short of its end, so it goes first. "published":
   * its segments were published, the manifest's hash is still to come (else a store asking nodes
   * once the blob is complete has it read twice): it goes only when cold, or for its own blob's
   * segments if that blob is larger than the pool.
   */
  private progress(ext: Extent): "all" | "published" | "none" {
    if (!ext.published && !ext.hashed) {
      return "none";
    }
    const { blob } = ext;
    const first = Math.floor(ext.begin / this.seg);
    const end = Math.ceil(ext.end / this.seg);
    if (!ext.published && blob.runs.behind(first, end)) {
      return "none";
    }
    const hashing = blob.hashing || this.tick - this.hashedTick <= HASHING_TICKS;
    return ext.hashed || !hashing || !blob.hashRuns.behind(first, end, true) ? "all" : "published";
  }

  private readAhead(blob: BlobState, id: BlobId, run: Run, reader: RangeReader): void {
    if (this.slots.free <= this.reserve) {
      return;
    }
    const from = this.coveredTo(blob, run.frontier * this.seg);
    const bytes = aheadReadBytes(run, from, blob.size, this.seg, readBudget(blob.published, blob.read), this.runSizes(blob));
    const tier = bytes > this.sizes.small ? this.large : this.small;
    // Read-ahead never pushes out a range read ahead for another blob that has not reached it.
    if (bytes === 0 || !this.canTake(tier, "consumed", bytes, reader, blob)) {
      return;
    }
    this.addExtent(blob, id, from, this.clip(blob, from, from + bytes), tier, "consumed", reader);
  }

  /** Where the bytes in memory or on their way, contiguous from byte `from`, end. */
  private coveredTo(blob: BlobState, from: number): number {
    const { extents } = blob;
    let i = firstFrom(extents, from);
    let to = from;
    if (i > 0 && extents[i - 1]!.end > from) {
      to = extents[i - 1]!.end;
    }
    while (i < extents.length && extents[i]!.begin === to) {
      to = extents[i++]!.end;
    }
    return to;
  }

  /** `end`, or the start of the next range if that comes first (ranges never overlap). */
  private clip(blob: BlobState, begin: number, end: number): number {
    const next = blob.extents[firstFrom(blob.extents, begin)];
    return Math.min(end, blob.size, next?.begin ?? Infinity);
  }

  private nextFlush(): Promise<void> {
    if (!this.flushed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      this.flushed = { promise, resolve };
      setImmediate(this.flush);
    }
    return this.flushed.promise;
  }

  /**
   * The reads for the segments that missed in this turn: per blob, in order, one read for the
   * blocks that missed next to each other (one registry request, not one per block), or as much
   * as a run's budget allows for a miss in the frontier window of a run a block long or more.
   */
  private readonly flush = () => {
    const done = this.flushed!;
    this.flushed = undefined;
    const { small } = this.sizes;
    const least = this.evidence;
    for (const blob of this.dirty) {
      const wanted = blob.wanted.sort((a, b) => a.at - b.at);
      blob.wanted = [];
      for (let i = 0; i < wanted.length && blob.alive; ++i) {
        const { at, id, reader } = wanted[i]!;
        const segment = Math.floor(at / this.seg);
        if (findExtent(blob.extents, at)) {
          continue;
        }
        const run = blob.runs.missRun(segment, least) ?? blob.hashRuns.missRun(segment, least) ?? blob.nodeRuns.missRun(segment, least);
        const begin = at - at % small;
        let end = begin + missReadBytes(run, readBudget(blob.published, blob.read), run ? this.runSizes(blob) : this.sizes);
        for (let j = i + 1; !run && j < wanted.length && end - begin < this.sizes.max; ++j) {
          const next = wanted[j]!.at;
          if (next >= end + small) {
            break;
          }
          end = Math.max(end, next - next % small + small);
        }
        end = this.clip(blob, begin, Math.min(end, begin + this.sizes.max));
        if (!run && end - begin > small && !this.canTake(this.large, "cold", end - begin, reader, blob)) {
          end = this.clip(blob, begin, begin + small); // no large buffer free: the block alone
        } // a run's read waits for a large buffer (runs free theirs as they go) rather than splitting into blocks
        if (!this.addExtent(blob, id, begin, end, end - begin > small ? this.large : this.small, "cold", reader)) {
          break; // the queue is full: the rest of this blob's misses are refused
        }
      }
    }
    this.dirty.clear();
    done.resolve();
  };

  private addExtent(blob: BlobState, id: BlobId, begin: number, end: number, tier: Tier, evict: Evictable, reader: RangeReader): boolean {
    const ext: Extent = {
      blob, begin, end, tier, state: "queued", bytes: EMPTY, filled: 0, waiters: [], lastHit: this.tick, published: false, hashed: false,
    };
    const at = firstFrom(blob.extents, begin);
    blob.extents.splice(at, 0, ext);
    const admitted = this.slots.enter(() => this.start(ext, id, evict, reader), () => this.fail(ext, new RangeOverloadError("registry read queued too long")));
    if (admitted) {
      blob.read += end - begin;
    } else {
      blob.extents.splice(at, 1);
    }
    return admitted;
  }

  /** Start reading `ext` if a buffer can be had; else it waits in the queue (or it is no longer wanted). */
  private start(ext: Extent, id: BlobId, evict: Evictable, reader: RangeReader): SlotOutcome {
    if (ext.state === "gone") {
      return "gone";
    }
    if (!ext.blob.alive) {
      this.fail(ext, new RangeOverloadError("blob forgotten"));
      return "gone";
    }
    const buf = this.take(ext.tier, evict, ext.end - ext.begin, reader, ext.blob);
    if (!buf) {
      return "wait";
    }
    ext.buf = buf;
    ext.bytes = buf.subarray(0, ext.end - ext.begin);
    ext.state = "loading";
    const onProgress = (filled: number) => {
      if (filled <= ext.filled || ext.state !== "loading") {
        return;
      }
      ext.filled = filled;
      const waiters = ext.waiters;
      let n = 0;
      while (n < waiters.length && waiters[n]!.need <= filled) {
        waiters[n++]!.resolve();
      }
      if (n > 0) {
        waiters.splice(0, n);
      }
    };
    this.load(id, ext.begin, ext.end, ext.bytes, onProgress).then(() => {
      ++this.stats.loads;
      this.stats.loadedBytes += ext.bytes.length;
      onProgress(ext.bytes.length);
      ext.state = "ready";
      ext.tier.ready.add(ext);
      if (!ext.blob.alive) {
        this.drop(ext);
      }
    }, (err: unknown) => {
      ++this.stats.loadErrors;
      this.fail(ext, err instanceof Error ? err : new Error(String(err)));
    }).finally(() => this.slots.leave());
    return "started";
  }

  /** A range that will not arrive: its waiters see `err`, its buffer goes back. */
  private fail(ext: Extent, err: Error): void {
    ext.error = err;
    ext.filled = 0; // nothing more is served from a buffer about to be reused
    this.drop(ext);
  }

  /**
   * Let a range go: out of its blob's index, its buffer back to the pool (offered to a read waiting
   * for one, unless the caller takes it itself), its waiters woken.
   */
  private drop(ext: Extent, offer = true): void {
    const { blob } = ext;
    const i = blob.extents.indexOf(ext);
    if (i >= 0) {
      blob.extents.splice(i, 1);
    }
    if (blob.hint === ext) {
      blob.hint = undefined;
    }
    ext.tier.ready.delete(ext);
    ext.state = "gone";
    ext.waiters.forEach((w) => w.resolve());
    ext.waiters = [];
    if (ext.buf) {
      ext.tier.pool.release(ext.buf);
      ext.buf = undefined;
      if (offer && this.slots.queued > 0) {
        this.slots.pump();
      }
    }
  }

  /**
   * A buffer from `tier`'s pool for `bytes`, giving up the ranges in memory least likely to be
   * served again until one fits (a large buffer is adjacent blocks of one slab). Read-ahead takes
   * free blocks only above the tier's reserve, else ones a run has read to its end: a read that
   * Interests wait for finds a buffer while other blobs read ahead.
   */
  private take(tier: Tier, evict: Evictable, bytes: number, reader: RangeReader, blob: BlobState): Uint8Array | undefined {
    const blocks = Math.ceil(bytes / tier.pool.size);
    let buf = mayTakeFree(tier, evict, blocks) ? tier.pool.take(this.tick, blocks) : undefined;
    while (!buf) {
      const victim = this.coldest(tier, evict, this.outgrows(reader, blob));
      if (!victim) {
        return undefined;
      }
      this.drop(victim, false);
      buf = tier.pool.take(this.tick, blocks);
    }
    return buf;
  }

  private canTake(tier: Tier, evict: Evictable, bytes: number, reader: RangeReader, blob: BlobState): boolean {
    const blocks = Math.ceil(bytes / tier.pool.size);
    return (mayTakeFree(tier, evict, blocks) && tier.pool.canTake(blocks)) || this.coldest(tier, evict, this.outgrows(reader, blob)) !== undefined;
  }

  /** `blob`, if `reader` publishes its segments and it is larger than the large pool: it cannot wait for its manifest's hash. */
  private outgrows(reader: RangeReader, blob: BlobState): BlobState | undefined {
    const { pool } = this.large;
    return reader === "segments" && blob.size > pool.capacity * pool.size ? blob : undefined;
  }

  /**
   * Read sizes for a run of `blob`: the large pool is shared by the runs that asked for it in the
   * last second, and each reads at most half its share at once and holds at most its share ahead,
   * so 20 pulls read 1 MB ranges from a pool of a few dozen MB rather than wait for 4 MB buffers.
   */
  private runSizes(blob: BlobState): ReadSizes {
    this.running.set(blob, this.tick);
    let runs = 0;
    for (const tick of this.running.values()) {
      runs += tick > this.tick - HOT_TICKS ? 1 : 0;
    }
    const { pool } = this.large;
    const share = Math.floor(pool.capacity / runs);
    const blocks = Math.max(1, Math.min(pool.maxBlocks, Math.floor(share / 2)));
    const maxAhead = pool.size * Math.max(blocks, share - blocks);
    if (blocks === pool.maxBlocks && maxAhead >= this.sizes.maxAhead) {
      return this.sizes;
    }
    return { small: this.sizes.small, max: blocks * pool.size, maxAhead: Math.min(maxAhead, this.sizes.maxAhead) };
  }

  /**
   * The range in memory to give up for another: one every reader is done with, else one of
   * `blob`'s own whose segments were all published (see outgrows), else (for a read that Interests wait for) one not served for a
   * second; of the first kind found, the one served longest ago. Undefined: every range is in use.
   */
  private coldest(tier: Tier, evict: Evictable, blob?: BlobState): Extent | undefined {
    let victim: Extent | undefined;
    let victimRank = 0;
    for (const ext of tier.ready) {
      const progress = this.progress(ext);
      const rank = progress === "all" ? 3 : progress === "published" && ext.blob === blob ? 2
        : evict === "cold" && ext.lastHit <= this.tick - HOT_TICKS ? 1 : 0;
      if (rank > victimRank || (rank > 0 && rank === victimRank && ext.lastHit < victim!.lastHit)) {
        victim = ext;
        victimRank = rank;
      }
    }
    return victim;
  }

  private forget(blob: BlobState): void {
    blob.alive = false;
    for (const ext of [...blob.extents]) {
      if (ext.state === "ready") {
        this.drop(ext);
      } // loading ranges let go of their buffer when they end, queued ones never start
    }
  }

  /**
   * The clock, and every second: reads queued too long are refused, ranges idle for idleMs let
   * go, spare buffers dropped, and blobs with nothing in memory and no recent Interest forgotten.
   */
  private readonly onTick = () => {
    ++this.tick;
    this.slots.pump(); // reads queued too long are refused; ranges gone cold free buffers
    if (this.tick % 4 !== 0) {
      return;
    }
    const idle = this.tick - this.idleTicks;
    let released = 0;
    for (const tier of [this.small, this.large]) {
      for (const ext of tier.ready) {
        if (ext.lastHit < idle) {
          this.drop(ext);
        }
      }
      released += tier.pool.trim(idle);
    }
    if (released > 0 && collectGarbage) {
      // Nothing has been read for idleMs: a full collection now frees the slabs let go (and the
      // rest of the burst's garbage), which V8 alone would keep until allocation resumed. V8
      // frees dead buffers' memory behind a collection, so a second one a second later returns
      // what the first left.
      collectGarbage();
      setTimeout(collectGarbage, 1000).unref();
    }
    for (const [blob, tick] of this.running) {
      if (tick <= this.tick - HOT_TICKS) {
        this.running.delete(blob);
      }
    }
    const forgotten: string[] = [];
    this.blobs.forEach((blob, hex) => {
      if (blob.touched < idle && blob.extents.length === 0) {
        forgotten.push(hex);
      }
    });
    forgotten.forEach((hex) => this.blobs.delete(hex));
  };
}
