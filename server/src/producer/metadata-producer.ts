import { Data, type Interest, type Name, nullSigner, type Signer } from "@ndn/packet";
import { isDiscoveryInterest, makeMetadataPacket } from "@ndn/rdr";
import {
  type BlobId, blobKey, BlobMetadata, canonicalBlobName, ContentType, legacyBlobName, MANIFEST_FANOUT, METADATA_FRESHNESS_MS, SEGMENT_SIZE,
  segmentCount,
} from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import { LookupRefusedError } from "../registry/lookup-limiter.js";
import { NACK_FRESHNESS_MS, type SegmentProducer } from "./segment-producer.js";

const utf8 = new TextEncoder();

/**
 * Answers RDR discovery Interests `/<prefix>/<repository>/<digest>/32=metadata` (docs/protocol.md,
 * "Metadata"): only after the registry confirmed the blob in that repository for the publishing
 * identity, which also teaches the digest index the digest (canonical names are answered from
 * then on). A packet is signed once and reused while it is fresh, so every consumer sees the
 * same version.
 */
export class MetadataProducer {
  private readonly packets = new LRUCache<string, Data>({ max: 10_000, ttl: METADATA_FRESHNESS_MS / 2, ttlResolution: 0 });

  constructor(private readonly prefix: Name, private readonly producer: SegmentProducer, private readonly signer: Signer) {}

  /** The metadata packet, a Nack Data under the Interest's name, or nothing (not a discovery Interest). */
  async reply(interest: Interest, id: BlobId): Promise<Data | undefined> {
    if (!isDiscoveryInterest(interest)) {
      this.producer.drop(interest.name, "metadata Interest without CanBePrefix and MustBeFresh");
      return undefined;
    }
    const key = blobKey(id);
    const cached = this.packets.get(key);
    if (cached) {
      ++this.producer.counters.metadata;
      return cached;
    }
    let stat;
    try {
      stat = await this.producer.stat(id);
    } catch (err: unknown) {
      if (err instanceof LookupRefusedError) {
        throw err; // the producer drops the Interest (rate limited)
      }
      ++this.producer.counters.nackError;
      return nackData(interest.name, "registry unavailable");
    }
    if (!stat.found) {
      ++this.producer.counters.nackMissing;
      return nackData(interest.name, `blob not found (registry ${stat.status})`);
    }
    const metadata = BlobMetadata.create(canonicalBlobName(this.prefix, id.digest), {
      blobSize: stat.size, segmentSize: SEGMENT_SIZE, finalSegment: segmentCount(stat.size) - 1, manifestFanout: MANIFEST_FANOUT, mediaType: stat.mediaType,
    });
    const data = await makeMetadataPacket(metadata, { prefix: legacyBlobName(this.prefix, id), freshnessPeriod: METADATA_FRESHNESS_MS, signer: this.signer });
    this.packets.set(key, data);
    ++this.producer.counters.metadata;
    return data;
  }
}

/** ContentType Nack, 1 s, the reason as content, under exactly `name`. */
export async function nackData(name: Name, reason: string): Promise<Data> {
  const data = new Data(name, Data.ContentType(ContentType.Nack), Data.FreshnessPeriod(NACK_FRESHNESS_MS), utf8.encode(reason));
  await nullSigner.sign(data);
  return data;
}
