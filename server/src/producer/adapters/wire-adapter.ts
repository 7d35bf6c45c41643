import { Segment } from "@ndn/naming-convention2";
import { Name } from "@ndn/packet";
import {
  type BlobId, encodeSegmentData, hasNamePrefix, lastComponentOffset, type PeekedPacket, readSegmentComponent, TLV, type WireTap,
  type WireTransport,
} from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import type { SegmentProducer, SegmentReply } from "../segment-producer.js";

/** Most distinct blob names whose parse result is remembered. */
const PARSE_CACHE_SIZE = 4096;

/** The parse result of a name that is not a valid blob name. */
const MALFORMED = false;

/**
 * The server's hot path (Unix and TCP uplinks): blob Interests are read from the uplink socket's
 * bytes and answered with Data encoded in one allocation. A blob name is validated once by the
 * producer's parser and remembered, so the per-Interest cost is a map lookup plus the segment number.
 */
export class WireAdapter {
  private readonly prefixValue: Uint8Array;
  /** Reads peek: a name's place in line is set when it is parsed. */
  private readonly parsed = new LRUCache<string, BlobId | typeof MALFORMED>({ max: PARSE_CACHE_SIZE });
  /** The previous Interest's blob: consecutive Interests are nearly always for the same one. */
  private last?: { readonly blobValue: Buffer; readonly id: BlobId | null };

  constructor(private readonly producer: SegmentProducer, private readonly signature: "digest" | "null") {
    this.prefixValue = producer.prefix.value;
  }

  /** Give this to the Uplink: takes Interests under the prefix, leaves the rest to NDNts. */
  readonly tap: WireTap = (pkt: PeekedPacket, wire: WireTransport) => {
    if (pkt.type !== TLV.Interest || pkt.nackReason !== undefined || !hasNamePrefix(pkt.nameValue, this.prefixValue)) {
      return false;
    }
    const last = lastComponentOffset(pkt.nameValue);
    const segment = last < 0 ? undefined : readSegmentComponent(pkt.nameValue, last);
    const id = segment === undefined ? null : this.blobId(pkt.nameValue, last);
    if (id === null || segment === undefined) {
      this.producer.drop(new Name(pkt.nameValue), "malformed blob segment name");
      return true;
    }
    const now = this.producer.replyNow(id, segment);
    if (now) {
      wire.send(this.encode(pkt.nameValue, pkt.pitToken, now));
      return true;
    }
    // The views point into the socket's chunk: copy what outlives this call.
    const nameValue = new Uint8Array(pkt.nameValue);
    const pitToken = pkt.pitToken && new Uint8Array(pkt.pitToken);
    void this.producer.reply(id, segment).then((reply) => reply && wire.send(this.encode(nameValue, pitToken, reply)));
    return true;
  };

  private encode(nameValue: Uint8Array, pitToken: Uint8Array | undefined, reply: SegmentReply): Uint8Array {
    return encodeSegmentData({
      nameValue, pitToken, contentType: reply.contentType, freshnessMs: reply.freshnessMs, finalSegment: reply.finalSegment, content: reply.content,
      signature: this.signature,
    });
  }

  private blobId(nameValue: Uint8Array, lastOffset: number): BlobId | null {
    const blobValue = Buffer.from(nameValue.buffer, nameValue.byteOffset, lastOffset);
    if (this.last?.blobValue.equals(blobValue)) {
      return this.last.id;
    }
    const id = this.lookup(blobValue);
    this.last = { blobValue: Buffer.from(blobValue), id };
    return id;
  }

  private lookup(blobValue: Buffer): BlobId | null {
    const key = blobValue.toString("latin1");
    let id = this.parsed.peek(key);
    if (id === undefined) {
      try {
        const parsed = this.producer.parse(new Name(blobValue).append(Segment, 0));
        id = parsed.ok ? parsed.id : MALFORMED;
      } catch {
        id = MALFORMED; // a component NDNts refuses to decode
      }
      this.parsed.set(key, id);
    }
    return id === MALFORMED ? null : id;
  }
}
