import { createHash, type Hash } from "node:crypto";

import { Segment } from "@ndn/naming-convention2";
import { Data, type Name, type Signer } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import {
  type BlobId, canonicalBlobName, canonicalSegmentFields, encodeSegmentData, implicitDigest, MANIFEST_FANOUT, manifestName, manifestNodeCount,
  manifestNodeSegments, SEGMENT_FRESHNESS_MS, segmentByteRange, segmentCount, type Sha256Digest,
} from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import { BoundRefusedError } from "../registry/bound-refusal.js";
import type { RangeReader } from "./range-cache.js";
import type { SegmentProducer } from "./segment-producer.js";

/** What answers a manifest node Interest: the signed node, a Nack (reason), or nothing (past the end). */
export type NodeReply = { readonly data: Data } | { readonly nack: string } | null;

/** Signed nodes and the whole-blob hash of one blob, built as nodes are asked for. */
interface BlobManifest {
  readonly id: BlobId;
  readonly size: number;
  readonly count: number;
  readonly nodes: Array<Data | undefined>;
  readonly hash: Hash;
  /** Segments [0, hashedTo) have been fed to `hash`. */
  hashedTo: number;
  /** Set when the registry's bytes did not hash to the digest: nothing more is signed. */
  failed?: string;
  /** Node builds of one blob run one after another, so the whole-blob hash advances in order. */
  queue: Promise<unknown>;
}

/** Bytes a manifest may hold: its signed nodes (~8.3 KB each) and some state. */
function manifestBytes(count: number): number {
  return 1024 + manifestNodeCount(count) * 8400;
}

/**
 * Builds and signs manifest nodes (docs/protocol.md, "Manifest nodes"): node I lists the implicit
 * digests of segments [250 I, 250 I + 250), computed by encoding each canonical segment from the
 * registry's bytes (through the range cache, so a consumer fetching nodes just ahead of segments
 * costs the registry nothing extra). A node is signed as soon as its segments are known, so the
 * first node never waits for the whole blob, except the last: it is signed only once the sha256 of
 * the whole blob, fed in order from the same bytes, matched the digest. A consumer that checks
 * every segment against signed nodes therefore never completes a blob the registry got wrong.
 * Manifests are kept in an LRU bounded in bytes.
 */
export class ManifestBuilder {
  private readonly manifests: LRUCache<string, BlobManifest>;

  constructor(
    private readonly prefix: Name,
    private readonly producer: SegmentProducer,
    private readonly signer: Signer,
    private readonly log: Logger,
    maxBytes = 32 * 1024 * 1024,
  ) {
    this.manifests = new LRUCache({ maxSize: maxBytes, sizeCalculation: (m) => manifestBytes(m.count) });
  }

  async node(digest: Sha256Digest, index: number): Promise<NodeReply> {
    const id = this.producer.published(digest);
    if (!id) {
      ++this.producer.counters.unpublished;
      return { nack: "digest not published by this server" };
    }
    let m = this.manifests.get(digest.hex);
    if (!m) {
      const stat = await this.producer.stat(id);
      if (!stat.found) {
        return { nack: `blob not found (registry ${stat.status})` };
      }
      m = this.manifests.get(digest.hex) ?? this.create(id, stat.size);
    }
    if (index >= manifestNodeCount(m.count)) {
      return null;
    }
    const built = m.nodes[index] ?? await this.enqueue(m, index);
    if (!built) {
      return { nack: m.failed ?? "manifest unavailable" };
    }
    ++this.producer.counters.manifestNodes;
    return { data: built };
  }

  private create(id: BlobId, size: number): BlobManifest {
    const count = segmentCount(size);
    const m: BlobManifest = {
      id, size, count, nodes: new Array<Data | undefined>(manifestNodeCount(count)).fill(undefined), hash: createHash("sha256"), hashedTo: 0,
      queue: Promise.resolve(),
    };
    if (manifestBytes(count) <= this.manifests.maxSize) {
      this.manifests.set(id.digest.hex, m);
    }
    return m;
  }

  private enqueue(m: BlobManifest, index: number): Promise<Data | undefined> {
    const p = m.queue.then(() => this.build(m, index));
    m.queue = p.catch(() => undefined);
    return p.catch((err: unknown) => {
      if (err instanceof BoundRefusedError) {
        throw err; // no room now: the producer drops the Interest, its consumer retransmits
      }
      this.log.warn({ repository: m.id.repository, digest: m.id.digest.text, node: index, err: String(err) }, "manifest node unavailable");
      return undefined;
    });
  }

  private async build(m: BlobManifest, index: number): Promise<Data | undefined> {
    if (m.nodes[index] || m.failed) {
      return m.nodes[index];
    }
    const { id, count } = m;
    const [first, end] = manifestNodeSegments(index, count);
    const content = new Uint8Array((end - first) * 32);
    const blobValue = canonicalBlobName(this.prefix, id.digest).value;
    for (let seg = first; seg < end; ++seg) {
      const bytes = await this.segmentBytes(m, seg, seg === m.hashedTo ? "hash" : "node");
      const nameValue = Buffer.concat([blobValue, Segment.create(seg).tlv]);
      content.set(implicitDigest(encodeSegmentData({ ...canonicalSegmentFields(count - 1, bytes), nameValue })), (seg - first) * 32);
      if (seg === m.hashedTo) {
        m.hash.update(bytes);
        ++m.hashedTo;
      }
    }
    // Nodes asked out of order (a store asks eight at once) were built past the hash: it goes on
    // through them now, while their bytes are likely still in memory, not at the last node.
    while (m.hashedTo < count && m.hashedTo >= end && m.nodes[Math.floor(m.hashedTo / MANIFEST_FANOUT)]) {
      m.hash.update(await this.segmentBytes(m, m.hashedTo, "hash"));
      ++m.hashedTo;
    }
    const nodeCount = m.nodes.length;
    if (index === nodeCount - 1) {
      for (let seg = m.hashedTo; seg < count; ++seg) { // nodes were not asked for in order: catch up
        m.hash.update(await this.segmentBytes(m, seg, "hash"));
        m.hashedTo = seg + 1;
      }
      const actual = m.hash.digest("hex");
      if (actual !== id.digest.hex) {
        m.failed = `blob does not match its digest (registry bytes hash to sha256:${actual})`;
        this.producer.unpublish(id.digest);
        this.log.error({ repository: id.repository, digest: id.digest.text, actual }, "registry bytes do not match the digest: last manifest node not signed");
        return undefined;
      }
    }
    const data = new Data(manifestName(this.prefix, id.digest).append(Segment, index), content, Data.FreshnessPeriod(SEGMENT_FRESHNESS_MS));
    data.finalBlockId = Segment.create(nodeCount - 1);
    await this.signer.sign(data);
    m.nodes[index] = data;
    return data;
  }

  /** A segment's payload (a copy: range-cache views are only valid until the next await). */
  private async segmentBytes(m: BlobManifest, seg: number, reader: RangeReader): Promise<Uint8Array> {
    const [begin, end] = segmentByteRange(seg, m.size);
    return end > begin ? (await this.producer.read(m.id, m.size, begin, end, reader)).slice() : new Uint8Array();
  }
}

