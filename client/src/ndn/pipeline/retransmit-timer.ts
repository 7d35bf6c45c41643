import { SegmentState, type SegmentRing } from "./segment-ring.js";

/**
 * How long an Interest waits for its Data: the RTO, doubled for each retransmission of that
 * segment (RFC 6298 5.5, per segment: one slow segment must not slow the timer of the others).
 */
export function segmentTimeout(rtoMs: number, retx: number, maxRtoMs: number): number {
  return Math.min(maxRtoMs, rtoMs * 2 ** retx);
}

/**
 * The retransmission timer: every `tickMs`, the Interests in flight whose timeout has passed.
 * One interval per fetch scans its ring; with a window of thousands that is a few microseconds
 * per tick, and no timer object per Interest.
 */
export class RetransmitTimer {
  private interval?: NodeJS.Timeout;

  constructor(private readonly tickMs = 20) {}

  start(tick: (now: number) => void): void {
    this.stop();
    this.interval = setInterval(() => tick(performance.now()), this.tickMs);
  }

  stop(): void {
    clearInterval(this.interval);
    this.interval = undefined;
  }

  /**
   * Calls `expire` for each Pending segment in [from, to) whose timeout has passed at `now`,
   * in segment order, until it returns false.
   */
  static scan(ring: SegmentRing<unknown>, from: number, to: number, now: number, rtoMs: number, maxRtoMs: number, expire: (seg: number) => boolean): void {
    for (let seg = from; seg < to; ++seg) {
      if (ring.state(seg) === SegmentState.Pending && now - ring.sentAt(seg) >= segmentTimeout(rtoMs, ring.retx(seg), maxRtoMs) && !expire(seg)) {
        return;
      }
    }
  }
}
