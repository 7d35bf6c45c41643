import { produce, type Producer } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Data, ImplicitDigest, type Interest } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";
import { encodeSegmentData } from "@ndnreg/shared/ndn";

import type { ManifestBuilder } from "../manifest-builder.js";
import { type MetadataProducer, nackData } from "../metadata-producer.js";
import type { SegmentProducer } from "../segment-producer.js";
import type { TagRecords } from "../tag-records.js";

export interface NdntsAdapterOptions {
  readonly fw: Forwarder;
}

/**
 * Answers through NDNts produce() every Interest the wire tap leaves to NDNts: metadata, tag
 * records, manifest nodes and Interests for one exact packet (implicit digest) on every uplink, and all of them on
 * UDP uplinks (NDNLPv2 fragmentation), where the tap is not in front of NDNts. Segments are
 * encoded by the same encoder as on the wire path, so their bytes do not depend on the uplink.
 * Malformed names, segments past the end and packets that do not match an Interest's implicit
 * digest get no answer, nor do Interests the producer drops for lack of room. NDNts runs more
 * handlers at once than the producer lets wait, so the producer's bound (every name kind goes
 * through SegmentProducer.admit) is the one that applies here too and NDNts never queues Interests.
 */
export function serveThroughNdnts(
  producer: SegmentProducer, manifests: ManifestBuilder, metadata: MetadataProducer, tags: TagRecords, opts: NdntsAdapterOptions,
): Producer {
  const handler = async (interest: Interest): Promise<Data | undefined> => {
    const parsed = producer.parse(interest.name);
    if (!parsed.ok) {
      producer.drop(interest.name, parsed.reason);
      return undefined;
    }
    const name = ImplicitDigest.strip(interest.name);
    let data: Data | undefined;
    switch (parsed.kind) {
      case "metadata":
        return producer.refusesLookup(parsed.id) ? undefined : await producer.admit(() => metadata.reply(interest, parsed.id)) ?? undefined;
      case "tag":
        return tags.refusesLookup(parsed.id) ? undefined : await producer.admit(() => tags.reply(interest, parsed.id)) ?? undefined;
      case "stored-tag":
        producer.drop(interest.name, "stores answer stored tag records, not the server");
        return undefined;
      case "manifest": {
        const reply = await producer.admit(() => manifests.node(parsed.digest, parsed.node));
        data = reply === null ? undefined : "nack" in reply ? await nackData(name, reply.nack) : reply.data;
        break;
      }
      case "segment":
      case "legacy": {
        const reply = producer.replyNow(parsed, parsed.segment) ?? await producer.reply(parsed, parsed.segment);
        // Encoded at once: the range cache's views are valid until the next await.
        data = reply === null ? undefined : new Decoder(encodeSegmentData({ ...reply, nameValue: name.value })).decode(Data);
        break;
      }
    }
    if (data && parsed.implicitDigest && !Buffer.from(await data.computeImplicitDigest()).equals(parsed.implicitDigest)) {
      ++producer.counters.digestMismatch;
      return undefined; // only the exact packet may answer: never a different one under that name
    }
    return data;
  };
  return produce(producer.prefix, handler, { fw: opts.fw, concurrency: producer.maxPending + 256, describe: "blob-producer" });
}
