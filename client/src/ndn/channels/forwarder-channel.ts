import { CancelInterest, type Forwarder, FwPacket } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Data, Interest, Nack, type Name } from "@ndn/packet";
import { pushable } from "@ndn/util";

import type { SegmentChannel, SegmentFlow, SegmentSink } from "../pipeline/channel.js";

interface Session {
  readonly sink: SegmentSink;
  /** Segments whose Data arrived with a congestion mark, until the Data reaches this session. */
  readonly marked: Set<number>;
}

/**
 * Segments through an NDNts forwarder face: used where the wire hot path cannot be, and as a
 * reference in tests. NDNts' forwarder drops what the pipeline needs besides Data (congestion
 * marks, and Nacks, which it ignores), so both are read as packets arrive on the uplink's face.
 */
export class ForwarderChannel implements SegmentChannel {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly fw: Forwarder) {
    fw.addEventListener("pktrx", ({ packet }) => this.observe(packet));
  }

  open(blob: Name, sink: SegmentSink): SegmentFlow {
    const key = blob.valueHex;
    const session: Session = { sink, marked: new Set() };
    this.sessions.set(key, session);
    const rx = pushable<FwPacket>();
    const outstanding = new Map<number, Interest>();
    const receive = async (iterable: AsyncIterable<FwPacket>) => {
      for await (const pkt of iterable) {
        const segment = pkt.l3 instanceof Data ? segmentOf(pkt.l3.name, blob) : undefined;
        if (segment !== undefined && pkt.l3 instanceof Data) {
          outstanding.delete(segment);
          sink.data({ segment, contentType: pkt.l3.contentType, content: pkt.l3.content }, session.marked.delete(segment));
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
        if (this.sessions.get(key) === session) {
          this.sessions.delete(key);
        }
        for (const interest of outstanding.values()) {
          rx.push(new CancelInterest(interest));
        }
        rx.stop();
        face.close();
      },
    };
  }

  /** A packet arriving on any face: a congestion mark or a Nack for one of our segments. */
  private observe(pkt: FwPacket): void {
    if (this.sessions.size === 0) {
      return;
    }
    const nack = pkt.l3 instanceof Nack ? pkt.l3 : undefined;
    if (!nack && !(pkt.l3 instanceof Data && pkt.congestionMark)) {
      return;
    }
    const name = nack ? nack.interest.name : (pkt.l3 as Data).name;
    const session = this.sessions.get(name.getPrefix(-1).valueHex);
    const segment = session && segmentOf(name, name.getPrefix(-1));
    if (session === undefined || segment === undefined) {
      return;
    }
    if (nack) {
      session.sink.nack(segment, nack.reason);
    } else {
      session.marked.add(segment);
    }
  }
}

function segmentOf(name: Name, object: Name): number | undefined {
  const comp = name.get(-1);
  return comp && name.length === object.length + 1 && Segment.match(comp) ? Segment.parse(comp) : undefined;
}
