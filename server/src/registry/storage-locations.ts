import type { BlobId } from "@ndnreg/shared/ndn";

/**
 * Where the registry last redirected a blob GET (a signed storage URL), so the next range reads
 * of that blob go straight to storage instead of costing the registry a request each. Signed URLs
 * expire on their own schedule; an entry is dropped when storage refuses it, and kept at most
 * `maxAgeMs` whatever the URL says.
 */
export class StorageLocations {
  private readonly entries = new Map<string, { readonly url: URL; readonly until: number }>();

  constructor(private readonly maxAgeMs = 5 * 60_000, private readonly maxEntries = 10_000, private readonly now: () => number = Date.now) {}

  get(id: BlobId): URL | undefined {
    const key = keyOf(id);
    const hit = this.entries.get(key);
    if (hit && hit.until > this.now()) {
      return hit.url;
    }
    this.entries.delete(key);
    return undefined;
  }

  set(id: BlobId, url: URL): void {
    const key = keyOf(id);
    this.entries.delete(key);
    this.entries.set(key, { url, until: this.now() + this.maxAgeMs });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  delete(id: BlobId): void {
    this.entries.delete(keyOf(id));
  }
}

function keyOf(id: BlobId): string {
  return `${id.repository}@${id.digest.hex}`;
}
