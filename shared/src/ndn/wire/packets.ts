import { createHash, hash } from "node:crypto";

import { SEGMENT_FRESHNESS_MS } from "../naming/segments.js";
import { packetArena } from "./slab-arena.js";
import {
  headerSize, nniSize, readNni, readTlv, SIG_TYPE, TLV, writeHeader, writeNni,
} from "./tlv.js";

/**
 * A network-layer packet as the hot path sees it: NDNLPv2 framing removed, only the fields the
 * blob fetcher and producer use. Everything else (fragments, idle LP packets, other types) is
 * left to NDNts.
 */
export interface PeekedPacket {
  readonly type: typeof TLV.Interest | typeof TLV.Data;
  /** The Interest or Data element itself (inside the LpPacket, if any). */
  readonly packet: Uint8Array;
  /** TLV-VALUE of its Name: the concatenated name components. */
  readonly nameValue: Uint8Array;
  readonly pitToken?: Uint8Array;
  /** NackReason when an LpPacket carried a Nack (then `packet` is the Nacked Interest). */
  readonly nackReason?: number;
  /** NDNLPv2 CongestionMark (0: none): a forwarder on the way found its queue too long. */
  readonly congestionMark: number;
}

/** The NDNLPv2 fields of one frame that the hot path reads (a bare packet is its own fragment). */
export interface LpFrame {
  /** The payload: a whole Interest or Data, or one fragment of one. */
  readonly fragment: Uint8Array;
  readonly pitToken?: Uint8Array;
  readonly nackReason?: number;
  readonly congestionMark: number;
  /** 1 when the payload is a whole packet. */
  readonly fragCount: number;
  readonly fragIndex: number;
  /** Low 32 bits of the Sequence (fragments of one packet have consecutive sequence numbers). */
  readonly sequence?: number;
}

/** Read a frame's NDNLPv2 headers; undefined if it is malformed or carries no payload (an idle packet). */
export function readLpFrame(frame: Uint8Array): LpFrame | undefined {
  const outer = readTlv(frame, 0);
  if (!outer) {
    return undefined;
  }
  if (outer.type !== TLV.LpPacket) {
    return { fragment: frame.subarray(0, outer.end), congestionMark: 0, fragCount: 1, fragIndex: 0 };
  }
  let fragment: Uint8Array | undefined;
  let pitToken: Uint8Array | undefined;
  let nackReason: number | undefined;
  let congestionMark = 0;
  let fragCount = 1;
  let fragIndex = 0;
  let sequence: number | undefined;
  for (let off = outer.valueStart; off < outer.end;) {
    const f = readTlv(frame, off, outer.end);
    if (!f) {
      return undefined;
    }
    switch (f.type) {
      case TLV.LpPitToken:
        pitToken = frame.subarray(f.valueStart, f.end);
        break;
      case TLV.LpNack: {
        nackReason = 0;
        const r = readTlv(frame, f.valueStart, f.end);
        if (r?.type === TLV.LpNackReason) {
          nackReason = readNni(frame, r.valueStart, r.end) ?? 0;
        }
        break;
      }
      case TLV.LpCongestionMark:
        congestionMark = readNni(frame, f.valueStart, f.end) ?? 0;
        break;
      case TLV.LpSequence:
        if (f.end - f.valueStart !== 8) {
          return undefined;
        }
        sequence = ((frame[f.end - 4]! << 24) | (frame[f.end - 3]! << 16) | (frame[f.end - 2]! << 8) | frame[f.end - 1]!) >>> 0;
        break;
      case TLV.LpFragIndex:
        fragIndex = readNni(frame, f.valueStart, f.end) ?? -1;
        break;
      case TLV.LpFragCount:
        fragCount = readNni(frame, f.valueStart, f.end) ?? 0;
        break;
      case TLV.LpFragment:
        fragment = frame.subarray(f.valueStart, f.end);
        break;
    }
    off = f.end;
  }
  if (!fragment || fragIndex < 0 || fragIndex >= fragCount || (fragCount > 1 && sequence === undefined)) {
    return undefined;
  }
  return { fragment, pitToken, nackReason, congestionMark, fragCount, fragIndex, sequence };
}

