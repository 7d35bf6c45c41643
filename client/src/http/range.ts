/** An inclusive byte range resolved against a blob size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeRequest =
  /** No Range header, or one RFC 9110 lets us ignore (bad syntax, other units): serve 200. */
  | { readonly kind: "none" }
  | { readonly kind: "single"; readonly range: ByteRange }
  /** Well-formed but no byte of the blob is in it: 416 with Content-Range: bytes * /size. */
  | { readonly kind: "unsatisfiable" }
  /** Several ranges (multipart/byteranges): the upstream answers. */
  | { readonly kind: "multi" };

const SPEC = /^(\d{1,15})?-(\d{1,15})?$/;

/**
 * Parse a Range header for a blob of `size` bytes (RFC 9110 section 14). Docker sends
 * `bytes=N-`, containerd `bytes=N-M`; suffix ranges are served too.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  const m = header === undefined ? null : /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) {
    return { kind: "none" };
  }
  const specs = m[1]!.split(",").map((s) => s.trim());
  if (specs.length > 1) {
    return specs.every((s) => SPEC.test(s)) ? { kind: "multi" } : { kind: "none" };
  }
  const parts = SPEC.exec(specs[0]!);
  if (!parts || (parts[1] === undefined && parts[2] === undefined)) {
    return { kind: "none" };
  }
  if (parts[1] === undefined) { // suffix: the last N bytes
    const n = Number(parts[2]);
    return n === 0 || size === 0 ? { kind: "unsatisfiable" } : { kind: "single", range: { start: Math.max(0, size - n), end: size - 1 } };
  }
  const start = Number(parts[1]);
  const last = parts[2] === undefined ? Infinity : Number(parts[2]);
  if (last < start) {
    return { kind: "none" }; // invalid: ignored
  }
  if (start >= size) {
    return { kind: "unsatisfiable" };
  }
  return { kind: "single", range: { start, end: Math.min(last, size - 1) } };
}
