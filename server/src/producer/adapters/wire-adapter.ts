import { Segment } from "@ndn/naming-convention2";
import type { Name } from "@ndn/packet";
import { type Resolved, SegmentResponder, type SegmentSource, type WireTap } from "@ndnreg/shared/ndn";

import type { SegmentProducer, SegmentReply, SegmentTarget } from "../segment-producer.js";

/**
 * The server's hot path (Unix and TCP uplinks): the shared SegmentResponder answers segment
 * Interests (canonical and legacy names) from the producer's registry reader. Names the producer
 * answers through NDNts (metadata, manifest nodes) are declined.
 */
export class WireAdapter implements SegmentSource<SegmentTarget> {
  readonly prefix: Name;
  /** Give this to the Uplink. */
  readonly tap: WireTap;

  constructor(private readonly producer: SegmentProducer) {
    this.prefix = producer.prefix;
    this.tap = new SegmentResponder(this).tap;
  }

  resolve(blobName: Name): Resolved<SegmentTarget> {
    const parsed = this.producer.parse(blobName.append(Segment, 0));
    if (!parsed.ok) {
      return "malformed";
    }
    return parsed.kind === "segment" ? { kind: "segment", digest: parsed.digest } : parsed.kind === "legacy" ? { kind: "legacy", id: parsed.id } : "decline";
  }

  replyNow(target: SegmentTarget, segment: number): SegmentReply | undefined {
    return this.producer.replyNow(target, segment);
  }

  reply(target: SegmentTarget, segment: number): Promise<SegmentReply | null> {
    return this.producer.reply(target, segment);
  }

  drop(name: Name, reason: string): void {
    this.producer.drop(name, reason);
  }
}
