import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";

import { Agent, type Dispatcher, interceptors } from "undici";

import { endToEndHeaders } from "../http/headers.js";

export interface UpstreamRequest {
  readonly method: string;
  /** Path and query, e.g. /v2/library/alpine/manifests/3?ns=docker.io */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body?: Readable;
  readonly signal?: AbortSignal;
  /** Follow 3xx (blob storage redirects); never used for pushes. */
  readonly followRedirects?: boolean;
  /** Caller headers not to forward (e.g. Range when the proxy decides the range itself). */
  readonly dropHeaders?: readonly string[];
}

/**
 * The upstream registry over HTTP(S). TLS is verified (undici's default). Redirects are followed
 * only for reads; undici drops Authorization and Cookie when a redirect changes origin.
 */
export class Upstream {
  private readonly direct: Dispatcher;
  private readonly following: Dispatcher;

  constructor(readonly base: URL) {
    this.direct = new Agent({ connections: 64, keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 60_000 });
    this.following = this.direct.compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  request(req: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    const basePath = this.base.pathname.replace(/\/$/, "");
    const hasBody = req.body !== undefined && !["GET", "HEAD"].includes(req.method);
    return (req.followRedirects ? this.following : this.direct).request({
      origin: this.base.origin,
      path: basePath + req.path,
      method: req.method as Dispatcher.HttpMethod,
      headers: endToEndHeaders(req.headers, [...(req.dropHeaders ?? []), ...(hasBody ? [] : ["content-length"])]),
      body: hasBody ? req.body : undefined,
      signal: req.signal,
    });
  }

  /**
   * Relay an upstream response unchanged. Absolute Locations pointing at the upstream are made
   * relative so that multi-step flows (blob uploads) keep going through this proxy.
   */
  async relay(res: Dispatcher.ResponseData, out: ServerResponse): Promise<void> {
    const headers = endToEndHeaders(res.headers as IncomingHttpHeaders);
    const location = headers["location"];
    if (typeof location === "string") {
      headers["location"] = this.localise(location);
    }
    out.writeHead(res.statusCode, headers);
    await pipeline(res.body, out);
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
