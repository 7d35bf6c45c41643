import type { Data, Interest, Name, Signer } from "@ndn/packet";
import { makeTagRecordData, type TagId, tagKey, TAG_RECORD_FRESHNESS_MS } from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import type { LookupLimiter } from "../registry/lookup-limiter.js";
import { PendingLookups } from "../registry/pending-lookups.js";
import type { TagStat } from "../registry/tag-reads.js";
import { nackData } from "./metadata-producer.js";
import type { SegmentProducer } from "./segment-producer.js";

/** What a tag names now, asked of the registry with the publishing identity (RegistryClient.statTag). */
export type StatTag = (id: TagId, signal: AbortSignal) => Promise<TagStat>;

/** Signed tag records and Nacks kept, one per tag, for their FreshnessPeriod. */
const MAX_RECORDS = 10_000;

/**
 * Answers `/<prefix>/<repository>/32=tag/<tag>` (CanBePrefix) with a tag record signed by the
 * server's key (docs/protocol.md, "Tag records"): the manifest the registry says the tag names
 * now, asked with the identity the repository is published with, so a tag is resolved exactly
 * where its manifest would be served. A tag not known is a Nack. Each answer is reused for the
 * record's FreshnessPeriod (one registry HEAD per tag per second at most), lookups of one tag are
 * shared, and lookups of tags not answered recently go through the registry lookup limits like
 * unknown digests (refused: the Interest gets no answer).
 */
export class TagRecords {
  private readonly answers = new LRUCache<string, Data>({ max: MAX_RECORDS, ttl: TAG_RECORD_FRESHNESS_MS, ttlResolution: 0 });
  private readonly pending = new PendingLookups<Data>();

  constructor(
    private readonly prefix: Name,
    private readonly producer: SegmentProducer,
    private readonly statTag: StatTag,
    private readonly limiter: LookupLimiter,
    private readonly signer: Signer,
  ) {}

  /** Whether a lookup of `id` would be refused now (no answer kept, none in progress): counted as dropped when it is. */
  refusesLookup(id: TagId): boolean {
    const key = tagKey(id);
    if (this.answers.has(key) || this.pending.has(key) || !this.limiter.wouldRefuse(id.repository)) {
      return false;
    }
    ++this.producer.counters.droppedRateLimited;
    return true;
  }

  /** The record or a Nack Data; undefined for an Interest without CanBePrefix (its Data has one more component). */
  async reply(interest: Interest, id: TagId): Promise<Data | undefined> {
    if (!interest.canBePrefix) {
      this.producer.drop(interest.name, "tag Interest without CanBePrefix");
      return undefined;
    }
    const key = tagKey(id);
    const kept = this.answers.get(key);
    if (kept) {
      return kept;
    }
    return this.pending.join(key, (demand) => this.lookup(interest.name, id, demand));
  }

  private async lookup(name: Name, id: TagId, demand: () => number): Promise<Data> {
    await this.limiter.admit(id.repository, demand); // LookupRefusedError: the producer drops the Interest
    let data: Data;
    try {
      const stat = await this.statTag(id, AbortSignal.timeout(10_000));
      if (stat.found) {
        this.limiter.found(id.repository);
        data = makeTagRecordData(this.prefix, id, { digest: stat.digest, size: stat.size, mediaType: stat.mediaType, madeAt: Date.now() });
        await this.signer.sign(data);
        ++this.producer.counters.metadata; // signed like metadata, counted with it
      } else {
        ++this.producer.counters.nackMissing;
        data = await nackData(name, `tag not found (registry ${stat.status})`);
      }
    } catch {
      ++this.producer.counters.nackError;
      return nackData(name, "registry unavailable");
    }
    this.answers.set(tagKey(id), data);
    return data;
  }
}
