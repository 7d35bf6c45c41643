/**
 * Decides whether a blob should try NDN at all. Without it, every blob waits out the first-byte
 * deadline while the uplink is down or the prefix has no route (ndnd sends no Nack then):
 * seconds per layer. After a fetch got no answer at all, NDN is skipped for a while (1 s, doubling
 * up to 30 s); when that time is up one request probes NDN while the others keep going over HTTP,
 * and the first segment that arrives (or a new uplink) opens the way again.
 */
export class NdnGate {
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly uplinkUp: () => boolean,
    /** How long one probe may take before another request may probe (the first-byte deadline). */
    private readonly probeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True: try NDN for this request. */
  allow(): boolean {
    if (!this.uplinkUp()) {
      return false;
    }
    if (this.failures === 0) {
      return true;
    }
    const now = this.now();
    if (now < this.retryAt) {
      return false;
    }
    this.retryAt = now + this.probeMs + 1000; // this request is the probe
    return true;
  }

  /** A segment arrived: NDN works. */
  reachable(): void {
    this.failures = 0;
  }

  /** A fetch ended before any segment arrived (no answer, network Nack). */
  unreachable(): void {
    ++this.failures;
    this.retryAt = this.now() + Math.min(30_000, 1000 * 2 ** (this.failures - 1));
  }

  /** NDN is being skipped (or probed) after fetches that got no answer. */
  get skipping(): boolean {
    return this.failures > 0;
  }
}
