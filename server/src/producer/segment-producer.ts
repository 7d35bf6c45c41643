import type { Name } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import {
  type BlobId, ContentType, nameText, type ParsedSegmentName, parseSegmentName, type SegmentDataFields, segmentByteRange, segmentCount,
} from "@ndnreg/shared/ndn";

import type { BlobCatalog } from "../registry/blob-catalog.js";
import type { RangeCache } from "./range-cache.js";

export interface SegmentProducerOptions {
  readonly prefix: Name;
  readonly catalog: BlobCatalog;
  readonly ranges: RangeCache;
  readonly freshnessMs: number;
  readonly log: Logger;
}

export interface InterestCounters {
  data: number;
  dataBytes: number;
  nackMissing: number;
  nackError: number;
  dropped: number;
}

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
  readonly counters: InterestCounters = { data: 0, dataBytes: 0, nackMissing: 0, nackError: 0, dropped: 0 };
  readonly prefix: Name;

  constructor(private readonly opts: SegmentProducerOptions) {
    this.prefix = opts.prefix;
  }

  /** The blob and segment an Interest name asks for; every malformed name gets a reason. */
  parse(name: Name): ParsedSegmentName {
    return parseSegmentName(this.prefix, name);
  }

  /** Segment `segment` of blob `id`, or a Nack (missing blob, past the end, registry error). */
  async reply(id: BlobId, segment: number): Promise<SegmentReply> {
    const { catalog, ranges, log } = this.opts;
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
      // Registry down or failing: answer at once so consumers fall back instead of timing out.
      ++this.counters.nackError;
      log.warn({ repository: id.repository, digest: id.digest.text, segment, err: String(err) }, "segment unavailable");
      return nack("registry unavailable");
    }
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
