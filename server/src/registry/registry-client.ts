import { Agent, type Dispatcher } from "undici";

import type { Logger } from "@ndnreg/shared";
import {
  followRedirects, isRefusedSignedUrl, MAX_REDIRECTS, type OriginAnswer, RangeBody, type RedirectableResponse, redirectTarget, requestFollowingRedirects,
} from "@ndnreg/shared/http";
import type { BlobId, TagId } from "@ndnreg/shared/ndn";

import { StorageLocations } from "./storage-locations.js";
import { type RegistryCredentials, TokenAuth, type TokenAuthCounters } from "./token-auth.js";

import { ManifestReads } from "./manifest-reads.js";
import { RangeStatusError, readRangeInto } from "./range-read.js";
import { statTag, type TagStat } from "./tag-reads.js";

/** `mediaType`: the digest is a manifest of the repository (see ManifestReads), not a blob. */
export type BlobStat = { readonly found: true; readonly size: number; readonly mediaType?: string } | { readonly found: false; readonly status: number };

/** Registry answered with something other than the blob or a clean "not here". */
class RegistryError extends Error {}

export interface RegistryClientOptions {
  /** Used only for the repositories on their allow-list; everything else is read anonymously. */
  readonly credentials?: RegistryCredentials;
  readonly connections?: number;
  readonly log?: Logger;
}

export interface RegistryClientCounters extends TokenAuthCounters {
  /** Reads that storage refused at a signed URL (expired), after which a fresh one was used. */
  storageRefusals: number;
  /** Times the registry was asked for a fresh storage URL after a refusal (one per expiry, not per read). */
  locationAsks: number;
}

type Headers = Record<string, string>;

/**
 * Reads blobs from the registry: HEAD for the size, ranged GETs for the bytes. Token auth is
 * answered by TokenAuth. Redirects to blob storage are followed here (not by undici) so that the
 * signed URL can be reused for the blob's next ranges, Authorization never leaves the registry's
 * origin, and a URL that storage refuses (expired) is replaced by asking the registry again.
 */
export class RegistryClient {
  private readonly http: Dispatcher;
  private readonly auth: TokenAuth;
  private readonly locations = new StorageLocations();
  private storageRefusals = 0;
  private locationAsks = 0;
  private readonly manifests = new ManifestReads(
    async (id, url, method, headers, signal) => (await this.askRegistry(id.repository, method, headers, signal, url)).res,
    (id) => this.registryUrl(`v2/${id.repository}/manifests/${id.digest.text}`),
  );

  constructor(private readonly base: URL, private readonly opts: RegistryClientOptions = {}) {
    this.http = new Agent({ connections: opts.connections ?? 16, keepAliveTimeout: 30_000, headersTimeout: 15_000, bodyTimeout: 30_000 });
    this.auth = new TokenAuth({ registry: base, http: this.http, credentials: opts.credentials, log: opts.log });
  }

  get counters(): RegistryClientCounters {
    return { ...this.auth.counters, storageRefusals: this.storageRefusals, locationAsks: this.locationAsks };
  }

  private blobUrl(id: BlobId): URL {
    // isValidRepository() guarantees the repository contains only [a-z0-9._/-] with no "..".
    return this.registryUrl(`v2/${id.repository}/blobs/${id.digest.text}`);
  }

  private registryUrl(relative: string): URL {
    return new URL(relative, this.base.href.endsWith("/") ? this.base : `${this.base.href}/`);
  }

  async stat(id: BlobId, signal?: AbortSignal): Promise<BlobStat> {
    const res = await this.open(id, "HEAD", {}, signal);
    await res.body.dump();
    if (res.statusCode === 200) {
      return { found: true, size: this.sizeOf(id, "HEAD", res.headers["content-length"]) };
    }
    if (res.statusCode === 400 || res.statusCode === 403 || res.statusCode === 410) {
      // Storage that signs URLs for one method (S3, GCS) may refuse a HEAD the registry redirected
      // with a GET URL: a one-byte read answers the question too (a plain refusal stays one).
      return this.statByRead(id, signal);
    }
    if (res.statusCode === 404) {
      return this.manifests.stat(id, signal); // not a blob of the repository: perhaps one of its manifests
    }
    if (res.statusCode === 401) {
      return { found: false, status: res.statusCode };
    }
    throw new RegistryError(`HEAD ${id.repository}@${id.digest.text}: registry answered ${res.statusCode}`);
  }

  /** What a tag names now (see statTag), asked with the identity its repository is read with. */
  async statTag(id: TagId, signal?: AbortSignal): Promise<TagStat> {
    // isValidRepository() and isValidTag() guarantee both are URL-safe path segments.
    const url = this.registryUrl(`v2/${id.repository}/manifests/${id.tag}`);
    return statTag(async (method, headers, s) => (await this.askRegistry(id.repository, method, headers, s, url)).res, signal);
  }

