import { Name } from "@ndn/packet";
import {
  decodeDataContent, encodeSegmentInterest, hasNamePrefix, lastComponentOffset, type PeekedPacket, readSegmentComponent, TLV, type WireTap, type WireTransport,
} from "@ndnreg/shared/ndn";

import type { SegmentChannel, SegmentFlow, SegmentSink } from "../pipeline/segment-pipeline.js";

/**
 * The client's hot path: Interests are encoded straight to the uplink socket and blob Data is
 * decoded from the socket's bytes, matched to its fetch by name. Sessions outlive uplink
 * reconnects; Interests sent while the uplink is down are lost and retransmitted by the pipeline.
 */
export class WireChannel implements SegmentChannel {
  private readonly sessions = new Map<string, SegmentSink>();
  private readonly prefixValue: Uint8Array;

  constructor(prefix: Name, private readonly wire: () => WireTransport | undefined) {
    this.prefixValue = prefix.value;
  }

  open(blob: Name, sink: SegmentSink): SegmentFlow {
    const blobValue = blob.value;
    const key = keyOf(blobValue);
    this.sessions.set(key, sink);
    return {
      express: (segment, lifetimeMs) => this.wire()?.send(encodeSegmentInterest(blobValue, segment, lifetimeMs)),
      close: () => {
        if (this.sessions.get(key) === sink) {
          this.sessions.delete(key);
        }
      },
    };
  }

  /** Give this to the Uplink: takes blob Data and Nacks under the prefix, leaves the rest to NDNts. */
  readonly tap: WireTap = (pkt: PeekedPacket) => {
    if (!hasNamePrefix(pkt.nameValue, this.prefixValue)) {
      return false;
    }
    const last = lastComponentOffset(pkt.nameValue);
    const segment = last < 0 ? undefined : readSegmentComponent(pkt.nameValue, last);
    const sink = segment === undefined ? undefined : this.sessions.get(keyOf(pkt.nameValue.subarray(0, last)));
    if (!sink || segment === undefined) {
      return true; // late or unsolicited: nobody is waiting for it
    }
    if (pkt.type === TLV.Interest) {
      if (pkt.nackReason !== undefined) {
        sink.nack(`reason ${pkt.nackReason}`);
      }
      return true;
    }
    const decoded = decodeDataContent(pkt.packet);
    if (decoded) {
      sink.data({ segment, contentType: decoded.contentType, content: decoded.content, finalSegment: decoded.finalSegment });
    }
    return true;
  };
}

function keyOf(nameValue: Uint8Array): string {
  return Buffer.from(nameValue.buffer, nameValue.byteOffset, nameValue.byteLength).toString("latin1");
}
