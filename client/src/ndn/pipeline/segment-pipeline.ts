import type { Name } from "@ndn/packet";

import { NackReason, type SegmentChannel, type SegmentFlow, type SegmentPacket, type SegmentSink } from "./channel.js";
import { RetransmitTimer, segmentTimeout } from "./retransmit-timer.js";
import { RttEstimator } from "./rtt-estimator.js";
import { SegmentRing, SegmentState } from "./segment-ring.js";
import { SharedWindow, type WindowUser } from "./shared-window.js";

export interface PipelineOptions {
  readonly channel: SegmentChannel;
  /** First segment to fetch (default 0): a byte range fetches only the segments it covers. */
  readonly first?: number;
  readonly signal: AbortSignal;
  /** The uplink's congestion window, shared by every fetch on it; default: one for this fetch. */
  readonly window?: SharedWindow;
  /** Retransmissions of one segment before giving up. */
  readonly maxRetx?: number;
  /** Filled in as the fetch runs (for logs and metrics). */
  readonly stats?: PipelineStats;
  /** Called as each segment is asked for the first time, before its Interest leaves (what it needs alongside may leave first). */
  readonly onRequest?: (segment: number) => void;
}

export interface PipelineStats {
  delivered: number;
  retransmissions: number;
  /** This fetch's Interests in flight. */
  inFlight: number;
  /** The congestion window this fetch sends under (shared with the uplink's other fetches). */
  window: number;
  rtoMs: number;
  srttMs: number;
  congestionMarks: number;
  congestionNacks: number;
  oldestPending?: number;
}

/**
 * Every field present from the start: a field added later changes the object's hidden class, and
 * the optimized pipeline code that writes stats is thrown away (deoptimized) for each new fetch.
 */
export function newPipelineStats(): PipelineStats {
  return { delivered: 0, retransmissions: 0, inFlight: 0, window: 0, rtoMs: 0, srttMs: 0, congestionMarks: 0, congestionNacks: 0, oldestPending: undefined };
}

export function describeStats(s: PipelineStats): string {
  return `delivered ${s.delivered}, in flight ${s.inFlight}, window ${s.window.toFixed(1)}, rto ${s.rtoMs.toFixed(0)} ms, `
    + `retransmissions ${s.retransmissions}, congestion marks ${s.congestionMarks}, congestion Nacks ${s.congestionNacks}, oldest pending ${s.oldestPending ?? "-"}`;
}

export class PipelineError extends Error {}

/**
 * Most segments from the oldest not yet delivered to the newest requested: what arrived behind a
 * lost segment waits in memory, so this bounds it (x 8000 bytes).
 */
const MAX_SPAN = 4096;

/** In-order segments that wake the consumer at once (256 KB: one HTTP write). */
const MIN_BATCH = 32;

/**
 * Segments ready in order that may wait for the reader before the fetch stops sending, at least
 * (the bound is the larger of this and the window): a slow HTTP reader holds back the network,
 * and the memory it costs stays bounded.
 */
const MIN_READY = 256;

/** Interest lifetime bounds: the PIT entries of a lost Interest expire about when it times out. */
const MIN_LIFETIME_MS = 500;
const MAX_RTO_MS = 4000;

/**
 * Fetches segments [first, count) of `name` in order, in batches of consecutive segments, keeping
 * Interests in flight on one channel under a congestion window (shared with the uplink's other
 * fetches) and an RFC 6298 retransmission timer. Every arriving Data refills the window at once:
 * NDNts' fetch() sends at most one Interest per wake-up, which left both ends idle most of the
 * time. A congestion Nack or mark decreases the window; a network Nack of any other kind ends
 * the fetch so that the caller can fall back.
 */
export async function* fetchSegments(name: Name, count: number, opts: PipelineOptions): AsyncGenerator<SegmentPacket[]> {
  const fetch = new SegmentFetch(name, count, opts);
  try {
    yield* fetch.run();
  } finally {
    fetch.close();
  }
}

/**
 * The channel's sink itself, with methods on the prototype: a closure per fetch would give the
 * optimized Data path a new call target at every fetch, and V8 would throw that code away.
 */
class SegmentFetch implements WindowUser, SegmentSink {
  private readonly window: SharedWindow;
  private readonly ring = new SegmentRing<SegmentPacket>(256, 1 << 16);
  private readonly rtt = new RttEstimator({ maxRtoMs: MAX_RTO_MS });
  private readonly timer = new RetransmitTimer();
  private readonly flow: SegmentFlow;
  private readonly maxRetx: number;
  readonly stats: PipelineStats;
  /** Segments [first, next) have been requested. */
  private next: number;
  private delivered: number;
  /** Segments [first, contiguous) have all arrived (delivered or waiting in the ring). */
  private contiguous: number;
  private inFlight = 0;
  /** Segments declared lost, to be sent again before any new one (stale entries are skipped). */
  private readonly lost: number[] = [];
  private failure?: Error;
  private wake?: () => void;
  private closed = false;

  constructor(private readonly name: Name, private readonly count: number, private readonly opts: PipelineOptions) {
    this.window = opts.window ?? new SharedWindow();
    this.next = this.delivered = this.contiguous = opts.first ?? 0;
    this.maxRetx = Math.min(opts.maxRetx ?? 8, 255);
    this.stats = opts.stats ?? newPipelineStats();
    this.flow = opts.channel.open(name, this);
    // Here and in close(), not in run(): on Node 20 every AbortSignal has a map of its own, so a
    // signal touched in optimized code throws that code away at each new fetch.
    opts.signal.addEventListener("abort", this.onAbort, { once: true });
  }