  private async statByRead(id: BlobId, signal?: AbortSignal): Promise<BlobStat> {
    const res = await this.open(id, "GET", { range: "bytes=0-0" }, signal);
    await res.body.dump(); // reads at most 128 KB, should a registry ignore Range
    if (res.statusCode === 206 || res.statusCode === 416) {
      // "bytes 0-0/<size>", or "bytes */0" for an empty blob
      const total = /\/(\d+)\s*$/.exec(String(res.headers["content-range"] ?? ""))?.[1];
      return { found: true, size: this.sizeOf(id, "GET", total) };
    }
    if (res.statusCode === 200) {
      return { found: true, size: this.sizeOf(id, "GET", res.headers["content-length"]) };
    }
    if (res.statusCode === 404 || res.statusCode === 401 || res.statusCode === 403) {
      return { found: false, status: res.statusCode };
    }
    throw new RegistryError(`GET ${id.repository}@${id.digest.text}: registry answered ${res.statusCode}`);
  }

  private sizeOf(id: BlobId, method: string, header: string | string[] | undefined): number {
    const size = typeof header === "string" && /^\d+$/.test(header.trim()) ? Number(header) : NaN;
    if (!Number.isSafeInteger(size)) {
      throw new RegistryError(`${method} ${id.repository}@${id.digest.text}: no usable size`);
    }
    return size;
  }

