/**
 * A congestion window in segments. The caller decides when a signal counts (one decrease per
 * round trip, increases only while the window is what limits sending, when slow start ends); the
 * controller only says how the window moves.
 */
export interface CongestionController {
  /** Interests that may be in flight (fractional; the caller takes the floor). */
  readonly cwnd: number;
  readonly slowStart: boolean;
  /**
   * A segment arrived unmarked: `srttMs` is the path's smoothed RTT, `slowStartGrowth` what slow
   * start adds for it (less than 1 once the RTTs rise, RFC 9406).
   */
  increase(now: number, srttMs: number, slowStartGrowth: number): void;
  /**
   * A congestion event: a loss, a congestion Nack or a congestion mark. `carried`: Data the path
   * delivered in the last round trip, what it really held (a loss is seen a timeout late, by
   * when the window may have outgrown the path several times over).
   */
  decrease(now: number, carried: number): void;
  /**
   * A congestion mark with a standing queue on the path: the window shrinks to `factor` of itself
   * (the queue's share of the RTT drained), slow start ends, and growth resumes towards the window
   * the mark came at.
   */
  drain(now: number, factor: number): void;
  /** Slow start ends without a loss (a queue is building). */
  exitSlowStart(now: number): void;
  /** Back to the initial window and slow start (the path was idle). */
  restart(): void;
}

/** A window that never moves (tests, and a reference point for the benches). */
export class FixedWindow implements CongestionController {
  readonly slowStart = false;

  constructor(readonly cwnd: number) {}

  increase(): void {
    // fixed
  }

  decrease(): void {
    // fixed
  }

  drain(): void {
    // fixed
  }

  exitSlowStart(): void {
    // fixed
  }

  restart(): void {
    // fixed
  }
}
