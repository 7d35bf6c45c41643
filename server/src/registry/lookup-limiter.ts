import { LRUCache } from "lru-cache";

import { BoundRefusedError } from "./bound-refusal.js";

/** A registry lookup the rate limits refused: the Interests waiting on it get no answer. */
export class LookupRefusedError extends BoundRefusedError {}

export interface LookupLimits {
  /** Registry lookups per second, overall and per repository (the prefix branch an Interest names). */
  readonly rate: number;
  readonly repositoryRate: number;
  /**
   * Lookups waiting for their turn (half in each half of the rate), and how long one may wait
   * (consumers retransmit after ~1 s). By default what the rate can serve within the wait, and a
   * burst: a longer queue would only hold lookups until they are refused.
   */
  readonly maxWaiting?: number;
  readonly maxWaitMs?: number;
}

export interface LookupLimiterStats {
  refused: number;
  readonly waiting: number;
}

/** A token bucket: `tokens` as of time `at` (ms). */
interface Bucket {
  tokens: number;
  at: number;
}

interface Waiting {
  readonly repository: string;
  /** The half of the rate (and of the queue) it was queued in. */
  readonly half: 0 | 1;
  readonly demand: () => number;
  readonly since: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Repositories where the registry found a blob recently: their lookups have half the rate to themselves. */
const PROVEN_TTL_MS = 10 * 60_000;

/**
 * Rate limits on registry lookups (HEADs) of blobs the server does not know yet: a flood of
 * Interests for unknown digests (each costs the registry a HEAD, then sits in the negative cache)
 * gets at most `rate` per second overall, and `repositoryRate` in any one repository, so a flood
 * in one repository leaves the others their share. The overall rate is split in two halves: one
 * for repositories where the registry found a blob in the last 10 minutes (proven), one for the
 * rest, so a flood spread over made-up repository names cannot starve a pull from a repository
 * in use. In any one second at most 1.25 x `rate` lookups go out (bursts of a quarter second's
 * worth, then the rate).
 * Past the limits lookups wait their turn, the one more Interests wait for first (then the one
 * whose repository has fewer waiting): a consumer starting a blob sends a window of Interests for
 * it, a flood one per digest. Each half has its own share of the queue, so lookups in proven
 * repositories never wait behind a flood of made-up ones. Known blobs never come here (the
 * catalog answers them), so they never wait behind a flood. wouldRefuse() tells, without
 * allocating, whether a new lookup would be refused: a flood's Interests are dropped before any
 * asynchronous work.
 */
export class LookupLimiter {
  /** The two halves of the overall rate: [unproven repositories, proven ones]. */
  private readonly overall: readonly [Bucket, Bucket];
  private readonly overallRate: number;
  private readonly overallBurst: number;
  private readonly proven = new LRUCache<string, true>({ max: 10_000, ttl: PROVEN_TTL_MS, ttlResolution: 0 });
  private readonly repositories: LRUCache<string, Bucket>;
  private readonly waiting: Waiting[] = [];
  /** Lookups waiting, per repository, and per half of the rate. */
  private readonly waitingIn = new Map<string, number>();
  private readonly waitingInHalf: [number, number] = [0, 0];
  private timer?: NodeJS.Timeout;
  /** Lookups that may wait in each half of the rate. */
  private readonly maxWaitingPerHalf: number;
  private readonly maxWaitMs: number;
  readonly stats: LookupLimiterStats;

  constructor(private readonly limits: LookupLimits) {
    this.overallRate = limits.rate / 2;
    this.overallBurst = Math.max(1, limits.rate / 8);
    const now = performance.now();
    this.overall = [{ tokens: this.overallBurst, at: now }, { tokens: this.overallBurst, at: now }];
    this.repositories = new LRUCache({ max: 10_000 });
    this.maxWaitMs = limits.maxWaitMs ?? 1000;
    const maxWaiting = limits.maxWaiting ?? Math.ceil(limits.rate * this.maxWaitMs / 1000 + 2 * this.overallBurst);
    this.maxWaitingPerHalf = Math.max(1, Math.ceil(maxWaiting / 2));
    const { waiting } = this;
    this.stats = { refused: 0, get waiting() { return waiting.length; } };
  }

