import { type BlobId, blobKey } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import type { LookupLimiter } from "./lookup-limiter.js";
import { PendingLookups } from "./pending-lookups.js";
import type { BlobStat, RegistryClient } from "./registry-client.js";

export interface CatalogStats {
  found: number;
  missing: number;
  errors: number;
}

/**
 * Remembers which (repository, digest) pairs the registry has and their sizes, so a flood of
 * Interests for one blob (or for blobs that do not exist) costs the registry one HEAD each per TTL,
 * and the HEADs for blobs not known yet go out within the limiter's rates.
 * Blobs are immutable: a positive answer can be kept much longer than a negative one.
 */
export class BlobCatalog {
  /** Reads peek: an answer's place in line is set when it is stored, not when it is used. */
  private readonly entries: LRUCache<string, BlobStat>;
  private readonly pending = new PendingLookups<BlobStat>();
  private readonly keys = new WeakMap<BlobId, string>();
  /** Registry HEAD requests by result. */
  readonly stats: CatalogStats = { found: 0, missing: 0, errors: 0 };

  constructor(
    private readonly registry: RegistryClient,
    private readonly limiter: LookupLimiter,
    private readonly opts = { positiveTtlMs: 10 * 60_000, negativeTtlMs: 5_000, maxEntries: 50_000 },
  ) {
    // ttlResolution 0: expiry is checked against the clock on every read, with no timer per read.
    this.entries = new LRUCache({ max: opts.maxEntries, ttlResolution: 0 });
  }

  /** The cached answer, if there is a fresh one: the per-Interest fast path, no promise. */
  peek(id: BlobId): BlobStat | undefined {
    return this.entries.peek(this.keyOf(id));
  }

  /**
   * Whether stat() would need a registry lookup that the lookup limits refuse now (no answer
   * cached, none in progress): decided without allocating, so a flood of unknown digests is
   * dropped before any asynchronous work.
   */
  refusesLookup(id: BlobId): boolean {
    const key = this.keyOf(id);
    return !this.entries.has(key) && !this.pending.has(key) && this.limiter.wouldRefuse(id.repository);
  }

  /** Rejects with LookupRefusedError when the lookup limits refuse a registry lookup. */
  async stat(id: BlobId): Promise<BlobStat> {
    const key = this.keyOf(id);
    const hit = this.entries.peek(key);
    if (hit) {
      return hit;
    }
    return this.pending.join(key, (demand) => this.lookup(key, id, demand));
  }

  /** BlobIds are shared per blob name by the producer, so their keys are computed once. */
  private keyOf(id: BlobId): string {
    let key = this.keys.get(id);
    if (key === undefined) {
      key = blobKey(id);
      this.keys.set(id, key);
    }
    return key;
  }

  private async lookup(key: string, id: BlobId, demand: () => number): Promise<BlobStat> {
    await this.limiter.admit(id.repository, demand);
    const stat = await this.registry.stat(id, AbortSignal.timeout(10_000)).catch((err: unknown) => {
      ++this.stats.errors;
      throw err;
    });
    ++this.stats[stat.found ? "found" : "missing"];
    if (stat.found) {
      this.limiter.found(id.repository);
    }
    this.entries.set(key, stat, { ttl: stat.found ? this.opts.positiveTtlMs : this.opts.negativeTtlMs });
    return stat;
  }
}
