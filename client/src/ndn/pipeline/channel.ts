import type { Name } from "@ndn/packet";

/** What a channel hands back for each segment: payload bytes are views, not copies. */
export interface SegmentPacket {
  readonly segment: number;
  readonly contentType: number;
  readonly content: Uint8Array;
  /** The whole Data element (its sha256 is the packet's implicit digest). */
  readonly wire: Uint8Array;
  /** FinalBlockId, when it is a segment number. */
  readonly finalSegment?: number;
}

/** NDNLPv2 Nack reasons (a network Nack: the Interest went no further). */
export { NackReason } from "@ndn/packet";

export interface SegmentSink {
  /** Data for a segment; `congestionMark`: NDNLPv2 CongestionMark was set on it. */
  data(packet: SegmentPacket, congestionMark: boolean): void;
  /** A network Nack for the Interest for `segment`, with its NDNLPv2 reason (0: none given). */
  nack(segment: number, reason: number): void;
}

/** One object's Interest/Data exchange over some face: Interests for `<object name>/<segment>`. */
export interface SegmentFlow {
  express(segment: number, lifetimeMs: number): void;
  close(): void;
}

/** Where Interests go and Data comes from: the wire hot path, or an NDNts forwarder face. */
export interface SegmentChannel {
  open(object: Name, sink: SegmentSink): SegmentFlow;
}
