/**
 * The few NDN-TLV primitives the packet hot path needs (NDN packet format v0.3, NDNLPv2).
 * Everything else goes through NDNts; these are tested against its encoder and decoder.
 */
export const TLV = {
  Interest: 0x05,
  Data: 0x06,
  Name: 0x07,
  GenericNameComponent: 0x08,
  Nonce: 0x0a,
  InterestLifetime: 0x0c,
  MustBeFresh: 0x12,
  MetaInfo: 0x14,
  Content: 0x15,
  SignatureInfo: 0x16,
  SignatureValue: 0x17,
  ContentType: 0x18,
  FreshnessPeriod: 0x19,
  FinalBlockId: 0x1a,
  SignatureType: 0x1b,
  SegmentNameComponent: 0x32,
  LpPacket: 0x64,
  LpFragment: 0x50,
  LpSequence: 0x51,
  LpFragIndex: 0x52,
  LpFragCount: 0x53,
  LpPitToken: 0x62,
  LpNack: 0x0320,
  LpNackReason: 0x0321,
  LpCongestionMark: 0x0340,
} as const;

export const SIG_TYPE = { Sha256: 0, Null: 200 } as const;

/** One TLV element found in a buffer: type, value bounds, and where the element ends. */
export interface TlvElement {
  readonly type: number;
  readonly valueStart: number;
  readonly end: number;
}

/**
 * Read the element starting at `offset`; undefined when `buf` (up to `limit`) does not hold a
 * complete element. Types and lengths above 2^32 are refused (never used by NDN packets).
 */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): TlvElement | undefined {
  const e = readTlvHeader(buf, offset, limit);
  return e && e.end <= limit ? e : undefined;
}

/** Like readTlv, but only the type and length need to be present (the value may be cut off). */
export function readTlvHeader(buf: Uint8Array, offset: number, limit = buf.length): TlvElement | undefined {
  const t = readVarNum(buf, offset, limit);
  if (!t) {
    return undefined;
  }
  const l = readVarNum(buf, t.next, limit);
  return l ? { type: t.value, valueStart: l.next, end: l.next + l.value } : undefined;
}

function readVarNum(buf: Uint8Array, offset: number, limit: number): { value: number; next: number } | undefined {
  if (offset >= limit) {
    return undefined;
  }
  const b0 = buf[offset]!;
  if (b0 < 0xfd) {
    return { value: b0, next: offset + 1 };
  }
  if (b0 === 0xfd) {
    return offset + 3 <= limit ? { value: (buf[offset + 1]! << 8) | buf[offset + 2]!, next: offset + 3 } : undefined;
  }
  if (b0 === 0xfe) {
    return offset + 5 <= limit
      ? { value: ((buf[offset + 1]! << 24) >>> 0) + (buf[offset + 2]! << 16) + (buf[offset + 3]! << 8) + buf[offset + 4]!, next: offset + 5 }
      : undefined;
  }
  return undefined; // 0xff: 8-byte numbers never occur in packets we accept
}

function varNumSize(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : 5;
}

/** Write a VAR-NUMBER at `offset`; returns the offset after it. */
function writeVarNum(buf: Uint8Array, offset: number, n: number): number {
  if (n < 0xfd) {
    buf[offset] = n;
    return offset + 1;
  }
  if (n <= 0xffff) {
    buf[offset] = 0xfd;
    buf[offset + 1] = n >>> 8;
    buf[offset + 2] = n & 0xff;
    return offset + 3;
  }
  buf[offset] = 0xfe;
  buf[offset + 1] = n >>> 24;
  buf[offset + 2] = (n >>> 16) & 0xff;
  buf[offset + 3] = (n >>> 8) & 0xff;
  buf[offset + 4] = n & 0xff;
  return offset + 5;
}

/** Size of a TLV header (type and length). */
export function headerSize(type: number, length: number): number {
  return varNumSize(type) + varNumSize(length);
}

export function writeHeader(buf: Uint8Array, offset: number, type: number, length: number): number {
  return writeVarNum(buf, writeVarNum(buf, offset, type), length);
}

/** NonNegativeInteger in its shortest form (1, 2, 4 or 8 bytes). */
export function nniSize(n: number): number {
  return n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffff ? 4 : 8;
}

export function writeNni(buf: Uint8Array, offset: number, n: number): number {
  const size = nniSize(n);
  let v = n;
  for (let i = size - 1; i >= 0; --i) {
    buf[offset + i] = v % 256;
    v = Math.floor(v / 256);
  }
  return offset + size;
}

/** Read a NonNegativeInteger; undefined unless 1, 2, 4 or 8 bytes and a safe integer. */
export function readNni(buf: Uint8Array, start: number, end: number): number | undefined {
  const size = end - start;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) {
    return undefined;
  }
  let v = 0;
  for (let i = start; i < end; ++i) {
    v = v * 256 + buf[i]!;
  }
  return Number.isSafeInteger(v) ? v : undefined;
}
