import type { CongestionController } from "./congestion-controller.js";

export interface CubicOptions {
  readonly initialWindow?: number;
  /** Window after a decrease, as a fraction of the window before (RFC 9438: 0.7). */
  readonly beta?: number;
  /** Growth constant in segments per second^3 (RFC 9438: 0.4). */
  readonly c?: number;
  /** Least window after a decrease. */
  readonly minWindow?: number;
}

/**
 * Initial window, in segments (1 MB). It is the uplink's, shared by every fetch on it, and each
 * round trip of slow start costs a long path most: a path of a few hundred segments in flight is
 * filled one round sooner than from 64 (docs/performance.md, issue 15).
 */
const INITIAL_WINDOW = 128;

/**
 * CUBIC (RFC 9438), as ndnget and NDNts consumers use it: slow start until the first congestion
 * event, then a window that grows with the cube of the time since the last decrease, back to the
 * window where that happened (W_max) and beyond, never slower than Reno would (the
 * Reno-friendly estimate), with fast convergence so that a newcomer gets its share. Growth is in
 * time, not in round trips, so a long path refills as fast as a short one.
 */
export class Cubic implements CongestionController {
  private window: number;
  private readonly initialWindow: number;
  private ssthresh = Infinity;
  private wMax = 0;
  private lastWMax = 0;
  private k = 0;
  /** Start of the current congestion-avoidance epoch (ms). */
  private epoch = 0;
  private wEst = 0;
  private cwndPrior = 0;
  private readonly beta: number;
  private readonly c: number;
  private readonly minWindow: number;
  private readonly alphaCubic: number;

  constructor(opts: CubicOptions = {}) {
    this.initialWindow = opts.initialWindow ?? INITIAL_WINDOW;
    this.window = this.initialWindow;
    this.beta = opts.beta ?? 0.7;
    this.c = opts.c ?? 0.4;
    this.minWindow = opts.minWindow ?? 2;
    this.alphaCubic = (3 * (1 - this.beta)) / (1 + this.beta);
  }

  get cwnd(): number {
    return this.window;
  }

  get slowStart(): boolean {
    return this.window < this.ssthresh;
  }

  increase(now: number, srttMs: number, slowStartGrowth = 1): void {
    if (this.window < this.ssthresh) {
      this.window += slowStartGrowth;
      return;
    }
    const t = (now - this.epoch) / 1000;
    const rtt = srttMs / 1000;
    const target = Math.min(Math.max(this.wCubic(t + rtt), this.window), 1.5 * this.window);
    this.wEst += (this.wEst >= this.cwndPrior ? 1 : this.alphaCubic) / this.window;
    if (this.wCubic(t) < this.wEst) {
      this.window = this.wEst; // Reno-friendly region: short paths, where Reno would grow faster
    } else {
      this.window += (target - this.window) / this.window;
    }
  }

  decrease(now: number, carried: number): void {
    const w = Math.min(this.window, Math.max(carried, this.minWindow));
    this.cwndPrior = w;
    // Fast convergence: a window that shrank since the last event gives way to newcomers.
    this.wMax = w < this.lastWMax ? (w * (1 + this.beta)) / 2 : w;
    this.lastWMax = w;
    this.window = Math.max(w * this.beta, this.minWindow);
    this.ssthresh = this.window;
    this.startEpoch(now, this.window);
  }

  drain(now: number, factor: number): void {
    const w = this.window;
    this.cwndPrior = w;
    this.wMax = w;
    this.lastWMax = w;
    this.window = Math.max(w * factor, this.minWindow);
    this.ssthresh = this.window;
    this.startEpoch(now, this.window);
  }

  exitSlowStart(now: number): void {
    if (this.window < this.ssthresh) {
      this.ssthresh = this.window;
      this.cwndPrior = this.window;
      this.wMax = this.window;
      this.startEpoch(now, this.window);
    }
  }

  restart(): void {
    this.window = this.initialWindow;
    this.ssthresh = Infinity;
    this.wMax = 0;
    this.lastWMax = 0;
  }

  private startEpoch(now: number, cwndEpoch: number): void {
    this.epoch = now;
    if (this.wMax < cwndEpoch) {
      this.wMax = cwndEpoch;
    }
    this.k = Math.cbrt((this.wMax - cwndEpoch) / this.c);
    this.wEst = cwndEpoch;
  }

  private wCubic(t: number): number {
    return this.c * (t - this.k) ** 3 + this.wMax;
  }
}
