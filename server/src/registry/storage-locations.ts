import { type BlobId, blobKey } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import { PendingLookups } from "./pending-lookups.js";

/**
 * Where the registry last redirected a blob GET (a signed storage URL), so the next range reads
 * of that blob go straight to storage instead of costing the registry a request each. Signed URLs
 * expire on their own schedule; an entry is replaced when storage refuses it, and kept at most
 * `maxAgeMs` whatever the URL says.
 */
export class StorageLocations {
  /** Reads peek: an entry's place in line is set when it is stored. */
  private readonly entries: LRUCache<string, URL>;
  private readonly renewals = new PendingLookups<void>();

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

  /**
   * Replace `refused`, a URL of the blob that storage refused (expired), by the one `ask` gets
   * from the registry (undefined: the registry no longer redirects). The reads refused together
   * share one ask, and a read refused on a URL already replaced takes the new one with none: an
   * expired URL costs the registry one request, however many reads were using it.
   */
  async renew(id: BlobId, refused: URL, ask: () => Promise<URL | undefined>): Promise<void> {
    const key = blobKey(id);
    const current = this.entries.peek(key);
    if (!this.renewals.has(key) && current !== undefined && current.href !== refused.href) {
      return;
    }
    await this.renewals.join(key, async () => {
      this.entries.delete(key);
      const fresh = await ask();
      if (fresh) {
        this.entries.set(key, fresh);
      }
    });
  }
}
