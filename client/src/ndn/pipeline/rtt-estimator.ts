export interface RttEstimatorOptions {
  /** RTO before the first sample (RFC 6298: 1 s). */
  readonly initialRtoMs?: number;
  /** Least margin above srtt: the RTO is srtt + max(4 x deviation, this). */
  readonly minMarginMs?: number;
  readonly maxRtoMs?: number;
}

/** How long the least RTT seen stands for the path's RTT without a queue. */
const MIN_RTT_WINDOW_MS = 10_000;

/**
 * A whole round this many times above the least RTT, right after a round with no queue worth
 * draining, means the Data now comes from farther away (a cache on the way answered before): a
 * queue builds over rounds, and marks drain it from half the least RTT up.
 */
const FARTHER_SOURCE_FACTOR = 4;

/**
 * Retransmission timeout from RTT samples: RFC 6298's smoothed RTT and mean deviation, with the
 * deviation kept per round trip as Linux does (tcp_rtt_estimator). A fetch takes one sample per
 * segment, a hundred or more per round trip; a deviation smoothed per sample collapses to the
 * jitter between neighbouring segments, and the RTO then fires whenever the queue grows
 * (docs/performance.md, "RTT estimator"). So: srtt and the deviation follow every sample (gains
 * 1/8 and 1/4, a falling RTT moves the deviation 8 times slower), the margin is the largest
 * deviation x 4 of the last round, raised at once and lowered by a quarter per round, and never
 * below `minMarginMs`.
 */
export class RttEstimator {
  private srttMs = 0;
  private mdev = 0;
  /** Largest 4 x mdev seen in the current round. */
  private roundMax = 0;
  /** Per-round margin above srtt. */
  private margin = 0;
  /** A sample from an Interest sent at or after this time ends the current round. */
  private roundStart = 0;
  private rtoMs: number;
  private minRttMs = Infinity;
  private minRttAt = 0;
  private roundMinMs = Infinity;
  private lastRoundMinMs = Infinity;
  private prevRoundMinMs = Infinity;
  /** The current round's samples are of Interests sent since this time (the previous round's start). */
  private roundSentFrom = -Infinity;
  private lastRoundSentFromMs = -Infinity;
  /** Whole rounds so far: the first one's Interests waited for the producer to start (a cold read). */
  private roundsEnded = 0;
  private readonly minMargin: number;
  private readonly maxRto: number;

  constructor(opts: RttEstimatorOptions = {}) {
    this.rtoMs = opts.initialRtoMs ?? 1000;
    this.minMargin = opts.minMarginMs ?? 200;
    this.maxRto = opts.maxRtoMs ?? 60_000;
  }

  /** Smoothed RTT in ms (0 before the first sample). */
  get srtt(): number {
    return this.srttMs;
  }

  get rto(): number {
    return this.rtoMs;
  }

  /**
   * The least RTT of the last 10 s or so (Infinity before the first sample): the path without a
   * queue. An older minimum gives way to the next sample, so a longer path is learnt; so does one
   * a whole round stood far above (FARTHER_SOURCE_FACTOR): a fetch partly answered from a
   * content store must not take every round that waits for the producer for a queue.
   */
  get minRtt(): number {
    return this.minRttMs;
  }

  /**
   * The least RTT of the last whole round trip (Infinity before one, and after the first, whose
   * Interests wait for the producer to start): above minRtt, a queue stood all round long. A
   * burst of Interests queues its own Data for a moment; that shows in srtt, not here.
   */
  get lastRoundMin(): number {
    return this.roundsEnded > 1 ? this.lastRoundMinMs : Infinity;
  }

  /** The last whole round's samples are of Interests sent at or after this time. */
  get lastRoundSentFrom(): number {
    return this.lastRoundSentFromMs;
  }

  /**
   * One RTT sample, from an Interest sent at `sentAt` and answered at `now` (Karn: never from a
   * retransmitted one).
   */
  push(rttMs: number, sentAt: number, now: number): void {
    if (rttMs <= this.minRttMs || now - this.minRttAt > MIN_RTT_WINDOW_MS) {
      this.minRttMs = rttMs;
      this.minRttAt = now;
    }
    if (this.srttMs === 0) {
      this.srttMs = Math.max(rttMs, 0.001);
      this.mdev = rttMs / 2;
      this.margin = Math.max(4 * this.mdev, this.minMargin);
      this.roundMax = this.margin;
      this.roundSentFrom = sentAt;
      this.roundStart = now;
    } else {
      const err = rttMs - this.srttMs;
      this.srttMs += err / 8;
      const dev = Math.abs(err) - this.mdev;
      // A sample below srtt that deviates more than usual (the queue drained) moves the
      // deviation with gain 1/32: the RTO must not grow because the path got faster.
      this.mdev += err < 0 && dev > 0 ? dev / 32 : dev / 4;
      this.roundMax = Math.max(this.roundMax, 4 * this.mdev);
      this.margin = Math.max(this.margin, this.roundMax);
      if (sentAt >= this.roundStart) {
        this.margin -= (this.margin - this.roundMax) / 4;
        this.roundMax = this.minMargin;
        this.prevRoundMinMs = this.lastRoundMinMs;
        this.lastRoundMinMs = this.roundMinMs;
        ++this.roundsEnded;
        this.lastRoundSentFromMs = this.roundSentFrom;
        if (this.lastRoundMinMs > FARTHER_SOURCE_FACTOR * this.minRttMs && !hasQueue(this.prevRoundMinMs, this.minRttMs)) {
          this.minRttMs = Math.min(this.lastRoundMinMs, rttMs);
          this.minRttAt = now;
        }
        this.roundMinMs = Infinity;
        this.roundSentFrom = this.roundStart;
        this.roundStart = now;
      }
    }
    this.roundMinMs = Math.min(this.roundMinMs, rttMs);
    this.rtoMs = Math.min(this.maxRto, this.srttMs + this.margin);
  }
}

/**
 * Whether a round whose least RTT was `roundMin` had a standing queue worth draining over a path
 * of least RTT `minRtt`: half that RTT, 4 ms at least (SharedWindow heeds marks from there).
 */
export function hasQueue(roundMin: number, minRtt: number): boolean {
  return roundMin - minRtt >= Math.max(minRtt / 2, 4);
}

/**
 * Whether RTTs of `srtt` over a path of least RTT `minRtt` wait in a queue as long as the path
 * itself (16 ms at least): the window is twice what the path holds, and slow start is over
 * whatever HyStart++ made of the rounds' least RTTs (a host whose Interests join other hosts'
 * PIT entries at the edge sees least RTTs anywhere below the path's).
 */
export function queueAsLongAsPath(srtt: number, minRtt: number): boolean {
  return srtt - minRtt >= Math.max(minRtt, 16);
}
