/** RTT samples at the start of each round that make its least RTT (RFC 9406: N_RTT_SAMPLE). */
const SAMPLES_PER_ROUND = 8;

/**
 * HyStart's delay test (RFC 9406, and Linux CUBIC's HyStart): slow start ends when a round trip's
 * least RTT, over its first 8 samples, is above the last round's by clamp(last / 8, 4 ms, 16 ms),
 * i.e. when a queue starts to build. Without it, slow start stops only at a loss, which the
 * pipeline sees a retransmission timeout later: the window has grown by every Data of that
 * timeout by then, several times what the path holds.
 */
export class SlowStartExit {
  private currentMin = Infinity;
  private lastMin = Infinity;
  private samples = 0;

  /** A new round trip began: its samples are compared with the one that ended. */
  newRound(): void {
    if (this.samples >= SAMPLES_PER_ROUND) {
      this.lastMin = this.currentMin;
    }
    this.currentMin = Infinity;
    this.samples = 0;
  }

  /** One RTT sample; true when slow start should end. */
  sample(rttMs: number): boolean {
    if (this.samples >= SAMPLES_PER_ROUND) {
      return false;
    }
    this.currentMin = Math.min(this.currentMin, rttMs);
    if (++this.samples < SAMPLES_PER_ROUND || this.lastMin === Infinity) {
      return false;
    }
    return this.currentMin >= this.lastMin + Math.min(Math.max(this.lastMin / 8, 4), 16);
  }
}
