import { Segment } from "@ndn/naming-convention2";
import type { Name } from "@ndn/packet";
import {
  type BlobId, isValidRepository, readTlv, type Resolved, SegmentResponder, type SegmentSource, sha256DigestFromBytes, TLV, type WireTap,
} from "@ndnreg/shared/ndn";

import type { SegmentProducer, SegmentReply, SegmentTarget } from "../segment-producer.js";

/**
 * The server's hot path (Unix and TCP uplinks): the shared SegmentResponder answers segment
 * Interests (canonical and legacy names) from the producer's registry reader. Names the producer
 * answers through NDNts (metadata, manifest nodes) are declined. A legacy name not seen before
 * whose registry lookup the limits would refuse (a flood of unknown digests) is dropped from its
 * bytes, before the parser runs and with nothing remembered.
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

  reply(target: SegmentTarget, segment: number): Promise<SegmentReply | null> | null {
    return this.producer.reply(target, segment);
  }

  refuseUnseen(blobValue: Buffer): boolean {
    const unknown = legacyBlobId(blobValue, this.prefix.value.length);
    return unknown !== undefined && this.producer.refusesLookup(unknown);
  }

  drop(name: Name, reason: string): void {
    this.producer.drop(name, reason);
  }
}

/**
 * The blob a legacy blob name's value (`<prefix>/<repository>/<digest>`, prefix `prefixLength`
 * bytes) names, read from its bytes; undefined for any other shape. Only to refuse an Interest
 * cheaply: a name that is answered goes through the producer's parser.
 */
function legacyBlobId(blobValue: Buffer, prefixLength: number): BlobId | undefined {
  const repo = readTlv(blobValue, prefixLength);
  const digest = repo && repo.type === TLV.GenericNameComponent ? readTlv(blobValue, repo.end) : undefined;
  if (!repo || !digest || digest.type !== TLV.GenericNameComponent || digest.end !== blobValue.length) {
    return undefined;
  }
  const repository = blobValue.toString("latin1", repo.valueStart, repo.end); // valid repositories are ASCII
  const bytes = blobValue.subarray(digest.valueStart, digest.end);
  const sha = isValidRepository(repository) ? sha256DigestFromBytes(bytes) : undefined;
  return sha && { repository, digest: sha };
}
