import { randomBytes } from "node:crypto";

import { readLpFrame } from "./packets.js";
import { headerSize, nniSize, TLV, writeHeader, writeNni } from "./tlv.js";

/** Sequence (8 bytes), FragIndex and FragCount (up to 2 bytes each), Fragment and LpPacket headers. */
const OVERHEAD = 10 + 4 + 4 + 4 + 4;

/**
 * NDNLPv2 fragmentation for the hot path on UDP faces: a packet larger than the face's MTU is
 * split into LpPackets with consecutive 64-bit sequence numbers, the PIT token in the first one
 * (as NDNts, NFD and ndnd do). Sequence numbers start at random, so they do not meet those of
 * NDNts' own fragmenter on the same face.
 */
export class LpFragmenter {
  private sequence = randomBytes(8).readBigUInt64BE();

  constructor(private readonly mtu: number) {}

  /** The frames that carry `packet` (a bare packet or one LpPacket around it); [packet] when it fits. */
  fragment(packet: Uint8Array): Uint8Array[] {
    if (packet.length <= this.mtu) {
      return [packet];
    }
    const lp = readLpFrame(packet);
    if (!lp || lp.fragCount !== 1 || lp.nackReason !== undefined) {
      throw new RangeError("LpFragmenter: only a whole Interest or Data, with at most a PIT token, is fragmented");
    }
    const { fragment: payload, pitToken } = lp;
    const room = this.mtu - OVERHEAD;
    const first = room - (pitToken ? headerSize(TLV.LpPitToken, pitToken.length) + pitToken.length : 0);
    const count = 1 + Math.ceil(Math.max(0, payload.length - first) / room);
    const frames: Uint8Array[] = [];
    for (let index = 0, off = 0; index < count; ++index) {
      const piece = payload.subarray(off, off + (index === 0 ? first : room));
      off += piece.length;
      frames.push(this.frame(piece, index, count, index === 0 ? pitToken : undefined));
    }
    return frames;
  }

  private frame(piece: Uint8Array, index: number, count: number, pitToken?: Uint8Array): Uint8Array {
    const inner = 10 + 2 + nniSize(index) + 2 + nniSize(count) + (pitToken ? headerSize(TLV.LpPitToken, pitToken.length) + pitToken.length : 0)
      + headerSize(TLV.LpFragment, piece.length) + piece.length;
    const buf = Buffer.allocUnsafe(headerSize(TLV.LpPacket, inner) + inner);
    let off = writeHeader(buf, 0, TLV.LpPacket, inner);
    off = writeHeader(buf, off, TLV.LpSequence, 8);
    buf.writeBigUInt64BE(this.sequence, off);
    this.sequence = BigInt.asUintN(64, this.sequence + 1n);
    off = writeNni(buf, writeHeader(buf, off + 8, TLV.LpFragIndex, nniSize(index)), index);
    off = writeNni(buf, writeHeader(buf, off, TLV.LpFragCount, nniSize(count)), count);
    if (pitToken) {
      off = writeHeader(buf, off, TLV.LpPitToken, pitToken.length);
      buf.set(pitToken, off);
      off += pitToken.length;
    }
    off = writeHeader(buf, off, TLV.LpFragment, piece.length);
    buf.set(piece, off);
    return buf;
  }
}
