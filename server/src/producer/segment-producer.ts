import { Segment } from "@ndn/naming-convention2";
import { Data, type Interest, type Name, type Signer } from "@ndn/packet";
import type { Logger } from "@ndnreg/shared";
import { type BlobId, ContentType, nameText, parseSegmentName, segmentByteRange, segmentCount } from "@ndnreg/shared/ndn";

import type { BlobCatalog } from "../registry/blob-catalog.js";
import type { RangeCache } from "./range-cache.js";

export interface SegmentProducerOptions {
  readonly prefix: Name;
  readonly catalog: BlobCatalog;
  readonly ranges: RangeCache;
  readonly signer: Signer;
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
export const NACK_FRESHNESS_MS = 1000;

/** What to answer an Interest with, whatever the encoding. */
export type SegmentReply =
  | { readonly kind: "data"; readonly content: Uint8Array; readonly finalSegment: number }
  | { readonly kind: "nack"; readonly reason: string };

/** Answers Interests for blob segments with bytes read from the registry. */
export class SegmentProducer {
  readonly counters: InterestCounters = { data: 0, dataBytes: 0, nackMissing: 0, nackError: 0, dropped: 0 };

  constructor(readonly opts: SegmentProducerOptions) {}

  /** Segment `segment` of blob `id`, or a Nack reason (missing blob, past the end, registry error). */
  async reply(id: BlobId, segment: number): Promise<SegmentReply> {
    const { catalog, ranges, log } = this.opts;
    try {
      const stat = await catalog.stat(id);
      if (!stat.found) {
        ++this.counters.nackMissing;
        return { kind: "nack", reason: `blob not found (registry ${stat.status})` };
      }
      const last = segmentCount(stat.size) - 1;
      if (segment > last) {
        ++this.counters.nackMissing;
        return { kind: "nack", reason: `segment ${segment} past the end (${last})` };
      }
      const [begin, end] = segmentByteRange(segment, stat.size);
      const content = end > begin ? await ranges.read(id, stat.size, begin, end) : new Uint8Array();
      ++this.counters.data;
      this.counters.dataBytes += content.length;
      return { kind: "data", content, finalSegment: last };
    } catch (err: unknown) {
      // Registry down or failing: answer at once so consumers fall back instead of timing out.
      ++this.counters.nackError;
      log.warn({ repository: id.repository, digest: id.digest.text, segment, err: String(err) }, "segment unavailable");
      return { kind: "nack", reason: "registry unavailable" };
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
    if (!content) {
      return undefined;
    }
    ++this.counters.data;
    this.counters.dataBytes += content.length;
    return { kind: "data", content, finalSegment: last };
  }

  /** Handler for NDNts produce() (UDP uplinks): undefined means "send nothing" (malformed names). */
  readonly handle = async (interest: Interest): Promise<Data | undefined> => {
    const parsed = parseSegmentName(this.opts.prefix, interest.name);
    if (!parsed.ok) {
      this.drop(interest.name, parsed.reason);
      return undefined;
    }
    const reply = await this.reply(parsed.id, parsed.segment);
    const data = reply.kind === "data"
      // A copy: the range cache recycles its buffers, and signing here is asynchronous.
      ? new Data(interest.name, Data.FreshnessPeriod(this.opts.freshnessMs), reply.content.slice())
      : new Data(interest.name, Data.ContentType(ContentType.Nack), Data.FreshnessPeriod(NACK_FRESHNESS_MS), new TextEncoder().encode(reply.reason));
    if (reply.kind === "data") {
      data.finalBlockId = Segment.create(reply.finalSegment);
    }
    await this.opts.signer.sign(data);
    return data;
  };

  drop(name: Name, reason: string): void {
    ++this.counters.dropped;
    this.opts.log.debug({ name: nameText(name).slice(0, 300), reason }, "interest dropped");
  }
}