/** Unwrap one top-level frame; undefined when the hot path should not handle it (fragments among them). */
export function peekPacket(frame: Uint8Array): PeekedPacket | undefined {
  const lp = readLpFrame(frame);
  return lp && lp.fragCount === 1 ? peekNetworkPacket(lp.fragment, lp) : undefined;
}

/** An Interest or Data (a whole one) with the NDNLPv2 fields its frame carried; undefined if it is neither. */
export function peekNetworkPacket(packet: Uint8Array, lp: Pick<LpFrame, "pitToken" | "nackReason" | "congestionMark">): PeekedPacket | undefined {
  const top = readTlv(packet, 0);
  if (!top || top.end !== packet.length || (top.type !== TLV.Interest && top.type !== TLV.Data)) {
    return undefined;
  }
  const name = readTlv(packet, top.valueStart, top.end);
  if (name?.type !== TLV.Name) {
    return undefined;
  }
  return {
    type: top.type, packet, nameValue: packet.subarray(name.valueStart, name.end), pitToken: lp.pitToken, nackReason: lp.nackReason,
    congestionMark: lp.congestionMark,
  };
}

/** The last name component's offset within `nameValue`, or -1 if the name is malformed or empty. */
export function lastComponentOffset(nameValue: Uint8Array): number {
  let last = -1;
  for (let off = 0; off < nameValue.length;) {
    const c = readTlv(nameValue, off);
    if (!c) {
      return -1;
    }
    last = off;
    off = c.end;
  }
  return last;
}

/** Segment number from a Segment (rev3, type 0x32) component at `offset`, else undefined. */
export function readSegmentComponent(nameValue: Uint8Array, offset: number): number | undefined {
  const c = readTlv(nameValue, offset);
  if (c?.type !== TLV.SegmentNameComponent || c.end !== nameValue.length) {
    return undefined;
  }
  return readNni(nameValue, c.valueStart, c.end);
}

function segmentComponentSize(segment: number): number {
  return 2 + nniSize(segment);
}

function writeSegmentComponent(buf: Uint8Array, offset: number, segment: number): number {
  return writeNni(buf, writeHeader(buf, offset, TLV.SegmentNameComponent, nniSize(segment)), segment);
}

/** Interest for `<blob name>/<segment>`, MustBeFresh, random Nonce, given lifetime. */
export function encodeSegmentInterest(blobNameValue: Uint8Array, segment: number, lifetimeMs: number): Uint8Array {
  const nameLen = blobNameValue.length + segmentComponentSize(segment);
  const lifeLen = nniSize(lifetimeMs);
  const inner = headerSize(TLV.Name, nameLen) + nameLen + 2 /* MustBeFresh */ + 6 /* Nonce */ + 2 + lifeLen;
  const buf = packetArena.alloc(headerSize(TLV.Interest, inner) + inner);
  let off = writeHeader(buf, 0, TLV.Interest, inner);
  off = writeHeader(buf, off, TLV.Name, nameLen);
  buf.set(blobNameValue, off);
  off = writeSegmentComponent(buf, off + blobNameValue.length, segment);
  buf[off++] = TLV.MustBeFresh;
  buf[off++] = 0;
  buf[off++] = TLV.Nonce;
  buf[off++] = 4;
  const nonce = (Math.random() * 0x100000000) >>> 0;
  buf[off++] = nonce >>> 24;
  buf[off++] = (nonce >>> 16) & 0xff;
  buf[off++] = (nonce >>> 8) & 0xff;
  buf[off++] = nonce & 0xff;
  off = writeHeader(buf, off, TLV.InterestLifetime, lifeLen);
  writeNni(buf, off, lifetimeMs);
  return buf;
}

