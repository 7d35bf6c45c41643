import { type BlobId, blobKey } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

/**
 * Where the registry last redirected a blob GET (a signed storage URL), so the next range reads
 * of that blob go straight to storage instead of costing the registry a request each. Signed URLs
 * expire on their own schedule; an entry is dropped when storage refuses it, and kept at most
 * `maxAgeMs` whatever the URL says.
 */
export class StorageLocations {
  /** Reads peek: an entry's place in line is set when it is stored. */
  private readonly entries: LRUCache<string, URL>;

  constructor(maxAgeMs = 5 * 60_000, maxEntries = 10_000) {
    this.entries = new LRUCache({ max: maxEntries, ttl: maxAgeMs, ttlResolution: 0 });
  }

  get(id: BlobId): URL | undefined {
    return this.entries.peek(blobKey(id));
  }

  set(id: BlobId, url: URL): void {
    this.entries.set(blobKey(id), url);
  }

  delete(id: BlobId): void {
    this.entries.delete(blobKey(id));
  }
}