  /**
   * Resolves when a lookup in `repository` may go to the registry; rejects with LookupRefusedError
   * when it waited too long or was pushed out by lookups more Interests wait for.
   * `demand`: how many Interests wait for this lookup now.
   */
  admit(repository: string, demand: () => number): Promise<void> {
    const now = performance.now();
    const half = this.halfOf(repository);
    if (this.waitingInHalf[half] === 0 && this.take(repository, half, now) === "taken") {
      return Promise.resolve();
    }
    if (this.waitingInHalf[half] >= this.maxWaitingPerHalf) {
      const least = this.leastWanted(half);
      if (this.outranks(this.waiting[least]!, repository, demand())) {
        ++this.stats.refused;
        return Promise.reject(new LookupRefusedError("too many registry lookups waiting"));
      }
      this.refuse(least, "pushed out by lookups more Interests wait for");
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ repository, half, demand, since: now, resolve, reject });
      this.waitingIn.set(repository, this.waitingCount(repository) + 1);
      ++this.waitingInHalf[half];
      this.timer ??= setTimeout(this.pump, this.interval);
    });
  }

  /**
   * Whether admit() would refuse a lookup in `repository` that one Interest waits for, decided now
   * without allocating: its half of the queue is full of lookups at least as wanted. Counted as
   * refused when it is.
   */
  wouldRefuse(repository: string): boolean {
    const half = this.halfOf(repository);
    if (this.waitingInHalf[half] < this.maxWaitingPerHalf || !this.outranks(this.waiting[this.leastWanted(half)]!, repository, 1)) {
      return false;
    }
    ++this.stats.refused;
    return true;
  }

  /** A waiting lookup keeps its place against a newcomer: more Interests wait for it, or as many in a repository no more crowded. */
  private outranks(w: Waiting, repository: string, demand: number): boolean {
    const d = w.demand();
    return d > demand || (d === demand && this.waitingCount(w.repository) <= this.waitingCount(repository) + 1);
  }

  /** The registry found a blob in `repository`: its lookups draw on the proven half of the rate for a while. */
  found(repository: string): void {
    if (!this.proven.has(repository)) {
      this.proven.set(repository, true);
    }
  }

  /** 1: the proven half of the rate, 0: the rest. */
  private halfOf(repository: string): 0 | 1 {
    return this.proven.has(repository) ? 1 : 0;
  }

  /** Both buckets have a token: take them. Else which one has none. */
  private take(repository: string, half: 0 | 1, now: number): "taken" | "overall" | "repository" {
    const overall = this.overall[half];
    if (refill(overall, now, this.overallRate, this.overallBurst) < 1) {
      return "overall";
    }
    const own = this.repositories.get(repository) ?? { tokens: this.limits.repositoryRate, at: now };
    if (refill(own, now, this.limits.repositoryRate, Math.max(1, this.limits.repositoryRate)) < 1) {
      this.repositories.set(repository, own);
      return "repository";
    }
    --overall.tokens;
    --own.tokens;
    this.repositories.set(repository, own);
    return "taken";
  }

  private get interval(): number {
    return Math.max(5, 1000 / this.overallRate);
  }

  /** Lookups that waited too long are refused; then, while tokens last, the most wanted goes. */
  private readonly pump = () => {
    this.timer = undefined;
    const now = performance.now();
    for (let i = this.waiting.length - 1; i >= 0; --i) {
      if (now - this.waiting[i]!.since > this.maxWaitMs) {
        this.refuse(i, "waited too long for a registry lookup");
      }
    }
    const blocked = new Set<string>();
    const exhausted = [false, false];
    for (;;) {
      let best = -1;
      let bestDemand = 0;
      let bestCrowd = 0;
      for (let i = 0; i < this.waiting.length; ++i) {
        const w = this.waiting[i]!;
        const d = blocked.has(w.repository) || exhausted[w.half] ? 0 : w.demand();
        // Equally wanted: the repository with fewer lookups waiting first, so a flood in one
        // repository does not hold back a lookup in another.
        const crowd = d > 0 && d === bestDemand ? this.waitingCount(w.repository) : 0;
        if (d > bestDemand || (d > 0 && d === bestDemand && crowd < bestCrowd)) {
          best = i;
          bestDemand = d;
          bestCrowd = this.waitingCount(w.repository);
        }
      }
      if (best < 0) {
        break;
      }
      const w = this.waiting[best]!;
      const took = this.take(w.repository, w.half, now);
      if (took === "overall") {
        exhausted[w.half] = true; // its half of the rate is spent: the other half may go on
        continue;
      }
      if (took === "repository") {
        blocked.add(w.repository); // its repository is out of tokens: the next most wanted
        continue;
      }
      this.remove(best);
      w.resolve();
    }
    if (this.waiting.length > 0) {
      this.timer = setTimeout(this.pump, this.interval);
    }
  };

  /** In `half` of the queue, the lookup fewest Interests wait for; of those, the newest in the repository with most waiting. */
  private leastWanted(half: 0 | 1): number {
    let least = 0;
    let leastDemand = Infinity;
    let leastCrowd = 0;
    for (let i = 0; i < this.waiting.length; ++i) {
      const w = this.waiting[i]!;
      if (w.half !== half) {
        continue;
      }
      const d = w.demand();
      const crowd = this.waitingCount(w.repository);
      if (d < leastDemand || (d === leastDemand && crowd >= leastCrowd)) {
        least = i;
        leastDemand = d;
        leastCrowd = crowd;
      }
    }
    return least;
  }

  private waitingCount(repository: string): number {
    return this.waitingIn.get(repository) ?? 0;
  }

  private remove(i: number): Waiting {
    const w = this.waiting.splice(i, 1)[0]!;
    --this.waitingInHalf[w.half];
    const n = this.waitingCount(w.repository) - 1;
    if (n > 0) {
      this.waitingIn.set(w.repository, n);
    } else {
      this.waitingIn.delete(w.repository);
    }
    return w;
  }

  private refuse(i: number, why: string): void {
    ++this.stats.refused;
    this.remove(i).reject(new LookupRefusedError(why));
  }
}

/** Tokens in `b` after refilling at `rate` per second up to `burst`. */
function refill(b: Bucket, now: number, rate: number, burst: number): number {
  b.tokens = Math.min(burst, b.tokens + (now - b.at) * rate / 1000);
  b.at = now;
  return b.tokens;
}