export interface SegmentDataFields {
  /** The Interest's name value (blob name and segment component), echoed exactly. */
  readonly nameValue: Uint8Array;
  readonly contentType: number;
  readonly freshnessMs: number;
  /** Last segment number (FinalBlockId), if known. */
  readonly finalSegment?: number;
  readonly content: Uint8Array;
  /** DigestSha256 (a SHA-256 per packet) or the Null signature (none). */
  readonly signature: "digest" | "null";
  /** PIT token of the Interest being answered: the Data is then wrapped in an LpPacket carrying it. */
  readonly pitToken?: Uint8Array;
}

/** A Data packet (in its LpPacket, if there is a PIT token) in one allocation; the content is copied once. */
export function encodeSegmentData(f: SegmentDataFields): Uint8Array {
  const nameLen = f.nameValue.length;
  const typeLen = f.contentType === 0 ? 0 : 2 + nniSize(f.contentType);
  const freshLen = 2 + nniSize(f.freshnessMs);
  const finalCompLen = f.finalSegment === undefined ? 0 : segmentComponentSize(f.finalSegment);
  const finalLen = f.finalSegment === undefined ? 0 : 2 + finalCompLen;
  const metaLen = typeLen + freshLen + finalLen;
  const sigType = f.signature === "digest" ? SIG_TYPE.Sha256 : SIG_TYPE.Null;
  const sigInfoLen = 2 + nniSize(sigType);
  const sigValueLen = f.signature === "digest" ? 32 : 0;
  const inner = headerSize(TLV.Name, nameLen) + nameLen + 2 + metaLen
    + headerSize(TLV.Content, f.content.length) + f.content.length + 2 + sigInfoLen + 2 + sigValueLen;
  const dataLen = headerSize(TLV.Data, inner) + inner;
  const token = f.pitToken;
  const lpInner = token ? headerSize(TLV.LpPitToken, token.length) + token.length + headerSize(TLV.LpFragment, dataLen) + dataLen : 0;
  const buf = packetArena.alloc(token ? headerSize(TLV.LpPacket, lpInner) + lpInner : dataLen);
  let off = 0;
  if (token) {
    off = writeHeader(buf, off, TLV.LpPacket, lpInner);
    off = writeHeader(buf, off, TLV.LpPitToken, token.length);
    buf.set(token, off);
    off = writeHeader(buf, off + token.length, TLV.LpFragment, dataLen);
  }
  off = writeHeader(buf, off, TLV.Data, inner);
  const signedStart = off;
  off = writeHeader(buf, off, TLV.Name, nameLen);
  buf.set(f.nameValue, off);
  off += nameLen;
  off = writeHeader(buf, off, TLV.MetaInfo, metaLen);
  if (typeLen) {
    off = writeNni(buf, writeHeader(buf, off, TLV.ContentType, nniSize(f.contentType)), f.contentType);
  }
  off = writeNni(buf, writeHeader(buf, off, TLV.FreshnessPeriod, nniSize(f.freshnessMs)), f.freshnessMs);
  if (f.finalSegment !== undefined) {
    off = writeSegmentComponent(buf, writeHeader(buf, off, TLV.FinalBlockId, finalCompLen), f.finalSegment);
  }
  off = writeHeader(buf, off, TLV.Content, f.content.length);
  buf.set(f.content, off);
  off += f.content.length;
  off = writeHeader(buf, off, TLV.SignatureInfo, sigInfoLen);
  off = writeNni(buf, writeHeader(buf, off, TLV.SignatureType, nniSize(sigType)), sigType);
  const signedEnd = off;
  off = writeHeader(buf, off, TLV.SignatureValue, sigValueLen);
  if (sigValueLen) {
    createHash("sha256").update(buf.subarray(signedStart, signedEnd)).digest().copy(buf, off);
  }
  return buf;
}

export interface DecodedData {
  readonly contentType: number;
  readonly content: Uint8Array;
  /** FinalBlockId, when it is a Segment component. */
  readonly finalSegment?: number;
}

