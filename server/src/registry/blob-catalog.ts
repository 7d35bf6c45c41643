import type { BlobId } from "@ndnreg/shared";

import type { BlobStat, RegistryClient } from "./registry-client.js";

interface Entry {
  readonly stat: BlobStat;
  readonly expires: number;
}

/**
 * Remembers which (repository, digest) pairs the registry has and their sizes, so a flood of
 * Interests for one blob (or for blobs that do not exist) costs the registry one HEAD each per TTL.
 * Blobs are immutable: a positive answer can be kept much longer than a negative one.
 */
export class BlobCatalog {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<BlobStat>>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly opts = { positiveTtlMs: 10 * 60_000, negativeTtlMs: 5_000, maxEntries: 50_000 },
  ) {}

  async stat(id: BlobId): Promise<BlobStat> {
    const key = `${id.repository}@${id.digest.hex}`;
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) {
      return hit.stat;
    }
    let p = this.pending.get(key);
    if (!p) {
      p = this.lookup(key, id);
      this.pending.set(key, p);
    }
    return p;
  }

  private async lookup(key: string, id: BlobId): Promise<BlobStat> {
    try {
      const stat = await this.registry.stat(id, AbortSignal.timeout(10_000));
      const ttl = stat.found ? this.opts.positiveTtlMs : this.opts.negativeTtlMs;
      this.entries.delete(key);
      this.entries.set(key, { stat, expires: Date.now() + ttl });
      if (this.entries.size > this.opts.maxEntries) {
        this.entries.delete(this.entries.keys().next().value!);
      }
      return stat;
    } finally {
      this.pending.delete(key);
    }
  }
}
