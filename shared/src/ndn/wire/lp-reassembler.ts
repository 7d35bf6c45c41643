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

/**
 * NDNLPv2 reassembly for the hot path: fragments of one packet carry consecutive sequence
 * numbers, so `sequence - fragIndex` names the packet. At most `maxPartial` packets are held
 * incomplete (the oldest is dropped for a new one: its missing fragment was lost, and the
 * pipeline sends its Interest again). Whole packets are copied into slabs carved in order, like
 * a stream socket's read chunks: one allocation per slab, not per packet.
 */
export class LpReassembler {
  private readonly partial = new Map<number, Partial>();
  private slab = Buffer.allocUnsafe(0);
  private offset = 0;
  dropped = 0;

  constructor(private readonly maxPartial = 256, private readonly maxFragments = 64, private readonly slabSize = 256 * 1024) {}

  /** Add one fragment (fragCount > 1); the whole packet once its last fragment is in. */
  add(f: LpFrame): Reassembled | undefined {
    if (f.fragCount > this.maxFragments || f.sequence === undefined) {
      ++this.dropped;
      return undefined;
    }
    const key = (f.sequence - f.fragIndex) >>> 0;
    let p = this.partial.get(key);
    if (!p) {
      if (this.partial.size >= this.maxPartial) {
        this.partial.delete(this.partial.keys().next().value!);
        ++this.dropped;
      }
      p = { parts: new Array<Uint8Array | undefined>(f.fragCount), received: 0, bytes: 0, congestionMark: 0 };
      this.partial.set(key, p);
    }
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
    const packet = this.take(p.bytes);
    let at = 0;
    for (const part of p.parts) {
      packet.set(part!, at);
      at += part!.length;
    }
    return { packet, pitToken: p.first?.pitToken, nackReason: p.first?.nackReason, congestionMark: p.congestionMark };
  }

  private take(size: number): Buffer {
    if (size > this.slabSize / 4) {
      return Buffer.allocUnsafe(size);
    }
    if (this.offset + size > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(this.slabSize);
      this.offset = 0;
    }
    const out = this.slab.subarray(this.offset, this.offset + size);
    this.offset += (size + 7) & ~7;
    return out;
  }
}
