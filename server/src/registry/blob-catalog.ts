import type { BlobId } from "@ndnreg/shared/ndn";

import type { BlobStat, RegistryClient } from "./registry-client.js";

export interface CatalogStats {
  found: number;
  missing: number;
  errors: number;
}

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
  private readonly keys = new WeakMap<BlobId, string>();
  /** Registry HEAD requests by result. */
  readonly stats: CatalogStats = { found: 0, missing: 0, errors: 0 };

  constructor(
    private readonly registry: RegistryClient,
    private readonly opts = { positiveTtlMs: 10 * 60_000, negativeTtlMs: 5_000, maxEntries: 50_000 },
  ) {}

  /** The cached answer, if there is a fresh one: the per-Interest fast path, no promise. */
  peek(id: BlobId): BlobStat | undefined {
    const hit = this.entries.get(this.keyOf(id));
    return hit && hit.expires > Date.now() ? hit.stat : undefined;
  }

  async stat(id: BlobId): Promise<BlobStat> {
    const key = this.keyOf(id);
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

  /** BlobIds are shared per blob name by the producer, so their keys are computed once. */
  private keyOf(id: BlobId): string {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = `${id.repository}@${id.digest.hex}`;
      this.keys.set(id, key);
    }
    return key;
  }

  private async lookup(key: string, id: BlobId): Promise<BlobStat> {
    try {
      const stat = await this.registry.stat(id, AbortSignal.timeout(10_000)).catch((err: unknown) => {
        ++this.stats.errors;
        throw err;
      });
      ++this.stats[stat.found ? "found" : "missing"];
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
