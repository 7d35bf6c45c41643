import { Name } from "@ndn/packet";
import { LRUCache } from "lru-cache";

import { type DataFields, encodeSegmentData, hasNamePrefix, lastComponentOffset, type PeekedPacket, readSegmentComponent } from "./packets.js";
import { TLV } from "./tlv.js";
import type { WireTap, WireTransport } from "./wire-transport.js";

/** What a blob name (the Interest name without its segment component) means to a source. */
export type Resolved<T> = T | "decline" | "malformed";

/**
 * Where a SegmentResponder's replies come from: the server's registry reader, the client's edge
 * store. `T` is what the source makes of a blob name (parsed once per name, then remembered).
 */
export interface SegmentSource<T extends object> {
  /** The name prefix whose segment Interests the source answers. */
  readonly prefix: Name;
  /** "decline": left to NDNts (manifest nodes, names the source does not serve); "malformed": dropped. May throw (malformed). */
  resolve(blobName: Name): Resolved<T>;
  /** The reply if it needs no waiting (bytes in memory); undefined means "ask reply()". */
  replyNow(target: T, segment: number): DataFields | undefined;
  /**
   * The reply, or null for no answer at all (past the end, dropped by a bound, not held); a
   * synchronous null: dropped before any asynchronous work (a bound that refuses cheaply).
   */
  reply(target: T, segment: number): Promise<DataFields | null> | null;
  /**
   * True drops an Interest for a blob name not resolved before (its TLV-VALUE, no segment), before
   * resolve() runs and with nothing remembered: a flood of names nobody published stays cheap.
   */
  refuseUnseen?(blobValue: Buffer): boolean;
  /** An Interest that gets no answer (a malformed name): the source counts it. */
  drop(name: Name, reason: string): void;
}

/** A blob name the source refused unseen: dropped, never remembered. */
const REFUSED = Symbol("refused");

/** Most distinct blob names whose resolution is remembered. */
const RESOLVED_CACHE_SIZE = 4096;

/**
 * The wire hot path of a producer: segment Interests under the source's prefix are taken from the
 * uplink socket's bytes (a WireTap) and answered with Data encoded in one allocation by the
 * deterministic encoder, so any holder of a blob's bytes sends byte-identical packets. A blob name
 * is resolved once by the source and remembered, so the per-Interest cost is a lookup plus the
 * segment number. Everything else (metadata, manifest nodes, Interests ending in an implicit
 * digest, Nacks) is declined and goes to NDNts, which the producer also answers.
 */
export class SegmentResponder<T extends object> {
  private readonly prefixValue: Uint8Array;
  /** Reads peek: a name's place in line is set when it is resolved. */
  private readonly resolved = new LRUCache<string, Resolved<T>>({ max: RESOLVED_CACHE_SIZE });
  /** The previous Interest's blob: consecutive Interests are nearly always for the same one. */
  private last?: { readonly blobValue: Buffer; readonly target: Resolved<T> };

  constructor(private readonly source: SegmentSource<T>) {
    this.prefixValue = source.prefix.value;
  }

  /** Give this to the Uplink (alone, or after another tap). */
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
    if (target === "decline") {
      return false;
    }
    if (target === REFUSED) {
      return true;
    }
    if (target === "malformed") {
      this.source.drop(new Name(pkt.nameValue), "malformed blob segment name");
      return true;
    }
    const now = this.source.replyNow(target, segment);
    if (now) {
      wire.send(encodeSegmentData({ ...now, nameValue: pkt.nameValue, pitToken: pkt.pitToken }));
      return true;
    }
    const later = this.source.reply(target, segment);
    if (later === null) {
      return true;
    }
    // The views point into the socket's chunk: copy what outlives this call.
    const nameValue = new Uint8Array(pkt.nameValue);
    const pitToken = pkt.pitToken && new Uint8Array(pkt.pitToken);
    void later.then((reply) => reply && wire.send(encodeSegmentData({ ...reply, nameValue, pitToken })));
    return true;
  };

  private target(nameValue: Uint8Array, lastOffset: number): Resolved<T> | typeof REFUSED {
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

  private lookup(blobValue: Buffer): Resolved<T> | typeof REFUSED {
    const key = blobValue.toString("latin1");
    let target = this.resolved.peek(key);
    if (target === undefined) {
      if (this.source.refuseUnseen?.(blobValue)) {
        return REFUSED;
      }
      try {
        target = this.source.resolve(new Name(blobValue));
      } catch {
        target = "malformed"; // a component NDNts refuses to decode
      }
      this.resolved.set(key, target);
    }
    return target;
  }
}
