import type { Name } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import {
  type BlobId, canonicalSegmentFields, ContentType, nameText, type ParsedName, parseRegistryName, type DataFields, segmentByteRange, segmentCount,
  type Sha256Digest,
} from "@ndnreg/shared/ndn";

import type { BlobStat } from "../registry/registry-client.js";
import type { BlobCatalog } from "../registry/blob-catalog.js";
import { BoundRefusedError } from "../registry/bound-refusal.js";
import { LookupRefusedError } from "../registry/lookup-limiter.js";
import type { DigestIndex } from "./digest-index.js";
import { type RangeCache, RangeOverloadError, type RangeReader } from "./range-cache.js";

/** How legacy names are answered (docs/protocol.md, "Legacy names"). */
interface LegacyOptions {
  readonly segmentSize: number;
  readonly freshnessMs: number;
  readonly signature: "digest" | "null";
}

export interface SegmentProducerOptions {
  readonly prefix: Name;
  readonly catalog: BlobCatalog;
  readonly ranges: RangeCache;
  readonly index: DigestIndex;
  readonly legacy: LegacyOptions;
  /** Interests waiting for a registry lookup or read, every name kind and face: past it, Interests are dropped. */
  readonly maxPending: number;
  readonly log: Logger;
}

export interface InterestCounters {
  /** Segments answered with Data (both name kinds) and their payload bytes. */
  data: number;
  dataBytes: number;
  /** Segments produced, by name kind. */
  canonical: number;
  legacy: number;
  metadata: number;
  manifestNodes: number;
  nackMissing: number;
  nackError: number;
  /** Canonical Interests for a digest the server has not learned (Nack). */
  unpublished: number;
  /** Segments past the end: never answered. */
  pastEnd: number;
  /** Interests with an implicit digest that the packet did not have: not answered. */
  digestMismatch: number;
  /** Malformed names. */
  dropped: number;
  /** No room: too many Interests pending, or registry reads in flight and queued, or range buffers in use. */
  droppedOverload: number;
  /** The registry lookup for a blob not known yet was refused by the lookup rate limits. */
  droppedRateLimited: number;
}

/** At most one warning per this many ms about Interests dropped for lack of room. */
const DROP_WARNING_MS = 10_000;

/** A "no such blob" answer is cached only briefly, so a later push becomes visible quickly. */
export const NACK_FRESHNESS_MS = 1000;

/**
 * The Data fields that answer one segment Interest, whatever the transport encodes them with.
 * Content views are valid until the end of the current event-loop turn (the range cache recycles
 * its buffers).
 */
export type SegmentReply = DataFields;

/** The segmented object a segment Interest names: canonical (by digest) or legacy (repository and digest). */
export type SegmentTarget =
  | { readonly kind: "segment"; readonly digest: Sha256Digest }
  | { readonly kind: "legacy"; readonly id: BlobId };

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array();

/**
 * Decides the reply to segment Interests with bytes read from the registry: canonical names for
 * digests the index has learned, legacy names for any (repository, digest) the registry has.
 * `null` means no answer at all (a segment past the end: the proof of concept's client would
 * append any reply). Transport-neutral: the adapters parse names with it and encode its replies.
 */
export class SegmentProducer {
  readonly counters: InterestCounters = {
    data: 0, dataBytes: 0, canonical: 0, legacy: 0, metadata: 0, manifestNodes: 0,
    nackMissing: 0, nackError: 0, unpublished: 0, pastEnd: 0, digestMismatch: 0, dropped: 0,
    droppedOverload: 0, droppedRateLimited: 0,
  };
  readonly prefix: Name;
  private waiting = 0;
  private lastDropWarning = -Infinity;

  constructor(private readonly opts: SegmentProducerOptions) {
    this.prefix = opts.prefix;
  }

  /** What an Interest name asks for; every malformed name gets a reason. */
  parse(name: Name): ParsedName {
    return parseRegistryName(this.prefix, name);
  }

  /**
   * The blob's size if the registry has it for the publishing identity; the digest is then
   * learned for canonical names. A registry error throws.
   */
  async stat(id: BlobId): Promise<BlobStat> {
    const stat = await this.opts.catalog.stat(id);
    if (stat.found) {
      this.opts.index.learn(id);
    }
    return stat;
  }

