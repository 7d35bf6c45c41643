/**
 * Evidence of sequential interest in one blob, from the segments actually published: a run is a
 * stretch of segments served from its start with no gap behind its frontier. The range cache reads
 * large ranges, and reads ahead, only for a run, and only within the blob's budget: all its
 * registry reads stay within READ_AMPLIFICATION times the bytes it published (issue 16: one random
 * Interest read 12 MB).
 */

/** Segments past a run's frontier whose publication is remembered, so the frontier catches up after reordering. */
const WINDOW = 2048;
const WINDOW_MASK = WINDOW - 1;
/** Segments just behind a run's frontier: one published again there is a retransmission, not a new run. */
const RECENT = 8;

/** Registry bytes a blob may cost per byte it published. */
export const READ_AMPLIFICATION = 8;

export interface Run {
  /** Segments [start, frontier) have all been published. */
  readonly start: number;
  frontier: number;
  /** Distinct bytes published in the run, behind and past its frontier (the least published run is replaced first). */
  published: number;
  /** Bit (s mod WINDOW): segment s in (frontier, frontier + WINDOW) was published. */
  readonly past: Uint8Array;
  /** Read-ahead is considered when the frontier reaches this segment (once per small read). */
  nextCheck: number;
}

/** How the range cache may read: its read sizes in bytes. */
export interface ReadSizes {
  /** A read with no evidence behind it: the block of segments around one that missed (64 KB). */
  readonly small: number;
  /** The largest read, one registry request (4 MB: the registry's cost is per request). */
  readonly max: number;
  /** Most bytes read past a run's frontier. */
  readonly maxAhead: number;
}

/**
 * The runs of one blob: a few at once (clients pulling from different places), the least
 * published replaced first, so Interests scattered over a blob cannot push out a pull in progress.
 */
export class BlobRuns {
  private readonly runs: Run[] = [];
  private last?: Run;

  constructor(private readonly maxRuns = 4) {}

  /**
   * Segment `s` of `bytes` bytes was published. Returns its run if that run's frontier moved
   * (then read-ahead may be due), else undefined.
   */
  served(s: number, bytes: number): Run | undefined {
    const hit = this.last !== undefined && s === this.last.frontier ? this.last : this.ahead(s);
    if (hit) {
      this.last = hit;
      if (!publish(hit, s, bytes)) {
        return undefined;
      }
      this.join(hit);
      return hit;
    }
    if (this.runs.some((r) => s < r.frontier && s >= r.frontier - RECENT)) {
      return undefined; // just behind a frontier: a retransmission
    }
    // Further behind: a second pass over the blob (another consumer, the CS long since emptied)
    // gets a run of its own. A stray retransmission's run of one earns nothing (see missRun).
    this.last = this.startRun(s, bytes);
    return undefined;
  }

  /**
   * A run whose frontier reached the start of another takes it over: segments served out of order
   * as a blob starts (a later block's bytes arriving first) start a second run, and the first
   * would otherwise stop for good at the second's start, reading nothing ahead and keeping its
   * ranges from counting as read to their end.
   */
  private join(run: Run): void {
    for (let next = this.startingAt(run); next; next = this.startingAt(run)) {
      // Segments [run.frontier, next.frontier) were published: their bits go, next's are run's now.
      for (let f = run.frontier; f < Math.min(next.frontier, run.frontier + WINDOW); ++f) {
        run.past[(f & WINDOW_MASK) >>> 3]! &= ~(1 << (f & 7));
      }
      next.past.forEach((bits, i) => { run.past[i]! |= bits; });
      run.frontier = next.frontier;
      run.published += next.published;
      this.runs.splice(this.runs.indexOf(next), 1);
      if (this.last === next) {
        this.last = run;
      }
      catchUp(run);
    }
  }

  private startingAt(run: Run): Run | undefined {
    return this.runs.find((r) => r !== run && r.start === run.frontier);
  }

  /**
   * Whether a run may still read segments [first, end): one began at or before `first` and its
   * frontier has not reached `end`. `fromStart`: as if a run began at segment 0 and had published
   * nothing, unless one did begin there.
   */
  behind(first: number, end: number, fromStart = false): boolean {
    let atStart = false;
    for (const r of this.runs) {
      if (r.start <= first && r.frontier < end) {
        return true;
      }
      atStart ||= r.start === 0;
    }
    return fromStart && !atStart;
  }