  async *run(): AsyncGenerator<SegmentPacket[]> {
    this.timer.start(this.onTick);
    this.window.join(this);
    this.window.pump();
    while (this.delivered < this.count) {
      // Everything that is in order goes out as one batch: one resumption of each consumer
      // instead of one per 8000-byte segment.
      const batch: SegmentPacket[] = [];
      while (this.delivered < this.contiguous) {
        batch.push(this.ring.take(this.delivered++));
      }
      if (batch.length > 0) {
        this.stats.delivered = this.delivered;
        this.window.pump(); // the reader made room: a fetch held back by it may send again
        yield batch;
        continue;
      }
      if (this.failure) {
        throw this.failure;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.opts.signal.removeEventListener("abort", this.onAbort);
    this.timer.stop();
    this.updateStats();
    this.window.leave(this, this.inFlight);
    this.inFlight = 0;
    this.ring.clear(this.delivered, this.next);
    this.flow.close();
  }

  sendOne(now: number): boolean {
    if (this.closed || this.failure) {
      return false;
    }
    while (this.lost.length > 0) {
      const seg = this.lost.shift()!;
      if (seg >= this.delivered && this.ring.state(seg) === SegmentState.Lost) {
        this.ring.addRetx(seg);
        ++this.stats.retransmissions;
        this.send(seg, now, true);
        return true;
      }
    }
    const seg = this.next;
    if (seg >= this.count || seg - this.delivered >= MAX_SPAN || this.contiguous - this.delivered >= Math.max(MIN_READY, this.window.cwnd)
      || !this.ring.reserve(this.delivered, seg + 1)) {
      return false;
    }
    ++this.next;
    this.opts.onRequest?.(seg);
    this.send(seg, now, false);
    return true;
  }

  private send(seg: number, now: number, retransmission: boolean): void {
    this.ring.sent(seg, now, retransmission);
    ++this.inFlight;
    // The PIT entries on the way live about as long as this Interest is waited for: a
    // retransmission after that is forwarded again, not taken for a duplicate.
    const timeout = segmentTimeout(this.rtt.rto, this.ring.retx(seg), MAX_RTO_MS);
    this.flow.express(seg, Math.max(MIN_LIFETIME_MS, Math.round(timeout)));
  }

  private readonly onAbort = (): void => this.fail(new PipelineError(`fetch aborted: ${String(this.opts.signal.reason)}`));

  data(packet: SegmentPacket, marked: boolean): void {
    const seg = packet.segment;
    if (seg < this.delivered || seg >= this.next) {
      return; // late: delivered already, or never requested
    }
    const state = this.ring.state(seg);
    const now = performance.now();
    if (marked) {
      ++this.stats.congestionMarks;
    }
    if (state === SegmentState.Pending) {
      const sentAt = this.ring.sentAt(seg);
      const rtt = this.ring.retx(seg) === 0 ? now - sentAt : Number.NaN; // Karn: none from retransmissions
      if (!Number.isNaN(rtt)) {
        this.rtt.push(rtt, sentAt, now);
      }
      --this.inFlight;
      this.window.answered(sentAt, now, rtt, this.rtt, marked);
    } else if (state !== SegmentState.Lost) {
      return; // a duplicate
    }
    // Lost but answered late: taken all the same, and its retransmission skipped.
    this.ring.arrived(seg, packet);
    while (this.contiguous < this.next && this.ring.state(this.contiguous) === SegmentState.Arrived) {
      ++this.contiguous;
    }
    this.window.pump(now);
    // Wake the consumer for a whole batch, not for every socket read: each wake-up costs a
    // generator resumption, the HTTP writer's promises and their microtasks (docs/performance.md,
    // "Wake-ups"). Fewer segments wait at most one timer tick (onTick).
    if (this.contiguous - this.delivered >= MIN_BATCH || this.contiguous === this.count) {
      this.notify();
    }
  }

  nack(seg: number, reason: number): void {
    if (seg < this.delivered || seg >= this.next || this.ring.state(seg) !== SegmentState.Pending) {
      return;
    }
    if (reason === NackReason.Duplicate) {
      return; // another copy of the Interest is on its way: its Data or the timer settles it
    }
    if (reason !== NackReason.Congestion) {
      this.fail(new PipelineError(`network Nack (reason ${reason}) for segment ${seg} of ${this.name}`));
      return;
    }
    ++this.stats.congestionNacks;
    this.declareLost(seg, performance.now());
    this.window.pump();
  }

  private readonly onTick = (now: number): void => {
    RetransmitTimer.scan(this.ring, this.delivered, this.next, now, this.rtt.rto, MAX_RTO_MS, (seg) => {
      if (this.ring.retx(seg) >= this.maxRetx) {
        this.fail(new PipelineError(`segment ${seg}: no Data after ${this.maxRetx} retransmissions`));
        return false;
      }
      this.declareLost(seg, now);
      return true;
    });
    this.window.pump(now);
    this.updateStats();
    if (this.contiguous > this.delivered) {
      this.notify();
    }
  };

  private declareLost(seg: number, now: number): void {
    const sentAt = this.ring.sentAt(seg);
    this.ring.setState(seg, SegmentState.Lost);
    this.lost.push(seg);
    --this.inFlight;
    this.window.lost(sentAt, now, true);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private updateStats(): void {
    const s = this.stats;
    s.delivered = this.delivered;
    s.inFlight = this.inFlight;
    s.window = this.window.cwnd;
    s.rtoMs = this.rtt.rto;
    s.srttMs = this.rtt.srtt;
    s.oldestPending = undefined;
    for (let seg = this.delivered; seg < this.next; ++seg) {
      if (this.ring.state(seg) === SegmentState.Pending) {
        s.oldestPending = seg;
        break;
      }
    }
  }
}
