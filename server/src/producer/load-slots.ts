/** What a read does when offered a slot: it started, it waits on (no buffer yet), or it is no longer wanted. */
export type SlotOutcome = "started" | "wait" | "gone";

interface Queued {
  readonly start: () => SlotOutcome;
  readonly refuse: () => void;
  readonly since: number;
}

/**
 * Registry reads in flight, bounded: past the bound a read waits in a short queue, as does one
 * that has a slot but no buffer yet, and is refused when the queue is full or it waited longer
 * than consumers wait for an answer. Reads that can go go in the order they came.
 */
export class LoadSlots {
  private running = 0;
  private readonly queue: Queued[] = [];
  private pumping = false;
  private again = false;
  /** While reads wait: refuses them when their time is up, even if nothing else happens. */
  private timer?: NodeJS.Timeout;

  constructor(readonly max: number, readonly maxQueued: number, private readonly maxWaitMs: number) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Slots free now (read-ahead only takes one of these; it never queues). */
  get free(): number {
    return this.max - this.running;
  }

  /**
   * `start` now or once it can go; false (and neither called) when the queue is full. The reads
   * queued before it are offered their slot first; then it goes at once if it can (those left wait
   * for a buffer of their own), not at the next read's end or tick.
   */
  enter(start: () => SlotOutcome, refuse: () => void): boolean {
    if (this.queue.length > 0) {
      this.pump();
    }
    if (this.offer(start) !== "wait") {
      return true;
    }
    if (this.queue.length >= this.maxQueued) {
      return false;
    }
    this.queue.push({ start, refuse, since: performance.now() });
    this.timer ??= setTimeout(this.expire, this.maxWaitMs);
    return true;
  }

  /** A read ended: its slot goes to the queue. */
  leave(): void {
    --this.running;
    this.pump();
  }

  /**
   * Offer slots to the queued reads (a read ended, a buffer was freed), after refusing those that
   * waited too long (also called on a timer: nothing else may happen for a while).
   */
  pump(): void {
    if (this.pumping) {
      this.again = true; // a start freed a buffer: go round once more
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        const now = performance.now();
        for (let i = 0; i < this.queue.length;) {
          const q = this.queue[i]!;
          if (now - q.since > this.maxWaitMs) {
            this.queue.splice(i, 1);
            q.refuse();
            continue;
          }
          if (this.running >= this.max) {
            break;
          }
          if (this.offer(q.start) === "wait") {
            ++i;
          } else {
            this.queue.splice(i, 1);
          }
        }
      } while (this.again);
    } finally {
      this.pumping = false;
    }
    if (this.queue.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private readonly expire = () => {
    this.timer = undefined;
    this.pump();
    if (this.queue.length > 0) {
      this.timer = setTimeout(this.expire, Math.max(1, this.queue[0]!.since + this.maxWaitMs - performance.now()) + 1);
    }
  };

  private offer(start: () => SlotOutcome): SlotOutcome {
    if (this.running >= this.max) {
      return "wait";
    }
    ++this.running;
    const outcome = start();
    if (outcome !== "started") {
      --this.running;
    }
    return outcome;
  }
}
