/** Redirect handling both proxies share: where to go next, and what must not follow. */

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Never sent to another origin: blob storage hosts get signed URLs, not the registry's credentials. */
export const CREDENTIAL_HEADERS: readonly string[] = ["authorization", "cookie", "proxy-authorization"];

/** Most hops followed; registries use one (registry -> storage), CDNs sometimes two. */
export const MAX_REDIRECTS = 5;

/** The URL a 3xx response points at, or undefined (not a redirect, no Location, not http(s)). */
export function redirectTarget(from: URL, status: number, location: string | readonly string[] | undefined): URL | undefined {
  const text = typeof location === "string" ? location : location?.[0];
  if (!REDIRECT_STATUSES.has(status) || !text) {
    return undefined;
  }
  try {
    const to = new URL(text, from);
    return to.protocol === "http:" || to.protocol === "https:" ? to : undefined;
  } catch {
    return undefined;
  }
}

/** Headers for the next hop: credentials are dropped when it leaves `from`'s origin. */
export function headersForHop<V>(headers: Readonly<Record<string, V>>, from: URL, to: URL): Record<string, V> {
  const out: Record<string, V> = {};
  const crossOrigin = from.origin !== to.origin;
  for (const [k, v] of Object.entries(headers)) {
    if (!(crossOrigin && CREDENTIAL_HEADERS.includes(k.toLowerCase()))) {
      out[k] = v;
    }
  }
  return out;
}

/**
 * A redirect target (signed storage URL) that answers one of these refuses the URL itself:
 * expired (S3, CloudFront, Azure: 403; GCS: 400), revoked (410) or unauthorised (401). Asking the
 * registry again gives a fresh URL.
 */
export function isRefusedSignedUrl(status: number): boolean {
  return status === 400 || status === 401 || status === 403 || status === 410;
}
