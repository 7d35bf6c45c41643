import type { IncomingHttpHeaders } from "node:http";

/**
 * RFC 9110 connection-specific headers: they describe one hop and are never forwarded. So is
 * Expect: node's server has already answered `100-continue` on this hop (and undici refuses it).
 */
const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
  "te", "trailer", "transfer-encoding", "upgrade", "host", "expect",
]);

type HeaderValue = string | string[] | undefined;

/** Copy end-to-end headers, dropping hop-by-hop ones and any named in Connection. */
export function endToEndHeaders(headers: IncomingHttpHeaders | Record<string, HeaderValue>, drop: readonly string[] = []): Record<string, string | string[]> {
  const connectionListed = String(headers["connection"] ?? "").toLowerCase().split(",").map((s) => s.trim());
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(key) || connectionListed.includes(key) || drop.includes(key)) {
      continue;
    }
    out[key] = v;
  }
  return out;
}