  /**
   * The run whose frontier window holds segment `s`, the one with the nearest frontier behind it:
   * a leader's segments past its frontier are its own, not those of a run trailing it.
   */
  ahead(s: number): Run | undefined {
    let nearest: Run | undefined;
    for (const r of this.runs) {
      if (s >= r.frontier && s < r.frontier + WINDOW && (nearest === undefined || r.frontier > nearest.frontier)) {
        nearest = r;
      }
    }
    return nearest;
  }

  /**
   * The run a miss at segment `s` is read on the account of: one whose frontier window holds `s`
   * and that has `least` segments or more behind its frontier. A lone segment is no evidence of a
   * reader that far ahead: random Interests each start a run, and the budget each leaves unspent
   * would go to the next one that falls in such a window (bench:abuse's random case read 8x).
   */
  missRun(s: number, least: number): Run | undefined {
    const run = this.ahead(s);
    return run !== undefined && run.frontier - run.start >= least ? run : undefined;
  }

  private startRun(s: number, bytes: number): Run {
    let past: Uint8Array;
    if (this.runs.length < this.maxRuns) {
      past = new Uint8Array(WINDOW / 8);
    } else {
      let least = 0;
      for (let i = 1; i < this.runs.length; ++i) {
        if (this.runs[i]!.published < this.runs[least]!.published) {
          least = i;
        }
      }
      past = this.runs.splice(least, 1)[0]!.past.fill(0);
    }
    const run: Run = { start: s, frontier: s + 1, published: bytes, past, nextCheck: s + 1 };
    this.runs.push(run);
    return run;
  }
}

/** Mark `s` published in `run`; true when the frontier moved. */
function publish(run: Run, s: number, bytes: number): boolean {
  if (s !== run.frontier) {
    const bit = 1 << (s & 7);
    const at = (s & WINDOW_MASK) >>> 3;
    if ((run.past[at]! & bit) === 0) {
      run.past[at]! |= bit;
      run.published += bytes;
    }
    return false;
  }
  run.published += bytes;
  ++run.frontier;
  catchUp(run);
  return true;
}

/** Move the frontier over the segments published past it. Every bit behind the frontier is clear: this clears each one it passes. */
function catchUp(run: Run): void {
  for (let f = run.frontier; ; f = ++run.frontier) {
    const bit = 1 << (f & 7);
    const at = (f & WINDOW_MASK) >>> 3;
    if ((run.past[at]! & bit) === 0) {
      return;
    }
    run.past[at]! &= ~bit;
  }
}

/**
 * Registry bytes a blob may still read in large ranges and ahead: READ_AMPLIFICATION times what it
 * published, less everything read for it. A read for a segment that missed is always allowed (its
 * block, at most READ_AMPLIFICATION times the segment), so the bound holds for the blob as a whole.
 */
export function readBudget(published: number, read: number): number {
  return READ_AMPLIFICATION * published - read;
}

/**
 * How many bytes a miss at a segment reads (from its small block's start): a small block, or for
 * a miss in a run's frontier window as much as the budget allows, up to the largest read.
 */
export function missReadBytes(run: Run | undefined, budget: number, sizes: ReadSizes): number {
  if (!run || budget <= sizes.small) {
    return sizes.small;
  }
  return Math.min(sizes.max, budget - budget % sizes.small);
}

/**
 * The read-ahead due for `run`, whose bytes are in memory or on their way from its frontier up to
 * byte `coveredTo` of a blob of `size` bytes: how many bytes to read from `coveredTo`, or 0.
 * Each read is at least as large as what is already ahead (so reads double as the run grows),
 * within the budget and the most bytes ahead of the frontier.
 */
export function aheadReadBytes(run: Run, coveredTo: number, size: number, segmentSize: number, budget: number, sizes: ReadSizes): number {
  const left = size - coveredTo;
  if (left <= 0) {
    return 0;
  }
  const ahead = Math.max(0, coveredTo - run.frontier * segmentSize);
  const amount = Math.min(sizes.max, budget, sizes.maxAhead - ahead, left);
  const least = Math.min(left, sizes.max, Math.max(sizes.small, ahead));
  if (amount < least) {
    return 0;
  }
  return amount === left ? left : amount - amount % sizes.small;
}
