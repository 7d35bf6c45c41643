import type { LpFrame } from "./packets.js";

interface Partial {
  readonly parts: Array<Uint8Array | undefined>;
  received: number;
  bytes: number;
  first?: LpFrame;
  congestionMark: number;
}

/** What a reassembled packet carried: the first fragment's headers, and a mark if any fragment had one. */
export interface Reassembled {
  readonly packet: Uint8Array;
  readonly pitToken?: Uint8Array;
  readonly nackReason?: number;
  readonly congestionMark: number;
}

const EMPTY = new Uint8Array(0);

/**
 * NDNLPv2 reassembly for the hot path: fragments of one packet carry consecutive sequence
 * numbers, so `sequence - fragIndex` names the packet. A forwarder sends a packet's fragments
 * back to back, so they are copied as they arrive, in order, straight to the end of the current
 * slab (the "run": no per-packet bookkeeping, no datagram kept). A fragment out of order sends
 * its packet, and the run's, to the general path: fragments held per packet, at most
 * `maxPartial` packets incomplete (the oldest is dropped for a new one: its missing fragment was
 * lost, and the pipeline sends its Interest again). Whole packets are views of slabs carved in
 * order, like a stream socket's read chunks: one allocation per slab, not per packet; a slab
 * region handed out is never written again.
 */
export class LpReassembler {
  private readonly partial = new Map<number, Partial>();
  private slab = Buffer.allocUnsafe(0);
  /** Where the next packet starts in the slab (8-byte aligned); the run's bytes are at [offset, runEnd). */
  private offset = 0;
  private runKey = 0;
  /** Index of the run's next fragment; -1: no run. */
  private runNext = -1;
  private runCount = 0;
  private runEnd = 0;
  private runFirst?: LpFrame;
  private runMark = 0;
  dropped = 0;

  constructor(private readonly maxPartial = 256, private readonly maxFragments = 64, private readonly slabSize = 256 * 1024) {}

  /** Add one fragment (fragCount > 1); the whole packet once its last fragment is in. */
  add(f: LpFrame): Reassembled | undefined {
    if (f.fragCount > this.maxFragments || f.sequence === undefined) {
      ++this.dropped;
      return undefined;
    }
    const key = (f.sequence - f.fragIndex) >>> 0;
    // A packet larger than a quarter slab is held in parts and copied once, outside the slabs.
    const room = this.slabSize / 4 - f.fragment.length;
    if (this.runNext >= 0 && key === this.runKey) {
      if (f.fragIndex === this.runNext && f.fragCount === this.runCount && this.runEnd - this.offset <= room) {
        return this.extendRun(f);
      }
      this.demoteRun();
    } else if (f.fragIndex === 0 && room >= 0 && !this.partial.has(key)) {
      if (this.runNext >= 0) {
        this.demoteRun();
      }
      this.runKey = key;
      this.runNext = 0;
      this.runCount = f.fragCount;
      this.runEnd = this.offset;
      this.runFirst = f;
      this.runMark = 0;
      return this.extendRun(f);
    }
    return this.addPartial(key, f);
  }

  /** Copy the run's next fragment to the slab; the whole packet after its last. */
  private extendRun(f: LpFrame): Reassembled | undefined {
    const size = f.fragment.length;
    if (this.runEnd + size > this.slab.length) {
      // Not enough room left: the run so far moves to the start of a new slab.
      const slab = Buffer.allocUnsafeSlow(this.slabSize);
      slab.set(this.slab.subarray(this.offset, this.runEnd));
      this.runEnd -= this.offset;
      this.offset = 0;
      this.slab = slab;
    }
    this.slab.set(f.fragment, this.runEnd);
    this.runEnd += size;
    this.runMark = Math.max(this.runMark, f.congestionMark);
    if (++this.runNext < this.runCount) {
      return undefined;
    }
    const packet = this.slab.subarray(this.offset, this.runEnd);
    this.offset = (this.runEnd + 7) & ~7;
    this.runNext = -1;
    const first = this.runFirst!;
    this.runFirst = undefined;
    return { packet, pitToken: first.pitToken, nackReason: first.nackReason, congestionMark: this.runMark };
  }

  /** The run's fragments so far become one part of a held packet (its fragments 1.. empty). */
  private demoteRun(): void {
    const p = this.newPartial(this.runKey, this.runCount);
    const bytes = Buffer.from(this.slab.subarray(this.offset, this.runEnd));
    p.parts.fill(EMPTY, 0, this.runNext);
    p.parts[0] = bytes;
    p.received = this.runNext;
    p.bytes = bytes.length;
    p.first = this.runFirst;
    p.congestionMark = this.runMark;
    this.runNext = -1;
    this.runFirst = undefined;
  }

  private newPartial(key: number, fragCount: number): Partial {
    if (this.partial.size >= this.maxPartial) {
      this.partial.delete(this.partial.keys().next().value!);
      ++this.dropped;
    }
    const p: Partial = { parts: new Array<Uint8Array | undefined>(fragCount), received: 0, bytes: 0, congestionMark: 0 };
    this.partial.set(key, p);
    return p;
  }

  private addPartial(key: number, f: LpFrame): Reassembled | undefined {
    const p = this.partial.get(key) ?? this.newPartial(key, f.fragCount);
    if (p.parts.length !== f.fragCount || p.parts[f.fragIndex] !== undefined) {
      return undefined; // inconsistent or duplicate fragment: the packet completes or ages out
    }
    p.parts[f.fragIndex] = f.fragment;
    ++p.received;
    p.bytes += f.fragment.length;
    p.congestionMark = Math.max(p.congestionMark, f.congestionMark);
    if (f.fragIndex === 0) {
      p.first = f;
    }
    if (p.received < f.fragCount) {
      return undefined;
    }
    this.partial.delete(key);
    // Outside the slab while a run fills its end (a rare path: fragments out of order).
    const packet = Buffer.allocUnsafe(p.bytes);
    let at = 0;
    for (const part of p.parts) {
      packet.set(part!, at);
      at += part!.length;
    }
    return { packet, pitToken: p.first?.pitToken, nackReason: p.first?.nackReason, congestionMark: p.congestionMark };
  }
}