  /**
   * Exactly the bytes [begin, end) of the blob, written into `into` when given (end - begin long).
   * Nearly every read takes the fast path: straight into the buffer through undici's handler
   * callbacks (readRangeInto), at the blob's remembered storage URL or at the registry with the
   * cached token. Challenges, redirects and refused URLs are left to the general path.
   */
  async readRange(id: BlobId, begin: number, end: number, signal?: AbortSignal, into?: Uint8Array, onProgress?: (filled: number) => void): Promise<Uint8Array> {
    const out = into ?? new Uint8Array(end - begin);
    if (this.manifests.has(id)) {
      await this.manifests.read(id, begin, end, out, signal).catch((err: unknown) => {
        throw new RegistryError(err instanceof Error ? err.message : String(err), { cause: err });
      });
      onProgress?.(end - begin);
      return out;
    }
    const read = async (url: URL, headers: Headers): Promise<RedirectableResponse> => {
      try {
        await readRangeInto(this.http, { origin: url.origin, path: url.pathname + url.search, signal, headers, onProgress }, begin, end, out);
        return READ_DONE;
      } catch (err: unknown) {
        if (!(err instanceof RangeStatusError) || signal?.aborted) {
          throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        return { statusCode: err.statusCode, headers: { location: err.location }, body: NO_BODY };
      }
    };
    // A refused storage URL is renewed (one registry ask shared by the blob's reads) and the read
    // tried again there, a bounded number of times: storage that refuses every URL is an error.
    for (let refused = 0; ; ) {
      const remembered = this.locations.get(id);
      const authorization = remembered ? undefined : await this.auth.authorization(id.repository);
      const from = remembered ?? this.blobUrl(id);
      const headers: Headers = authorization === undefined ? {} : { authorization };
      // One redirect at most (registry -> storage); its URL is remembered for the blob's next ranges.
      const onHop = (to: URL) => this.locations.set(id, to);
      const { res, url, hops } = await followRedirects(await read(from, headers), from, headers, read, { maxHops: 1, onHop });
      if (res === READ_DONE) {
        return out;
      }
      const fromStorage = remembered !== undefined || hops > 0;
      if (!fromStorage || !isRefusedSignedUrl(res.statusCode)) {
        if (fromStorage) {
          this.locations.delete(id); // storage failed otherwise: the general path asks the registry
        }
        break;
      }
      this.noteRefusal(id, res.statusCode);
      if (++refused === MAX_REFUSED_URLS) {
        throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): storage refused ${refused} signed URLs in a row (last answer ${res.statusCode})`);
      }
      await this.locations.renew(id, url, () => this.askLocation(id));
      if (signal?.aborted) {
        throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): aborted`, { cause: signal.reason });
      }
    }
    // 401 or 3xx from the registry, or storage failing: the general path answers the challenge,
    // follows and remembers the redirect.
    const full = await this.open(id, "GET", { range: `bytes=${begin}-${end - 1}` }, signal);
    if (full.statusCode !== 206 && full.statusCode !== 200) {
      await full.body.dump();
      throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): registry answered ${full.statusCode}`);
    }
    const body = new RangeBody(out, begin, full.statusCode === 200);
    for await (const chunk of full.body as AsyncIterable<Buffer>) {
      if (body.push(chunk)) {
        onProgress?.(body.filled);
      }
      if (body.complete) {
        break;
      }
    }
    if (!body.complete) {
      throw new RegistryError(`GET ${id.digest.text} [${begin},${end}): short body (${body.filled} bytes)`);
    }
    full.body.destroy();
    return out;
  }

  /**
   * The final response for a blob request: a GET goes to the blob's remembered storage URL if it
   * has one; otherwise, or when storage refuses that URL, the registry is asked (again).
   */
  private async open(id: BlobId, method: "GET" | "HEAD", headers: Headers, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const remembered = method === "GET" ? this.locations.get(id) : undefined;
    if (remembered) {
      const res = await this.send(remembered, method, headers, signal).catch((err: unknown) => {
        if (signal?.aborted) {
          throw err;
        }
        return undefined; // storage unreachable at that URL: ask the registry where the blob is now
      });
      if (res && (res.statusCode === 200 || res.statusCode === 206)) {
        return res;
      }
      await res?.body.dump();
      this.locations.delete(id);
      this.noteRefusal(id, res?.statusCode ?? 0);
    }
    // A refused remembered URL already cost one resolution: then a refused fresh one is final.
    const { res, url, hops, exhausted } = await requestFollowingRedirects(
      () => this.askRegistry(id.repository, method, headers, signal, this.blobUrl(id)), (to, hopHeaders) => this.send(to, method, hopHeaders, signal),
      { retries: remembered ? 0 : 1, onRefused: (status) => this.noteRefusal(id, status) },
    );
    if (exhausted) {
      await res.body.dump();
      throw new RegistryError(`${method} ${id.repository}@${id.digest.text}: more than ${MAX_REDIRECTS} redirects`);
    }
    if (hops > 0 && method === "GET" && (res.statusCode === 200 || res.statusCode === 206)) {
      this.locations.set(id, url);
    }
    return res;
  }

  /**
   * Where the registry redirects a GET of the blob now (undefined: it does not, or it failed; the
   * read that asked then finds out why itself). Shared by the blob's reads, so none of their
   * signals ends it; the agent's timeouts bound it.
   */
  private async askLocation(id: BlobId): Promise<URL | undefined> {
    ++this.locationAsks;
    try {
      const { res, url } = await this.askRegistry(id.repository, "GET", { range: "bytes=0-0" }, undefined, this.blobUrl(id));
      await res.body.dump();
      return redirectTarget(url, res.statusCode, res.headers["location"]);
    } catch (err: unknown) {
      this.opts.log?.warn({ repository: id.repository, digest: id.digest.text, err: err instanceof Error ? err.message : String(err) }, "asking the registry for a fresh storage URL failed");
      return undefined;
    }
  }

  private noteRefusal(id: BlobId, status: number): void {
    ++this.storageRefusals;
    this.opts.log?.info({ repository: id.repository, digest: id.digest.text, status }, "storage refused a signed URL; asking the registry again");
  }

  /** The registry's own answer for `url` in `repository` (a blob or manifest URL), its token challenge answered once; redirects are the caller's. */
  private async askRegistry(
    repository: string, method: "GET" | "HEAD", headers: Headers, signal: AbortSignal | undefined, url: URL,
  ): Promise<OriginAnswer<Dispatcher.ResponseData, string>> {
    let authorization = await this.auth.authorization(repository);
    let res = await this.send(url, method, withAuthorization(headers, authorization), signal);
    if (res.statusCode === 401 && this.auth.challenged(repository, res.headers["www-authenticate"], authorization)) {
      await res.body.dump();
      authorization = await this.auth.authorization(repository);
      res = await this.send(url, method, withAuthorization(headers, authorization), signal);
    }
    return { res, url, headers: withAuthorization(headers, authorization) }; // Range follows, Authorization stays home
  }

  private send(url: URL, method: "GET" | "HEAD", headers: Headers, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.http.request({ origin: url.origin, path: url.pathname + url.search, method, headers, signal });
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** A fast-path read as a response: this one when the bytes are in, else the status that refused them. */
const NO_BODY = { dump: () => Promise.resolve() };
const READ_DONE: RedirectableResponse = { statusCode: 206, headers: {}, body: NO_BODY };
/** Refused signed URLs one read goes through before it fails: a fresh URL lives seconds at least. */
const MAX_REFUSED_URLS = 3;

function withAuthorization(headers: Headers, authorization: string | undefined): Headers {
  return authorization === undefined ? headers : { ...headers, authorization };
}
