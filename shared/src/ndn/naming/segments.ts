/**
 * Payload bytes per segment. NFD drops a face that sends a packet over 8800 bytes; 8000 leaves
 * room for the name (up to ~380 bytes with a 255-character repository) and the other fields.
 */
export const SEGMENT_SIZE = 8000;

/** Number of segments of a blob; a zero-byte blob still has one (empty) segment. */
export function segmentCount(size: number, segmentSize = SEGMENT_SIZE): number {
  return Math.max(1, Math.ceil(size / segmentSize));
}

/** Byte range [begin, end) carried by a segment. */
export function segmentByteRange(segment: number, size: number, segmentSize = SEGMENT_SIZE): [number, number] {
  const begin = segment * segmentSize;
  return [Math.min(begin, size), Math.min(begin + segmentSize, size)];
}
