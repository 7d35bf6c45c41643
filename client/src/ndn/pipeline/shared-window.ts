import type { CongestionController } from "./congestion-controller.js";
import { Cubic } from "./cubic.js";
import { hasQueue, queueAsLongAsPath } from "./rtt-estimator.js";
import { SlowStartExit } from "./slow-start-exit.js";

/** The RTTs of the fetch a signal came from (ms). */
export interface PathRtt {
  readonly srtt: number;
  /** Its least recent RTT: the path without a queue. */
  readonly minRtt: number;
  /** The least RTT of its last whole round trip: above minRtt by the queue that stood all round. */
  readonly lastRoundMin: number;
  /** When the Interests of that round were sent, at the earliest. */
  readonly lastRoundSentFrom: number;
}

/**
 * Idle time after which the window starts over from slow start, as TCP does after an idle RTO
 * (RFC 5681 4.1): another flow may have taken the path meanwhile. An image's layers follow one
 * another much faster than this, and keep the window.
 */
const IDLE_RESTART_MS = 1000;

/** Most a mark shrinks the window in one round trip (a long standing queue drains over a few). */
const MIN_DRAIN_FACTOR = 0.5;

/** A fetch that sends its Interests under a SharedWindow. */
export interface WindowUser {
  /** Send one Interest now (a retransmission first); false when it has none to send. */
  sendOne(now: number): boolean;
}

/**
 * Most Interests sent in one go once the window has room: Interests leave in groups (one socket
 * write, and the producer answers in bursts too), but no larger than a path's queue takes well.
 */
const MAX_GROUP = 32;

/**
 * One congestion window for every fetch on an uplink: they cross the same path, so they share
 * one controller and one count of Interests in flight, and take turns (round robin) whenever
 * the window has room. Three blobs at once then get a third of the path each, at once, where
 * independent controllers would take many round trips to converge. Only Interests in flight
 * count: segments that arrived and wait for a slow reader are the fetch's business.
 *
 * Congestion signals decrease the window once per round trip: a signal about an Interest sent
 * before the last decrease is part of the event that caused it. A timeout or a congestion Nack is
 * a loss (CUBIC's decrease). A congestion mark only says that some face on the way had more than
 * 64 KB queued (ndnd marks at most one packet per 100 ms that way), which a TCP face with more
 * than that in flight, or a burst into a Unix socket, always has: it drains the queue the fetch's
 * own RTTs show standing (its last round's least RTT above its least RTT), and does nothing
 * without one (docs/performance.md, "Congestion marks"). The window grows only while it is what
 * limits sending (RFC 7661): a fetch held back by its reader, or a path with nothing to fetch,
 * does not grow a window it never used.
 * Round trips are counted here too (a round ends when an Interest sent after it began is
 * answered): slow start ends when the RTTs rise (SlowStartExit, HyStart++) or once the smoothed RTT
 * waits a queue as long as the path (queueAsLongAsPath), and a decrease starts
 * from what the path carried in the last round, not from a window grown during the timeout.
 */
export class SharedWindow {
  private inFlightNow = 0;
  private readonly users: WindowUser[] = [];
  private turn = 0;
  /** Whether the last pump stopped because the window was full (not for lack of Interests). */
  private limited = false;
  /** Interests sent before this time belong to the last congestion event. */
  private lastDecrease = -Infinity;
  private decreases = 0;
  /** An answer to an Interest sent at or after this time ends the current round trip. */
  private roundStart = -Infinity;
  private answeredTotal = 0;
  private answeredAtRoundStart = 0;
  /** Data answered during the last whole round trip. */
  private carried = Infinity;
  private slowStartExit = new SlowStartExit();
  /** When the last Interest in flight was answered with none left to send (Infinity: busy). */
  private idleSince = Infinity;

  constructor(readonly controller: CongestionController = new Cubic()) {}

  get cwnd(): number {
    return this.controller.cwnd;
  }

  get inFlight(): number {
    return this.inFlightNow;
  }

  /** Window decreases so far (for tests and logs). */
  get congestionEvents(): number {
    return this.decreases;
  }

  join(user: WindowUser): void {
    this.users.push(user);
  }

  /** The user leaves with `inFlight` Interests still out: they no longer count. */
  leave(user: WindowUser, inFlight: number): void {
    const i = this.users.indexOf(user);
    if (i >= 0) {
      this.users.splice(i, 1);
      if (this.turn > i) {
        --this.turn;
      }
    }
    this.inFlightNow = Math.max(0, this.inFlightNow - inFlight);
    this.pump();
  }

