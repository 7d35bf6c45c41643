import { Name } from "@ndn/packet";
import {
  decodeDataContent, encodeSegmentInterest, hasNamePrefix, lastComponentOffset, latin1Text, type PeekedPacket, readSegmentComponent, TLV, type WireTap,
  type WireTransport,
} from "@ndnreg/shared/ndn";

import type { SegmentChannel, SegmentFlow, SegmentPacket, SegmentSink } from "../pipeline/channel.js";

/**
 * A segment's Data as the pipeline holds it. A class, not an object literal: V8 tracks where
 * literals are made, and once packets held through a stall (a segment waiting for its manifest
 * node) survive a few scavenges, it allocates every later one from that site in the old
 * generation, where each keeps its socket read chunk until a full collection.
 */
class WirePacket implements SegmentPacket {
  constructor(
    readonly segment: number,
    readonly contentType: number,
    readonly content: Uint8Array,
    readonly wire: Uint8Array,
    readonly finalSegment: number | undefined,
  ) {}
}

/**
 * One fetch's Interests. A class, not closures made by open(): the pipeline's optimized send path
 * calls `express` for every Interest, and a new function at each fetch would throw that code away.
 */
class WireFlow implements SegmentFlow {
  constructor(
    private readonly wire: () => WireTransport | undefined,
    private readonly blobValue: Uint8Array,
    readonly close: () => void,
  ) {}

  express(segment: number, lifetimeMs: number): void {
    this.wire()?.send(encodeSegmentInterest(this.blobValue, segment, lifetimeMs));
  }
}

/**
 * The client's hot path: Interests are encoded straight to the uplink socket and blob Data is
 * decoded from the socket's bytes, matched to its fetch by name. Sessions outlive uplink
 * reconnects; Interests sent while the uplink is down are lost and retransmitted by the pipeline.
 */
export class WireChannel implements SegmentChannel {
  /**
   * Fetches by blob name. Several may run under one name (ranges of one blob, or one layer pulled
   * through two repositories: canonical names have no repository); each gets every Data under it
   * and ignores segments it did not ask for.
   */
  private readonly sessions = new Map<string, Set<SegmentSink>>();
  private readonly prefixValue: Uint8Array;

  constructor(prefix: Name, private readonly wire: () => WireTransport | undefined) {
    this.prefixValue = prefix.value;
  }

  open(blob: Name, sink: SegmentSink): SegmentFlow {
    const blobValue = blob.value;
    const key = latin1Text(blobValue);
    let sinks = this.sessions.get(key);
    if (!sinks) {
      sinks = new Set();
      this.sessions.set(key, sinks);
    }
    sinks.add(sink);
    return new WireFlow(this.wire, blobValue, () => {
      const current = this.sessions.get(key);
      current?.delete(sink);
      if (current?.size === 0) {
        this.sessions.delete(key);
      }
    });
  }

  /**
   * Give this to the Uplink: takes segment Data and Nacks under the prefix, leaves the rest to
   * NDNts, including every reply to an Interest NDNts sent (metadata, manifest nodes, exact
   * re-fetches): those carry the PIT token NDNts gave them, wire Interests carry none.
   */
  readonly tap: WireTap = (pkt: PeekedPacket) => {
    // Interests (not Nacks) are for the edge store's producer.
    if (pkt.pitToken !== undefined || (pkt.type === TLV.Interest && pkt.nackReason === undefined) || !hasNamePrefix(pkt.nameValue, this.prefixValue)) {
      return false;
    }
    const last = lastComponentOffset(pkt.nameValue);
    const segment = last < 0 ? undefined : readSegmentComponent(pkt.nameValue, last);
    const sinks = segment === undefined ? undefined : this.sessions.get(latin1Text(pkt.nameValue.subarray(0, last)));
    if (!sinks || segment === undefined) {
      return true; // late or unsolicited: nobody is waiting for it
    }
    if (pkt.type === TLV.Interest) {
      if (pkt.nackReason !== undefined) {
        const reason = pkt.nackReason;
        sinks.forEach((sink) => sink.nack(segment, reason));
      }
      return true;
    }
    const decoded = decodeDataContent(pkt.packet);
    if (decoded) {
      const data = new WirePacket(segment, decoded.contentType, decoded.content, pkt.packet, decoded.finalSegment);
      const marked = pkt.congestionMark !== 0;
      sinks.forEach((sink) => sink.data(data, marked));
    }
    return true;
  };
}
