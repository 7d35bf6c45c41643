import { CancelInterest, type Forwarder, FwPacket } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Data, Interest, Nack, type Name } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { pushable } from "@ndn/util";

import type { SegmentChannel, SegmentFlow, SegmentSink } from "../pipeline/segment-pipeline.js";

/**
 * Segments through an NDNts forwarder face: used where the wire hot path cannot be (UDP uplinks,
 * whose NDNLPv2 fragments NDNts reassembles), and as a reference in tests.
 */
export class ForwarderChannel implements SegmentChannel {
  constructor(private readonly fw: Forwarder) {}

  open(blob: Name, sink: SegmentSink): SegmentFlow {
    const rx = pushable<FwPacket>();
    const outstanding = new Map<number, Interest>();
    const receive = async (iterable: AsyncIterable<FwPacket>) => {
      for await (const pkt of iterable) {
        if (pkt.l3 instanceof Data) {
          const comp = pkt.l3.name.get(-1);
          if (comp && Segment.match(comp) && pkt.l3.name.length === blob.length + 1) {
            const segment = Segment.parse(comp);
            outstanding.delete(segment);
            const final = pkt.l3.finalBlockId;
            sink.data({
              segment, contentType: pkt.l3.contentType, content: pkt.l3.content, wire: Encoder.encode(pkt.l3),
              finalSegment: final && Segment.match(final) ? Segment.parse(final) : undefined,
            });
          }
        } else if (pkt.l3 instanceof Nack) {
          sink.nack(String(pkt.l3.reason));
        }
      }
    };
    const face = this.fw.addFace({ rx, tx: (iterable) => void receive(iterable) }, { describe: `fetchSegments(${blob.toString()})` });
    return {
      express: (segment, lifetimeMs) => {
        const interest = new Interest(blob.append(Segment, segment), Interest.MustBeFresh, Interest.Lifetime(lifetimeMs));
        outstanding.set(segment, interest);
        rx.push(FwPacket.create(interest));
      },
      close: () => {
        for (const interest of outstanding.values()) {
          rx.push(new CancelInterest(interest));
        }
        rx.stop();
        face.close();
      },
    };
  }
}