/** ContentType, FinalBlockId and Content of a Data element (no copy); undefined if malformed. */
export function decodeDataContent(packet: Uint8Array): DecodedData | undefined {
  const top = readTlv(packet, 0);
  if (top?.type !== TLV.Data) {
    return undefined;
  }
  let contentType = 0;
  let finalSegment: number | undefined;
  let content: Uint8Array = new Uint8Array();
  for (let off = top.valueStart; off < top.end;) {
    const e = readTlv(packet, off, top.end);
    if (!e) {
      return undefined;
    }
    if (e.type === TLV.MetaInfo) {
      for (let m = e.valueStart; m < e.end;) {
        const f = readTlv(packet, m, e.end);
        if (!f) {
          return undefined;
        }
        if (f.type === TLV.ContentType) {
          const v = readNni(packet, f.valueStart, f.end);
          if (v === undefined) {
            return undefined;
          }
          contentType = v;
        } else if (f.type === TLV.FinalBlockId) {
          const c = readTlv(packet, f.valueStart, f.end);
          finalSegment = c?.type === TLV.SegmentNameComponent && c.end === f.end ? readNni(packet, c.valueStart, c.end) : undefined;
        }
        m = f.end;
      }
    } else if (e.type === TLV.Content) {
      content = packet.subarray(e.valueStart, e.end);
    } else if (e.type === TLV.SignatureInfo) {
      break; // nothing after this is needed: the blob digest is what is verified
    }
    off = e.end;
  }
  return { contentType, content, finalSegment };
}

/** The fields of a Data packet but its name and PIT token. */
export type DataFields = Omit<SegmentDataFields, "nameValue" | "pitToken">;

/**
 * The fields of a canonical segment (docs/protocol.md, "Canonical segments"): fully determined by
 * the blob, so every producer makes byte-identical packets and each has a known implicit digest.
 * Its name is `/<prefix>/<digest>/seg=N` with the segment number in its shortest encoding.
 */
export function canonicalSegmentFields(finalSegment: number, content: Uint8Array): DataFields {
  return { contentType: 0, freshnessMs: SEGMENT_FRESHNESS_MS, finalSegment, content, signature: "null" };
}

/** The Data element of an encoded packet: the packet itself, or the fragment of its LpPacket. */
export function dataElement(encoded: Uint8Array): Uint8Array {
  return peekPacket(encoded)?.packet ?? encoded;
}

/** ImplicitSha256DigestComponent value of a Data element: sha256 of its whole TLV. */
export function implicitDigest(dataWire: Uint8Array): Buffer {
  return hash("sha256", dataWire, "buffer");
}

/**
 * The same digest as a 32-character latin1 string: one character per byte, so two texts are equal
 * exactly when the digests are. Per-packet checks compare these: a string per packet is cheap young
 * garbage, where a Buffer per packet is an ArrayBuffer with its own malloc'd backing store.
 */
export function implicitDigestText(dataWire: Uint8Array): string {
  return hash("sha256", dataWire, "binary"); // "binary" is Node's name for latin1
}

/** Bytes as latin1 text (see implicitDigestText). */
export function latin1Text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Wrap a packet in an LpPacket carrying the PIT token of the Interest it answers. */
export function withPitToken(packet: Uint8Array, pitToken: Uint8Array | undefined): Uint8Array {
  if (!pitToken) {
    return packet;
  }
  const inner = headerSize(TLV.LpPitToken, pitToken.length) + pitToken.length + headerSize(TLV.LpFragment, packet.length) + packet.length;
  const buf = Buffer.allocUnsafe(headerSize(TLV.LpPacket, inner) + inner);
  let off = writeHeader(buf, 0, TLV.LpPacket, inner);
  off = writeHeader(buf, off, TLV.LpPitToken, pitToken.length);
  buf.set(pitToken, off);
  off = writeHeader(buf, off + pitToken.length, TLV.LpFragment, packet.length);
  buf.set(packet, off);
  return buf;
}

/** Whether `nameValue` starts with the components in `prefixValue` (TLV components are self-delimiting). */
export function hasNamePrefix(nameValue: Uint8Array, prefixValue: Uint8Array): boolean {
  if (nameValue.length < prefixValue.length) {
    return false;
  }
  for (let i = 0; i < prefixValue.length; ++i) {
    if (nameValue[i] !== prefixValue[i]) {
      return false;
    }
  }
  return true;
}
