import { Agent, interceptors, type Dispatcher } from "undici";

import type { BlobId } from "@ndnreg/shared";

import { readRangeInto } from "./range-read.js";

export type BlobStat = { readonly found: true; readonly size: number } | { readonly found: false; readonly status: number };

/** Registry answered with something other than the blob or a clean "not here". */
export class RegistryError extends Error {}

/**
 * Reads blobs from the registry anonymously. Storage backends answer blob requests with 307;
 * undici's redirect interceptor follows them and drops Authorization/Cookie when the origin changes.
 */
export class RegistryClient {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly base: URL, connections = 16) {
    this.dispatcher = new Agent({ connections, keepAliveTimeout: 30_000, headersTimeout: 15_000, bodyTimeout: 30_000 })
      .compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  private blobUrl(id: BlobId): URL {
    // isValidRepository() guarantees the repository contains only [a-z0-9._/-] with no "..".
    return new URL(`v2/${id.repository}/blobs/${id.digest.text}`, this.base.href.endsWith("/") ? this.base : `${this.base.href}/`);
  }

  async stat(id: BlobId, signal?: AbortSignal): Promise<BlobStat> {
    const res = await this.dispatcher.request({ ...this.target(id), method: "HEAD", signal });
    await res.body.dump();
    if (res.statusCode === 200) {
      const size = Number(res.headers["content-length"]);
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new RegistryError(`HEAD ${id.repository}@${id.digest.text}: no usable Content-Length`);
      }
      return { found: true, size };
    }
    if (res.statusCode === 404 || res.statusCode === 401 || res.statusCode === 403) {
      return { found: false, status: res.statusCode };
    }
    throw new RegistryError(`HEAD ${id.repository}@${id.digest.text}: registry answered ${res.statusCode}`);
  }

  /** Exactly the bytes [begin, end) of the blob, written into `into` when given (it must be end - begin long). */
  async readRange(id: BlobId, begin: number, end: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    const out = into ?? new Uint8Array(end - begin);
    try {
      await readRangeInto(this.dispatcher, { ...this.target(id), signal }, begin, end, out);
    } catch (err: unknown) {
      throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): ${err instanceof Error ? err.message : String(err)}`);
    }
    return out;
  }

  private target(id: BlobId): { origin: string; path: string } {
    const url = this.blobUrl(id);
    return { origin: url.origin, path: url.pathname };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