  /** The blob a canonical name may be served from, if its digest was learned. */
  published(digest: Sha256Digest): BlobId | undefined {
    return this.opts.index.lookup(digest);
  }

  /** The registry's bytes did not match the digest: canonical names for it are no longer answered. */
  unpublish(digest: Sha256Digest): void {
    this.opts.index.forget(digest);
  }

  /** Interests waiting for the registry now (segments, metadata, manifest nodes). */
  get pending(): number {
    return this.waiting;
  }

  get maxPending(): number {
    return this.opts.maxPending;
  }

  /**
   * Run `work` for one Interest that has to wait for the registry, within the bounds: past the
   * pending bound, or when a read or lookup is refused for lack of room or by the rate limits, the
   * Interest is counted and gets no answer (null: its consumer retransmits). Every name kind goes
   * through here, so the bound holds whatever an Interest names.
   */
  async admit<T>(work: () => Promise<T>): Promise<T | null> {
    if (this.waiting >= this.opts.maxPending) {
      return this.overloaded("droppedOverload", "too many Interests pending");
    }
    ++this.waiting;
    try {
      return await work();
    } catch (err: unknown) {
      if (err instanceof RangeOverloadError) {
        return this.overloaded("droppedOverload", err.message);
      }
      if (err instanceof LookupRefusedError) {
        return this.overloaded("droppedRateLimited", err.message);
      }
      throw err;
    } finally {
      --this.waiting;
    }
  }

  /**
   * Segment `segment` of `req`: Data, a Nack Data, or null (past the end, or dropped by a bound).
   * An Interest a bound refuses now is dropped at once (null, not a promise): past the pending
   * bound, or needing a registry lookup the lookup limits refuse, so a flood costs no asynchronous
   * work.
   */
  reply(req: SegmentTarget, segment: number): Promise<SegmentReply | null> | null {
    const legacy = req.kind === "legacy";
    const id = legacy ? req.id : this.published(req.digest);
    if (!id) {
      ++this.counters.unpublished;
      return Promise.resolve(nack("digest not published by this server", false));
    }
    if (this.waiting >= this.opts.maxPending) {
      return this.overloaded("droppedOverload", "too many Interests pending");
    }
    if (this.refusesLookup(id)) {
      return null;
    }
    return this.admit(() => this.replyFor(req, id, segment));
  }

  /**
   * Whether an Interest for `id` needs a registry lookup that the lookup limits refuse now:
   * if so it is counted as dropped (decided without allocating, for floods of unknown digests).
   */
  refusesLookup(id: BlobId): boolean {
    if (!this.opts.catalog.refusesLookup(id)) {
      return false;
    }
    this.overloaded("droppedRateLimited", "too many registry lookups waiting");
    return true;
  }

  private async replyFor(req: SegmentTarget, id: BlobId, segment: number): Promise<SegmentReply | null> {
    const legacy = req.kind === "legacy";
    try {
      const stat = await this.stat(id);
      if (!stat.found) {
        return this.missing(req, stat.status);
      }
      const segmentSize = legacy ? this.opts.legacy.segmentSize : undefined;
      const last = segmentCount(stat.size, segmentSize) - 1;
      if (segment > last) {
        ++this.counters.pastEnd;
        return null;
      }
      const [begin, end] = segmentByteRange(segment, stat.size, segmentSize);
      return this.data(req, end > begin ? await this.read(id, stat.size, begin, end) : EMPTY, last);
    } catch (err: unknown) {
      if (err instanceof BoundRefusedError) {
        throw err; // dropped by admit()
      }
      // Registry down or failing: answer at once so consumers fall back instead of timing out.
      ++this.counters.nackError;
      this.opts.log.warn({ repository: id.repository, digest: id.digest.text, segment, err: String(err) }, "segment unavailable");
      return nack("registry unavailable", legacy);
    }
  }

