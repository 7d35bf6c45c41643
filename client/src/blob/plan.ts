import type { IncomingHttpHeaders, IncomingMessage } from "node:http";

import { type ByteRange, parseRange } from "../http/range.js";
import type { Upstream } from "../http/upstream.js";

/**
 * Blobs up to this size are verified before their first byte is sent, so a copy that does not
 * match its digest is replaced by HTTP bytes in the same response (configs and small layers then
 * never fail a pull). Larger blobs stream, and a mismatch aborts the response.
 */
const SELF_HEAL_MAX_BYTES = 4 * 1024 * 1024;

/** Headers the registry sets on a blob that the caller should see exactly. */
const BLOB_HEADERS = ["content-type", "docker-content-digest", "etag", "docker-distribution-api-version", "cache-control", "last-modified"];

/** How a blob GET is answered. */
export type BlobPlan =
  /** The upstream's own GET answer stands: it refused the HEAD (401/403/404...), or the request is unusual. */
  | { readonly kind: "http" }
  /** A Range with no byte of the blob in it: 416. */
  | { readonly kind: "unsatisfiable"; readonly size: number }
  | {
    readonly kind: "ndn";
    readonly size: number;
    /** The bytes the caller asked for (all of them without a Range). */
    readonly window: ByteRange;
    readonly status: 200 | 206;
    readonly headers: Readonly<Record<string, string | string[]>>;
    /** Verify the whole blob before sending a byte (see SELF_HEAL_MAX_BYTES). */
    readonly holdAll: boolean;
    /** Planned from a relayed manifest's descriptor (planListed), not from the upstream's answer. */
    readonly listed?: true;
  };

/**
 * Asks the upstream first (HEAD with the caller's own headers, redirects followed), so its
 * authorization decision stands and the size is known, and plans the response from its answer
 * and the caller's Range. `httpOnly`: this digest's NDN copy was wrong before. `retryMs`: the
 * HEAD's retry budget (Upstream's whole timeout when undefined).
 */
export async function planBlob(
  upstream: Upstream, req: IncomingMessage, path: string, signal: AbortSignal, httpOnly: boolean, retryMs?: number,
): Promise<BlobPlan> {
  const head = await upstream.request({
    method: "HEAD", path, headers: req.headers, dropHeaders: ["range", "if-range"], signal, followRedirects: true, retryMs,
  });
  await head.body.dump();
  const size = Number(head.headers["content-length"]);
  if (head.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0 || httpOnly) {
    return { kind: "http" };
  }
  return planForSize(req.headers, size, head.headers);
}

/**
 * The plan for a digest the upstream could not be asked about (outage mode): its size and media
 * type come from the server's metadata, the headers are the ones a registry sets.
 */
export function planPublished(request: IncomingHttpHeaders, digest: string, size: number, mediaType = "application/octet-stream"): BlobPlan {
  return planForSize(request, size, {
    "content-type": mediaType, "docker-content-digest": digest, etag: `"${digest}"`, "docker-distribution-api-version": "registry/2.0",
  });
}

/**
 * The plan for a blob a manifest relayed to this caller lists (ManifestGrants): its size is the
 * descriptor's, its headers the ones a registry sets on a blob. A producer's metadata or a stored
 * copy of another size sends the blob back to the upstream's HEAD before a byte is sent (BlobHandler).
 */
export function planListed(request: IncomingHttpHeaders, digest: string, size: number): BlobPlan {
  const plan = planPublished(request, digest, size);
  return plan.kind === "ndn" ? { ...plan, listed: true } : plan;
}

/** Plans the response to a request with `request` headers for a blob of `size` bytes whose registry headers are `source`'s. */
function planForSize(request: IncomingHttpHeaders, size: number, source: Readonly<Record<string, string | string[] | undefined>>): BlobPlan {
  const head = { headers: source };
  // A Range whose If-Range names another version of the blob is ignored: the whole blob, 200.
  const range = ifRangeHolds(headerText(request["if-range"]), head.headers) ? parseRange(headerText(request.range), size) : { kind: "none" } as const;
  if (range.kind === "multi") {
    return { kind: "http" };
  }
  if (range.kind === "unsatisfiable") {
    return { kind: "unsatisfiable", size };
  }
  const window: ByteRange = range.kind === "single" ? range.range : { start: 0, end: size - 1 };
  const headers: Record<string, string | string[]> = {};
  for (const k of BLOB_HEADERS) {
    const v = head.headers[k];
    if (v !== undefined) {
      headers[k] = v;
    }
  }
  headers["accept-ranges"] = "bytes";
  headers["content-length"] = String(Math.max(0, window.end - window.start + 1));
  if (range.kind === "single") {
    headers["content-range"] = `bytes ${window.start}-${window.end}/${size}`;
  }
  return { kind: "ndn", size, window, status: range.kind === "single" ? 206 : 200, headers, holdAll: size <= SELF_HEAL_MAX_BYTES };
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(",") : v;
}

/**
 * RFC 9110 13.1.5: without If-Range the Range applies; with an entity tag it applies only if that
 * tag is strong and equals the blob's ETag, with a date only if it is the blob's Last-Modified.
 */
function ifRangeHolds(ifRange: string | undefined, head: Readonly<Record<string, string | string[] | undefined>>): boolean {
  if (ifRange === undefined) {
    return true;
  }
  const condition = ifRange.trim();
  if (condition.startsWith("\"") || condition.startsWith("W/")) {
    const etag = headerText(head["etag"])?.trim();
    return condition.startsWith("\"") && etag !== undefined && !etag.startsWith("W/") && etag === condition;
  }
  return condition === headerText(head["last-modified"])?.trim();
}
