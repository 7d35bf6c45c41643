/** RFC 9406's constants: samples before a round's RTT counts, growth and length of conservative slow start. */
const N_RTT_SAMPLE = 8;
const CSS_GROWTH_DIVISOR = 4;
const CSS_ROUNDS = 5;

/**
 * HyStart++ (RFC 9406): slow start ends before a loss once the round trips grow. When a round's
 * least RTT over its first 8 samples is above the last round's by clamp(last / 8, 4 ms, 16 ms), a queue
 * is building: growth drops to a quarter (conservative slow start) for 5 rounds, then congestion
 * avoidance begins; a round whose RTT falls back below the one that set it off resumes slow start
 * (the rise was jitter, not a queue). Without it, slow start stops only at a loss, seen a
 * retransmission timeout later, or at a congestion mark.
 */
export class SlowStartExit {
  private currentMin = Infinity;
  private lastMin = Infinity;
  private samples = 0;
  /** The least RTT that set conservative slow start off. */
  private cssBaseline = Infinity;
  /** Rounds of conservative slow start so far; -1: in slow start proper. */
  private cssRounds = -1;

  /** Window growth per segment answered: 1 in slow start, a quarter in conservative slow start. */
  get growth(): number {
    return this.cssRounds < 0 ? 1 : 1 / CSS_GROWTH_DIVISOR;
  }

  /** A new round trip began; true when conservative slow start has run its rounds: slow start ends. */
  newRound(): boolean {
    this.lastMin = this.currentMin;
    this.currentMin = Infinity;
    this.samples = 0;
    return this.cssRounds >= 0 && ++this.cssRounds >= CSS_ROUNDS;
  }

  /** One RTT sample in slow start. */
  sample(rttMs: number): void {
    if (this.samples >= N_RTT_SAMPLE) {
      return; // a round's first samples decide, once: its later ones queue behind its own burst
    }
    this.currentMin = Math.min(this.currentMin, rttMs);
    if (++this.samples < N_RTT_SAMPLE) {
      return;
    }
    if (this.cssRounds < 0) {
      if (this.lastMin < Infinity && this.currentMin >= this.lastMin + Math.min(Math.max(this.lastMin / 8, 4), 16)) {
        this.cssBaseline = this.currentMin;
        this.cssRounds = 0;
      }
    } else if (this.currentMin < this.cssBaseline) {
      this.cssBaseline = Infinity;
      this.cssRounds = -1;
    }
  }
}
