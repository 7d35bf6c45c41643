/** Per-segment state in a SegmentRing. */
export const enum SegmentState {
  /** Not requested yet, or delivered. */
  Free = 0,
  /** An Interest is in flight. */
  Pending = 1,
  /** Its Data arrived and waits to be delivered in order. */
  Arrived = 2,
  /** Its Interest timed out or was Nacked: to be sent again. */
  Lost = 3,
}

/**
 * One allocation site for every ring's packet slots: V8 makes arrays from a site in the elements
 * kind `fill` left the last one in, so a second site would hand the optimized grow path an array
 * of another map than it saw before and throw that code away.
 */
function emptySlots<P>(size: number): Array<P | undefined> {
  return new Array<P | undefined>(size).fill(undefined);
}

/**
 * The state of segments [base, base + capacity) in typed arrays indexed by segment number modulo
 * a power of two: no object and no Map entry per segment that could live long enough to be
 * promoted (docs/performance.md, "Per-segment state"). The ring doubles when a window needs more
 * room, so its size follows the path; it never shrinks during a fetch.
 */
export class SegmentRing<P> {
  private mask: number;
  private stateOf: Uint8Array;
  private retxOf: Uint8Array;
  private sentAtOf: Float64Array;
  private packetOf: Array<P | undefined>;

  constructor(initialCapacity = 256, private readonly maxCapacity = 1 << 16) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, Math.min(initialCapacity, maxCapacity))));
    this.mask = size - 1;
    this.stateOf = new Uint8Array(size);
    this.retxOf = new Uint8Array(size);
    this.sentAtOf = new Float64Array(size);
    this.packetOf = emptySlots<P>(size);
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /**
   * Make room for segments [from, to): grows (copying the live entries) when they do not fit.
   * False when that would exceed the ring's largest size.
   */
  reserve(from: number, to: number): boolean {
    const needed = to - from;
    if (needed <= this.capacity) {
      return true;
    }
    let size = this.capacity;
    while (size < needed) {
      size *= 2;
    }
    if (size > this.maxCapacity) {
      return false;
    }
    const mask = size - 1;
    const state = new Uint8Array(size);
    const retx = new Uint8Array(size);
    const sentAt = new Float64Array(size);
    const packets = emptySlots<P>(size);
    for (let seg = from; seg < Math.min(to, from + this.capacity); ++seg) {
      const o = seg & this.mask;
      const n = seg & mask;
      state[n] = this.stateOf[o]!;
      retx[n] = this.retxOf[o]!;
      sentAt[n] = this.sentAtOf[o]!;
      packets[n] = this.packetOf[o];
    }
    this.mask = mask;
    this.stateOf = state;
    this.retxOf = retx;
    this.sentAtOf = sentAt;
    this.packetOf = packets;
    return true;
  }

  state(seg: number): SegmentState {
    return this.stateOf[seg & this.mask]!;
  }

  setState(seg: number, s: SegmentState): void {
    this.stateOf[seg & this.mask] = s;
  }

  /** Retransmissions of this segment so far (0: its RTT samples are valid, Karn's rule). */
  retx(seg: number): number {
    return this.retxOf[seg & this.mask]!;
  }

  /** Count one more retransmission (saturates at 255). */
  addRetx(seg: number): number {
    const i = seg & this.mask;
    const n = Math.min(255, this.retxOf[i]! + 1);
    this.retxOf[i] = n;
    return n;
  }

  sentAt(seg: number): number {
    return this.sentAtOf[seg & this.mask]!;
  }

  /** A first Interest for `seg` went out at `now`. */
  sent(seg: number, now: number, retransmission: boolean): void {
    const i = seg & this.mask;
    this.stateOf[i] = SegmentState.Pending;
    this.sentAtOf[i] = now;
    if (!retransmission) {
      this.retxOf[i] = 0;
    }
  }

  /** The segment's Data arrived: kept until delivered. */
  arrived(seg: number, packet: P): void {
    const i = seg & this.mask;
    this.stateOf[i] = SegmentState.Arrived;
    this.packetOf[i] = packet;
  }

  /** Hand out an arrived segment's packet and free its slot. */
  take(seg: number): P {
    const i = seg & this.mask;
    const p = this.packetOf[i]!;
    this.packetOf[i] = undefined;
    this.stateOf[i] = SegmentState.Free;
    return p;
  }

  /** Free every slot in [from, to) (the fetch ended): no packet stays referenced. */
  clear(from: number, to: number): void {
    for (let seg = from; seg < Math.min(to, from + this.capacity); ++seg) {
      const i = seg & this.mask;
      this.stateOf[i] = SegmentState.Free;
      this.packetOf[i] = undefined;
    }
  }
}
