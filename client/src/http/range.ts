/** An inclusive byte range resolved against a blob size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeRequest =
  | { readonly kind: "none" }
  | { readonly kind: "single"; readonly range: ByteRange }
  /** Syntactically valid but not one satisfiable range we serve ourselves: let the upstream decide. */
  | { readonly kind: "defer" };

/**
 * Parse a Range header for a blob of `size` bytes. Only `bytes=N-` and `bytes=N-M` are served
 * locally (what Docker and containerd send); suffix, multi-part and unsatisfiable ranges go to the
 * upstream so its answer (206 or 416) is authoritative.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) {
    return { kind: "none" };
  }
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) {
    return { kind: "defer" };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) {
    return { kind: "defer" };
  }
  return { kind: "single", range: { start, end } };
}
