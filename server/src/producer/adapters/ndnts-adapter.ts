import { produce, type Producer } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Data, type Interest, type Signer } from "@ndn/packet";

import type { SegmentProducer } from "../segment-producer.js";

export interface NdntsAdapterOptions {
  readonly fw: Forwarder;
  readonly signer: Signer;
}

/**
 * Answers blob Interests through NDNts produce(): on UDP uplinks (NDNLPv2 fragmentation), where
 * the wire tap is not in front of NDNts. Malformed names get no answer, nor do Interests the
 * producer drops for lack of room. NDNts runs more handlers at once than the producer lets wait,
 * so the producer's bound is the one that applies here too and NDNts never queues Interests.
 */
export function serveThroughNdnts(producer: SegmentProducer, opts: NdntsAdapterOptions): Producer {
  const handler = async (interest: Interest): Promise<Data | undefined> => {
    const parsed = producer.parse(interest.name);
    if (!parsed.ok) {
      producer.drop(interest.name, parsed.reason);
      return undefined;
    }
    const reply = producer.replyNow(parsed.id, parsed.segment) ?? await producer.reply(parsed.id, parsed.segment);
    if (!reply) {
      return undefined;
    }
    // A copy: the range cache recycles its buffers, and signing here is asynchronous.
    const data = new Data(interest.name, Data.ContentType(reply.contentType), Data.FreshnessPeriod(reply.freshnessMs), reply.content.slice());
    if (reply.finalSegment !== undefined) {
      data.finalBlockId = Segment.create(reply.finalSegment);
    }
    await opts.signer.sign(data);
    return data;
  };
  return produce(producer.prefix, handler, { fw: opts.fw, concurrency: producer.maxPending + 256, describe: "blob-producer" });
}
