import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { Readable, Transform } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

import { Agent, type Dispatcher } from "undici";

import { requestFollowingRedirects } from "@ndnreg/shared/http";

import { endToEndHeaders } from "./headers.js";
import { errorCode } from "./upstream-errors.js";

/**
 * Failures with no answer from the upstream at all: nothing listening (a registry restarting), a
 * connection dropped before the response, a name that did not resolve for now. Only these are
 * tried again; an answer, even a 5xx, stands, and a slow upstream has already had its timeout.
 */
const RETRYABLE = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_CONNECT_TIMEOUT",
]);

export interface UpstreamRequest {
  readonly method: string;
  /** Path and query, e.g. /v2/library/alpine/manifests/3?ns=docker.io */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body?: Readable;
  readonly signal?: AbortSignal;
  /**
   * Follow 3xx (blob storage redirects) so the caller never leaves the proxy; only for GET/HEAD.
   * Credentials are never sent to another origin, and a redirect target that refuses its signed
   * URL (expired) is resolved again from the upstream once.
   */
  readonly followRedirects?: boolean;
  /** Caller headers not to forward (e.g. Range when the proxy decides the range itself). */
  readonly dropHeaders?: readonly string[];
  /**
   * How long a GET/HEAD that got no answer is tried again (default: the whole --upstream-timeout).
   * Shorter for reads outage mode can answer: their answer is the same verified bytes either way.
   */
  readonly retryMs?: number;
}

/**
 * The upstream registry over HTTP(S). TLS is verified (undici's default). GETs and HEADs that get
 * no answer at all are tried again, with backoff, for up to `timeoutMs` from the first attempt:
 * a registry restarting for a few seconds costs a pull a wait, not a 502.
 */
export class Upstream {
  private readonly direct: Dispatcher;

  /** `timeoutMs`: longest wait for the upstream's response headers, and between body bytes. */
  constructor(readonly base: URL, private readonly timeoutMs = 30_000) {
    this.direct = new Agent({
      // A TCP handshake that has not completed in 5 s (two SYN retransmissions) is a path that is cut.
      connections: 64, keepAliveTimeout: 30_000, connectTimeout: Math.min(5_000, timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
    });
  }

  request(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    return req.method === "GET" || req.method === "HEAD" ? this.retrying(req) : this.once(req);
  }

  private async retrying(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const deadline = performance.now() + Math.min(req.retryMs ?? this.timeoutMs, this.timeoutMs);
    for (let delay = 100; ; delay = Math.min(1000, 2 * delay)) {
      try {
        return await this.once(req);
      } catch (err: unknown) {
        const code = errorCode(err);
        const left = deadline - performance.now();
        if (code === undefined || !RETRYABLE.has(code) || req.signal?.aborted || left <= 0) {
          throw err;
        }
        await sleep(Math.min(delay, left), undefined, { signal: req.signal });
      }
    }
  }

  private once(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const basePath = this.base.pathname.replace(/\/$/, "");
    const hasBody = req.body !== undefined && !["GET", "HEAD"].includes(req.method);
    const headers = endToEndHeaders(req.headers, [...(req.dropHeaders ?? []), ...(hasBody ? [] : ["content-length"])]);
    if (req.followRedirects && (req.method === "GET" || req.method === "HEAD")) {
      return this.following(req.method, basePath + req.path, headers, req.signal);
    }
    return this.direct.request({
      origin: this.base.origin,
      path: basePath + req.path,
      method: req.method,
      headers,
      body: hasBody ? req.body : undefined,
      signal: req.signal,
    });
  }

  private async following(method: "GET" | "HEAD", path: string, headers: Record<string, string | string[]>, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const url = new URL(this.base.origin + path);
    const followed = await requestFollowingRedirects(
      async () => ({ res: await this.direct.request({ origin: this.base.origin, path, method, headers, signal }), url, headers }),
      (to, hopHeaders) => this.direct.request({ origin: to.origin, path: to.pathname + to.search, method, headers: hopHeaders, signal }),
    );
    return followed.res;
  }

  /**
   * Relay an upstream response unchanged. Absolute Locations pointing at the upstream are made
   * relative so that multi-step flows (blob uploads) keep going through this proxy. `tap`: a
   * pass-through the body goes through on its way (it reads, never changes, the bytes).
   */
  async relay(res: Dispatcher.ResponseData, out: ServerResponse, tap?: Transform): Promise<void> {
    const headers = endToEndHeaders(res.headers);
    const location = headers["location"];
    if (typeof location === "string") {
      headers["location"] = this.localise(location);
    }
    out.writeHead(res.statusCode, headers);
    await (tap ? pipeline(res.body, tap, out) : pipeline(res.body, out));
  }

  private localise(location: string): string {
    try {
      const url = new URL(location, this.base);
      const basePath = this.base.pathname.replace(/\/$/, "");
      if (url.origin === this.base.origin && url.pathname.startsWith(`${basePath}/v2/`)) {
        return url.pathname.slice(basePath.length) + url.search;
      }
    } catch {
      // not a URL: pass through untouched
    }
    return location;
  }

  async close(): Promise<void> {
    await this.direct.close();
  }
}
