/**
 * Payload bytes per canonical segment. NFD drops a face that sends a packet over 8800 bytes; 8000
 * leaves room for the name (up to ~380 bytes with a 255-character repository) and the other fields.
 */
export const SEGMENT_SIZE = 8000;

/** Payload bytes per segment under legacy names: the proof of concept's DOCKER_NDN_CHUNK_SIZE default. */
export const LEGACY_SEGMENT_SIZE = 7777;

/** Implicit digests listed per manifest node: 250 x 32 bytes fit one 8000-byte payload. */
export const MANIFEST_FANOUT = 250;

/** FreshnessPeriod of every segment and manifest node: blobs are immutable. Part of each canonical packet's bytes. */
export const SEGMENT_FRESHNESS_MS = 86_400_000;

/** Number of segments of a blob; a zero-byte blob still has one (empty) segment. */
export function segmentCount(size: number, segmentSize = SEGMENT_SIZE): number {
  return Math.max(1, Math.ceil(size / segmentSize));
}

/** Byte range [begin, end) carried by a segment. */
export function segmentByteRange(segment: number, size: number, segmentSize = SEGMENT_SIZE): [number, number] {
  const begin = segment * segmentSize;
  return [Math.min(begin, size), Math.min(begin + segmentSize, size)];
}

/** Manifest nodes of a blob of `count` segments. */
export function manifestNodeCount(count: number): number {
  return Math.ceil(count / MANIFEST_FANOUT);
}

/** Segments [first, end) listed by manifest node `node`. */
export function manifestNodeSegments(node: number, count: number): [number, number] {
  return [node * MANIFEST_FANOUT, Math.min((node + 1) * MANIFEST_FANOUT, count)];
}
