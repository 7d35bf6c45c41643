import type { Name } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import {
  type BlobId, ContentType, nameText, type ParsedSegmentName, parseSegmentName, type SegmentDataFields, segmentByteRange, segmentCount,
} from "@ndnreg/shared/ndn";

import type { BlobCatalog } from "../registry/blob-catalog.js";
import { LookupRefusedError } from "../registry/lookup-limiter.js";
import { type RangeCache, RangeOverloadError } from "./range-cache.js";

export interface SegmentProducerOptions {
  readonly prefix: Name;
  readonly catalog: BlobCatalog;
  readonly ranges: RangeCache;
  readonly freshnessMs: number;
  /** Interests waiting for a registry lookup or read, on every face: past it, Interests are dropped. */
  readonly maxPending: number;
  readonly log: Logger;
}

export interface InterestCounters {
  data: number;
  dataBytes: number;
  nackMissing: number;
  nackError: number;
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
const NACK_FRESHNESS_MS = 1000;

/**
 * The Data that answers one Interest, whatever the transport encodes it with: a segment of the
 * blob, or a Nack (ContentType Nack, the reason as content). Content views are valid until the
 * end of the current event-loop turn (the range cache recycles its buffers).
 */
export type SegmentReply = Pick<SegmentDataFields, "contentType" | "freshnessMs" | "content" | "finalSegment">;

const utf8 = new TextEncoder();

/**
 * Answers Interests for blob segments with bytes read from the registry. Transport-neutral: the
 * adapters (the wire hot path, NDNts produce()) parse names with it and encode its replies.
 */
export class SegmentProducer {
  readonly counters: InterestCounters = { data: 0, dataBytes: 0, nackMissing: 0, nackError: 0, dropped: 0, droppedOverload: 0, droppedRateLimited: 0 };
  readonly prefix: Name;
  private waiting = 0;
  private lastDropWarning = -Infinity;

  constructor(private readonly opts: SegmentProducerOptions) {
    this.prefix = opts.prefix;
  }

  /** The blob and segment an Interest name asks for; every malformed name gets a reason. */
  parse(name: Name): ParsedSegmentName {
    return parseSegmentName(this.prefix, name);
  }

  /** Interests waiting in reply() now. */
  get pending(): number {
    return this.waiting;
  }

  get maxPending(): number {
    return this.opts.maxPending;
  }

  /**
   * Segment `segment` of blob `id`, or a Nack (missing blob, past the end, registry error), or
   * undefined: no answer (dropped for lack of room; the consumer retransmits).
   */
  async reply(id: BlobId, segment: number): Promise<SegmentReply | undefined> {
    const { catalog, ranges, log } = this.opts;
    if (this.waiting >= this.opts.maxPending) {
      return this.overloaded("droppedOverload", "too many Interests pending");
    }
    ++this.waiting;
    try {
      const stat = await catalog.stat(id);
      if (!stat.found) {
        ++this.counters.nackMissing;
        return nack(`blob not found (registry ${stat.status})`);
      }
      const last = segmentCount(stat.size) - 1;
      if (segment > last) {
        ++this.counters.nackMissing;
        return nack(`segment ${segment} past the end (${last})`);
      }
      const [begin, end] = segmentByteRange(segment, stat.size);
      return this.data(end > begin ? await ranges.read(id, stat.size, begin, end) : new Uint8Array(), last);
    } catch (err: unknown) {
      if (err instanceof RangeOverloadError) {
        return this.overloaded("droppedOverload", err.message);
      }
      if (err instanceof LookupRefusedError) {
        return this.overloaded("droppedRateLimited", err.message);
      }
      // Registry down or failing: answer at once so consumers fall back instead of timing out.
      ++this.counters.nackError;
      log.warn({ repository: id.repository, digest: id.digest.text, segment, err: String(err) }, "segment unavailable");
      return nack("registry unavailable");
    } finally {
      --this.waiting;
    }
  }

  /** An Interest dropped by a bound: counted, and a warning now and then with the counts so far. */
  private overloaded(outcome: "droppedOverload" | "droppedRateLimited", reason: string): undefined {
    ++this.counters[outcome];
    const now = performance.now();
    if (now - this.lastDropWarning >= DROP_WARNING_MS) {
      this.lastDropWarning = now;
      const { droppedOverload, droppedRateLimited } = this.counters;
      this.opts.log.warn({ reason, pending: this.waiting, droppedOverload, droppedRateLimited }, "dropping Interests: over a bound");
    }
    return undefined;
  }

  /**
   * The reply if it can be given without waiting (blob size known, bytes in memory): nearly
   * every Interest of a transfer. Undefined means "ask reply()".
   */
  replyNow(id: BlobId, segment: number): SegmentReply | undefined {
    const stat = this.opts.catalog.peek(id);
    if (!stat?.found) {
      return undefined;
    }
    const last = segmentCount(stat.size) - 1;
    if (segment > last) {
      return undefined;
    }
    const [begin, end] = segmentByteRange(segment, stat.size);
    const content = end > begin ? this.opts.ranges.peek(id, stat.size, begin, end) : new Uint8Array();
    return content && this.data(content, last);
  }

  /** An Interest that gets no answer at all (a malformed name): counted and logged at debug. */
  drop(name: Name, reason: string): void {
    ++this.counters.dropped;
    this.opts.log.debug({ name: nameText(name).slice(0, 300), reason }, "interest dropped");
  }

  private data(content: Uint8Array, finalSegment: number): SegmentReply {
    ++this.counters.data;
    this.counters.dataBytes += content.length;
    return { contentType: ContentType.Blob, freshnessMs: this.opts.freshnessMs, content, finalSegment };
  }
}

function nack(reason: string): SegmentReply {
  return { contentType: ContentType.Nack, freshnessMs: NACK_FRESHNESS_MS, content: utf8.encode(reason) };
}