  /**
   * The reply if it can be given without waiting (digest learned, size known, bytes in memory):
   * nearly every Interest of a transfer. Undefined means "ask reply()".
   */
  replyNow(req: SegmentTarget, segment: number): SegmentReply | undefined {
    const legacy = req.kind === "legacy";
    const id = legacy ? req.id : this.published(req.digest);
    const stat = id && this.opts.catalog.peek(id);
    if (!id || !stat) {
      return undefined;
    }
    if (!stat.found) {
      return this.missing(req, stat.status);
    }
    const segmentSize = legacy ? this.opts.legacy.segmentSize : undefined;
    const last = segmentCount(stat.size, segmentSize) - 1;
    if (segment > last) {
      return undefined;
    }
    const [begin, end] = segmentByteRange(segment, stat.size, segmentSize);
    const content = end > begin ? this.peek(id, stat.size, begin, end) : EMPTY;
    return content && this.data(req, content, last);
  }

  /** The registry does not have the blob (its answer may come from the negative cache): a Nack, and canonical names for it are no longer answered. */
  private missing(req: SegmentTarget, status: number): SegmentReply {
    ++this.counters.nackMissing;
    if (req.kind === "segment") {
      this.opts.index.forget(req.digest);
    }
    return nack(`blob not found (registry ${status})`, req.kind === "legacy");
  }

  /** An Interest that gets no answer at all (a malformed name): counted and logged at debug. */
  drop(name: Name, reason: string): void {
    ++this.counters.dropped;
    this.opts.log.debug({ name: nameText(name).slice(0, 300), reason }, "interest dropped");
  }

  /** An Interest dropped by a bound: counted, and a warning now and then with the counts so far. */
  private overloaded(outcome: "droppedOverload" | "droppedRateLimited", reason: string): null {
    ++this.counters[outcome];
    const now = performance.now();
    if (now - this.lastDropWarning >= DROP_WARNING_MS) {
      this.lastDropWarning = now;
      const { droppedOverload, droppedRateLimited } = this.counters;
      this.opts.log.warn({ reason, pending: this.waiting, droppedOverload, droppedRateLimited }, "dropping Interests: over a bound");
    }
    return null;
  }

  /** Bytes [begin, end) of a blob, which may cross a range-cache chunk (legacy segment sizes). */
  async read(id: BlobId, size: number, begin: number, end: number, reader: RangeReader = "segments"): Promise<Uint8Array> {
    const { ranges } = this.opts;
    const split = ranges.chunkEnd(begin);
    if (end <= split) {
      return ranges.read(id, size, begin, end, reader);
    }
    const out = new Uint8Array(end - begin);
    out.set(await ranges.read(id, size, begin, split, reader));
    out.set(await ranges.read(id, size, split, end, reader), split - begin);
    return out;
  }

  private peek(id: BlobId, size: number, begin: number, end: number): Uint8Array | undefined {
    const { ranges } = this.opts;
    const split = ranges.chunkEnd(begin);
    if (end <= split) {
      return ranges.peek(id, size, begin, end);
    }
    const head = ranges.peek(id, size, begin, split);
    const tail = head && ranges.peek(id, size, split, end);
    if (!head || !tail) {
      return undefined;
    }
    const out = new Uint8Array(end - begin);
    out.set(head);
    out.set(tail, head.length);
    return out;
  }

  private data(req: SegmentTarget, content: Uint8Array, finalSegment: number): SegmentReply {
    ++this.counters.data;
    this.counters.dataBytes += content.length;
    if (req.kind === "legacy") {
      ++this.counters.legacy;
      const { freshnessMs, signature } = this.opts.legacy;
      return { contentType: ContentType.Blob, freshnessMs, finalSegment, content, signature };
    }
    ++this.counters.canonical;
    return canonicalSegmentFields(finalSegment, content);
  }
}

/**
 * A Nack Data's fields (ContentType Nack, 1 s): the reason as content, except on legacy names,
 * whose original client appends any content to the blob.
 */
function nack(reason: string, legacy: boolean): SegmentReply {
  return { contentType: ContentType.Nack, freshnessMs: NACK_FRESHNESS_MS, content: legacy ? EMPTY : utf8.encode(reason), signature: "null" };
}
