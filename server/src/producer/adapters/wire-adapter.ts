import { Segment } from "@ndn/naming-convention2";
import { Name } from "@ndn/packet";
import {
  type BlobId, encodeSegmentData, hasNamePrefix, isValidRepository, lastComponentOffset, type PeekedPacket, readSegmentComponent, readTlv,
  sha256DigestFromBytes, TLV, type WireTap, type WireTransport,
} from "@ndnreg/shared/ndn";
import { LRUCache } from "lru-cache";

import type { SegmentProducer, SegmentReply, SegmentTarget } from "../segment-producer.js";

/** Most distinct blob names whose parse result is remembered. */
const PARSE_CACHE_SIZE = 4096;

/**
 * Parse results of names the hot path does not answer: malformed, left to NDNts (manifest nodes),
 * or refused by the lookup limits before parsing (never remembered).
 */
const MALFORMED = 0;
const TO_NDNTS = 1;
const REFUSED = 2;
type Parsed = SegmentTarget | typeof MALFORMED | typeof TO_NDNTS | typeof REFUSED;

/**
 * The server's hot path (Unix and TCP uplinks): segment Interests (canonical and legacy names) are
 * read from the uplink socket's bytes and answered with Data encoded in one allocation. A blob
 * name is validated once by the producer's parser and remembered, so the per-Interest cost is a
 * map lookup plus the segment number. A legacy name not seen before whose registry lookup the
 * limits would refuse (a flood of unknown digests) is dropped from its bytes, before the parser
 * runs and with nothing remembered. Everything else under the prefix (metadata, manifest nodes,
 * Interests ending in an implicit digest) is left to NDNts, which the producer also answers.
 */
export class WireAdapter {
  private readonly prefixValue: Uint8Array;
  /** Reads peek: a name's place in line is set when it is parsed. */
  private readonly parsed = new LRUCache<string, Parsed>({ max: PARSE_CACHE_SIZE });
  /** The previous Interest's blob: consecutive Interests are nearly always for the same one. */
  private last?: { readonly blobValue: Buffer; readonly target: Parsed };

  constructor(private readonly producer: SegmentProducer) {
    this.prefixValue = producer.prefix.value;
  }

  /** Give this to the Uplink: takes segment Interests under the prefix, leaves the rest to NDNts. */
  readonly tap: WireTap = (pkt: PeekedPacket, wire: WireTransport) => {
    if (pkt.type !== TLV.Interest || pkt.nackReason !== undefined || !hasNamePrefix(pkt.nameValue, this.prefixValue)) {
      return false;
    }
    const last = lastComponentOffset(pkt.nameValue);
    const segment = last < 0 ? undefined : readSegmentComponent(pkt.nameValue, last);
    if (segment === undefined) {
      return false; // metadata, an implicit digest, or malformed: NDNts parses it
    }
    const target = this.target(pkt.nameValue, last);
    if (target === TO_NDNTS) {
      return false;
    }
    if (target === REFUSED) {
      return true;
    }
    if (target === MALFORMED) {
      this.producer.drop(new Name(pkt.nameValue), "malformed blob segment name");
      return true;
    }
    const now = this.producer.replyNow(target, segment);
    if (now) {
      wire.send(encode(pkt.nameValue, pkt.pitToken, now));
      return true;
    }
    const later = this.producer.reply(target, segment);
    if (later === null) {
      return true; // dropped by a bound, before any asynchronous work
    }
    // The views point into the socket's chunk: copy what outlives this call.
    const nameValue = new Uint8Array(pkt.nameValue);
    const pitToken = pkt.pitToken && new Uint8Array(pkt.pitToken);
    void later.then((reply) => reply && wire.send(encode(nameValue, pitToken, reply)));
    return true;
  };

  private target(nameValue: Uint8Array, lastOffset: number): Parsed {
    const blobValue = Buffer.from(nameValue.buffer, nameValue.byteOffset, lastOffset);
    if (this.last?.blobValue.equals(blobValue)) {
      return this.last.target;
    }
    const target = this.lookup(blobValue);
    if (target !== REFUSED) {
      this.last = { blobValue: Buffer.from(blobValue), target };
    }
    return target;
  }

  private lookup(blobValue: Buffer): Parsed {
    const key = blobValue.toString("latin1");
    let target = this.parsed.peek(key);
    if (target === undefined) {
      const unknown = legacyBlobId(blobValue, this.prefixValue.length);
      if (unknown && this.producer.refusesLookup(unknown)) {
        return REFUSED;
      }
      target = MALFORMED;
      try {
        const parsed = this.producer.parse(new Name(blobValue).append(Segment, 0));
        if (parsed.ok) {
          target = parsed.kind === "segment" ? { kind: "segment", digest: parsed.digest } : TO_NDNTS;
          target = parsed.kind === "legacy" ? { kind: "legacy", id: parsed.id } : target;
        }
      } catch {
        // a component NDNts refuses to decode
      }
      this.parsed.set(key, target);
    }
    return target;
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

function encode(nameValue: Uint8Array, pitToken: Uint8Array | undefined, reply: SegmentReply): Uint8Array {
  return encodeSegmentData({ ...reply, nameValue, pitToken });
}
