import type { Dispatcher } from "undici";
import { LRUCache } from "lru-cache";

import { type BlobId, blobKey, MAX_MANIFEST_BYTES } from "@ndnreg/shared/ndn";

/**
 * Every manifest and index media type: a registry answers a manifest by digest only in a type
 * the request accepts (distribution 2.8 says 404 to an OCI manifest asked for without it).
 */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** The registry's answer for a manifest URL, with the publishing identity's authorization (see RegistryClient). */
export type AskRegistry = (id: BlobId, url: URL, method: "GET" | "HEAD", headers: Record<string, string>, signal?: AbortSignal) => Promise<Dispatcher.ResponseData>;

export type ManifestStat = { readonly found: true; readonly size: number; readonly mediaType: string } | { readonly found: false; readonly status: number };

/**
 * Manifests by digest (docs/protocol.md, "Manifests by digest"): content-addressed like blobs, so
 * the server publishes them under the same canonical names. A digest that is not a blob of the
 * repository is looked up as `/v2/<repository>/manifests/<digest>`, with the same identity; the
 * manifests found are remembered (bounded) so that their segment reads go to the manifest URL.
 */
export class ManifestReads {
  private readonly known = new LRUCache<string, string>({ max: 50_000 });

  constructor(private readonly ask: AskRegistry, private readonly urlOf: (id: BlobId) => URL) {}

  /** True when `id` was found as a manifest (its reads go through read()). */
  has(id: BlobId): boolean {
    return this.known.has(blobKey(id));
  }

  async stat(id: BlobId, signal?: AbortSignal): Promise<ManifestStat> {
    const res = await this.ask(id, this.urlOf(id), "HEAD", { accept: MANIFEST_ACCEPT }, signal);
    await res.body.dump();
    const size = Number(res.headers["content-length"]);
    const mediaType = String(res.headers["content-type"] ?? "").split(";")[0]!.trim();
    if (res.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0 || size > MAX_MANIFEST_BYTES || mediaType === "") {
      return { found: false, status: res.statusCode === 200 ? 404 : res.statusCode };
    }
    this.known.set(blobKey(id), mediaType);
    return { found: true, size, mediaType };
  }

  /**
   * Bytes [begin, end) of the manifest into `out`: the whole manifest is read (registries do not
   * serve ranges of manifests; it is at most 4 MiB). The producer checks its digest as for blobs.
   */
  async read(id: BlobId, begin: number, end: number, out: Uint8Array, signal?: AbortSignal): Promise<void> {
    const res = await this.ask(id, this.urlOf(id), "GET", { accept: MANIFEST_ACCEPT }, signal);
    const length = Number(res.headers["content-length"]);
    if (res.statusCode !== 200 || !(length <= MAX_MANIFEST_BYTES)) {
      await res.body.dump();
      throw new Error(`GET manifest ${id.repository}@${id.digest.text}: registry answered ${res.statusCode} (${length} bytes)`);
    }
    const body = new Uint8Array(await res.body.arrayBuffer());
    if (body.length < end) {
      throw new Error(`GET manifest ${id.repository}@${id.digest.text}: ${body.length} bytes, needed up to ${end}`);
    }
    out.set(body.subarray(begin, end));
  }
}