  /** Let the users send, in turns, while the window has room. */
  pump(now = performance.now()): void {
    if (this.inFlightNow === 0 && now - this.idleSince > IDLE_RESTART_MS) {
      this.restart();
    }
    const cwnd = Math.max(1, Math.floor(this.controller.cwnd));
    const free = cwnd - this.inFlightNow;
    if (free <= 0 || free < Math.min(MAX_GROUP, Math.floor(cwnd / 8))) {
      this.limited = true;
      return;
    }
    // Users asked since the last one that sent: counted on every turn, not on a refusal, which
    // comes rarely enough that optimized code would meet it untried and be thrown away.
    let asked = 0;
    while (this.inFlightNow < cwnd && asked < this.users.length) {
      if (this.turn >= this.users.length) {
        this.turn = 0;
      }
      ++asked;
      if (this.users[this.turn++]!.sendOne(now)) {
        ++this.inFlightNow;
        asked = 0;
      }
    }
    this.limited = this.inFlightNow >= cwnd;
    this.idleSince = this.inFlightNow === 0 ? Math.min(this.idleSince, now) : Infinity;
  }

  /** Start over from slow start: after an idle second what the window knew about the path is stale. */
  private restart(): void {
    this.controller.restart();
    this.slowStartExit = new SlowStartExit();
    this.roundStart = -Infinity;
    this.carried = Infinity;
    this.idleSince = Infinity;
  }

  /**
   * An Interest sent at `sentAt` was answered: `rttMs` its RTT sample (NaN for a retransmitted
   * one), `path` the fetch's smoothed and least RTT, `marked` whether the Data carried a
   * congestion mark.
   */
  answered(sentAt: number, now: number, rttMs: number, path: PathRtt, marked: boolean): void {
    --this.inFlightNow;
    ++this.answeredTotal;
    if (sentAt >= this.roundStart) {
      if (this.roundStart !== -Infinity) {
        this.carried = this.answeredTotal - this.answeredAtRoundStart;
      }
      this.answeredAtRoundStart = this.answeredTotal;
      this.roundStart = now;
      // The queue test waits for a round after the first, whose RTTs include the producer's start.
      const hyStartDone = this.slowStartExit.newRound();
      const queued = path.lastRoundMin < Infinity && queueAsLongAsPath(path.srtt, path.minRtt);
      if (this.controller.slowStart && (hyStartDone || queued)) {
        this.controller.exitSlowStart(now);
      }
    }
    if (this.controller.slowStart && !Number.isNaN(rttMs)) {
      this.slowStartExit.sample(rttMs);
    }
    if (marked) {
      this.marked(sentAt, now, path);
    } else if (this.limited) {
      this.controller.increase(now, path.srtt, this.slowStartExit.growth);
    }
  }

  /** An Interest sent at `sentAt` is gone without Data (`congested`: a timeout or a congestion Nack). */
  lost(sentAt: number, now: number, congested: boolean): void {
    --this.inFlightNow;
    if (congested) {
      this.congestion(sentAt, now);
    }
  }

  private marked(sentAt: number, now: number, path: PathRtt): void {
    // The queue must be measured after the last decrease took effect: one round of Interests
    // sent since, answered.
    if (sentAt < this.lastDecrease || path.lastRoundSentFrom < this.lastDecrease || !(path.lastRoundMin < Infinity)) {
      return;
    }
    // Heeded when a queue of half the path's own RTT (at least 4 ms) stood all round, before the
    // queue is long enough to overflow; drained to a quarter of it (at least 2 ms), so the link
    // stays busy while it drains.
    if (!hasQueue(path.lastRoundMin, path.minRtt)) {
      return;
    }
    const factor = Math.max(MIN_DRAIN_FACTOR, (path.minRtt + Math.max(path.minRtt / 4, 2)) / path.lastRoundMin);
    this.lastDecrease = now;
    ++this.decreases;
    this.controller.drain(now, factor);
  }

  private congestion(sentAt: number, now: number): void {
    if (sentAt < this.lastDecrease) {
      return;
    }
    this.lastDecrease = now;
    ++this.decreases;
    this.controller.decrease(now, this.carried);
  }
}
