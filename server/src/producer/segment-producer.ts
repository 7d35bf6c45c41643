import { Segment } from "@ndn/naming-convention2";
import { Data, type Interest, type Name, type Signer } from "@ndn/packet";
import {
  ContentType, type Logger, parseSegmentName, segmentByteRange, segmentCount,
} from "@ndnreg/shared";

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
  nackMissing: number;
  nackError: number;
  dropped: number;
}

/** A "no such blob" answer is cached only briefly, so a later push becomes visible quickly. */
const NACK_FRESHNESS_MS = 1000;

/** Answers Interests for blob segments with Data built from registry byte ranges. */
export class SegmentProducer {
  readonly counters: InterestCounters = { data: 0, nackMissing: 0, nackError: 0, dropped: 0 };

  constructor(private readonly opts: SegmentProducerOptions) {}

  /** Handler for produce(): undefined means "send nothing" (malformed names are dropped). */
  readonly handle = async (interest: Interest): Promise<Data | undefined> => {
    const { prefix, catalog, ranges, log } = this.opts;
    const parsed = parseSegmentName(prefix, interest.name);
    if (!parsed.ok) {
      ++this.counters.dropped;
      log.debug({ name: interest.name.toString().slice(0, 300), reason: parsed.reason }, "interest dropped");
      return undefined;
    }
    const { id, segment } = parsed;
    try {
      const stat = await catalog.stat(id);
      if (!stat.found) {
        ++this.counters.nackMissing;
        return this.nack(interest.name, `blob not found (registry ${stat.status})`);
      }
      const last = segmentCount(stat.size) - 1;
      if (segment > last) {
        ++this.counters.nackMissing;
        return this.nack(interest.name, `segment ${segment} past the end (${last})`);
      }
      const [begin, end] = segmentByteRange(segment, stat.size);
      const content = end > begin ? await ranges.read(id, stat.size, begin, end) : new Uint8Array();
      const data = new Data(interest.name, Data.FreshnessPeriod(this.opts.freshnessMs), content);
      data.finalBlockId = Segment.create(last);
      await this.opts.signer.sign(data);
      ++this.counters.data;
      return data;
    } catch (err: unknown) {
      // Registry down or failing: answer at once so consumers fall back instead of timing out.
      ++this.counters.nackError;
      log.warn({ repository: id.repository, digest: id.digest.text, segment, err: String(err) }, "segment unavailable");
      return this.nack(interest.name, "registry unavailable");
    }
  };

  private async nack(name: Name, reason: string): Promise<Data> {
    const data = new Data(name, Data.ContentType(ContentType.Nack), Data.FreshnessPeriod(NACK_FRESHNESS_MS),
      new TextEncoder().encode(reason));
    await this.opts.signer.sign(data);
    return data;
  }
}

