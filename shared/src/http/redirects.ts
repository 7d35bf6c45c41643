/** Redirect handling both proxies share: where to go next, and what must not follow. */

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The only headers sent on to another origin: blob storage hosts get signed URLs, and none of the
 * caller's or the registry's credentials, whatever they are called (Authorization, Cookie,
 * X-Api-Key, ...). These describe the read itself.
 */
const CROSS_ORIGIN_HEADERS: ReadonlySet<string> = new Set([
  "accept", "accept-encoding", "accept-language", "user-agent", "range", "if-range", "if-match", "if-none-match",
  "if-modified-since", "if-unmodified-since", "cache-control", "pragma",
]);

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

/** Headers for the next hop: all of them within `from`'s origin, only the allow-listed ones to another. */
export function headersForHop<V>(headers: Readonly<Record<string, V>>, from: URL, to: URL): Record<string, V> {
  const out: Record<string, V> = {};
  const crossOrigin = from.origin !== to.origin;
  for (const [k, v] of Object.entries(headers)) {
    if (!crossOrigin || CROSS_ORIGIN_HEADERS.has(k.toLowerCase())) {
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

/** The parts of an HTTP response (undici's, for one) that following redirects needs. */
export interface RedirectableResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: { dump(): Promise<unknown> };
}

/** Where a chain of redirects ended. */
export interface Followed<R> {
  readonly res: R;
  /** The URL that gave `res`. */
  readonly url: URL;
  /** Redirects followed to get there (0: `res` is the first response). */
  readonly hops: number;
  /** More hops than allowed: `res` is itself a redirect, not followed. */
  readonly exhausted: boolean;
}

export interface FollowOptions {
  /** Most hops; default MAX_REDIRECTS. */
  readonly maxHops?: number;
  /** Told each URL just before it is requested. */
  readonly onHop?: (to: URL) => void;
}

/**
 * Follow the redirects that `first` (the answer from `from`) starts. Each hop's body is dumped
 * before the next request, and credentials never leave `from`'s origin (headersForHop).
 */
export async function followRedirects<R extends RedirectableResponse, V>(
  first: R, from: URL, headers: Readonly<Record<string, V>>,
  send: (to: URL, headers: Record<string, V>) => Promise<R>, opts: FollowOptions = {},
): Promise<Followed<R>> {
  const maxHops = opts.maxHops ?? MAX_REDIRECTS;
  let res = first;
  let url = from;
  let hopHeaders = headers;
  for (let hops = 0; ; ++hops) {
    const next = redirectTarget(url, res.statusCode, res.headers["location"]);
    if (!next || hops === maxHops) {
      return { res, url, hops, exhausted: next !== undefined };
    }
    await res.body.dump();
    const nextHeaders = headersForHop(hopHeaders, url, next);
    hopHeaders = nextHeaders;
    url = next;
    opts.onHop?.(next);
    res = await send(next, nextHeaders);
  }
}

/** The first response of a chain: what the origin answered, to which URL, with which headers. */
export interface OriginAnswer<R, V> {
  readonly res: R;
  readonly url: URL;
  readonly headers: Readonly<Record<string, V>>;
}

/**
 * Ask the origin (`ask`) and follow its redirects. When the chain ends at a redirect target that
 * refuses its signed URL (isRefusedSignedUrl), the origin is asked again for a fresh one, at most
 * `retries` times (default once); `onRefused` is told each time.
 */
export async function requestFollowingRedirects<R extends RedirectableResponse, V>(
  ask: () => Promise<OriginAnswer<R, V>>, send: (to: URL, headers: Record<string, V>) => Promise<R>,
  opts: { readonly retries?: number; readonly onRefused?: (status: number) => void } = {},
): Promise<Followed<R>> {
  for (let attempt = 0; ; ++attempt) {
    const origin = await ask();
    const followed = await followRedirects(origin.res, origin.url, origin.headers, send);
    if (followed.hops > 0 && isRefusedSignedUrl(followed.res.statusCode) && attempt < (opts.retries ?? 1)) {
      await followed.res.body.dump(); // expired on its way here: a fresh URL from the origin
      opts.onRefused?.(followed.res.statusCode);
      continue;
    }
    return followed;
  }
}
