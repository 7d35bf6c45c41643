import { type Producer, produce } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Data, type Interest, type Name } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";
import type { Logger } from "@ndnreg/shared";
import {
  canonicalBlobName, encodeSegmentData, parseRegistryName, parseSha256Digest, SegmentResponder, type WireTap,
} from "@ndnreg/shared/ndn";

import type { BlobStore } from "./blob-store.js";
import type { DecodedPackets } from "./packet-file.js";
import { type StoreServeCounters, StoreSegments } from "./store-segments.js";

/** Interests NDNts hands to the handler at once (metadata, manifest nodes, segments the tap did not take). */
const CONCURRENCY = 64;
/** Decoded packet files kept (a node is 8 KB per 2 MB of blob). */
const PACKET_FILES = 16;

/**
 * Serves the edge store over NDN (docs/protocol.md): canonical segments regenerated from the
 * stored bytes by the shared deterministic encoder (byte-identical to the server's, so their
 * implicit digests match its signed manifest), manifest nodes and metadata as the server signed
 * them. Each stored blob is announced as `/<prefix>/<digest>` and its metadata's discovery name
 * (only the repository it was fetched through: the server's publication covered that one), and
 * withdrawn when evicted. Interests for anything else get no answer. Segment Interests from the
 * uplink are answered on its wire hot path (`tap`, the shared SegmentResponder), the few others
 * through NDNts; StoreSegments bounds the disk load strangers can cause.
 */
export class StoreProducer {
  private readonly producer: Producer;
  private readonly announced = new Map<string, Name[]>();
  /** Segments, for the wire tap and for Interests that reach NDNts. */
  readonly segments: StoreSegments;
  /** Give this to the Uplink: segment Interests for stored blobs, answered from the socket's bytes. */
  readonly tap: WireTap;
  /** Segments answered through NDNts, and announcements withdrawn: for metrics. */
  ndntsSegments = 0;
  withdrawals = 0;
  private readonly packets = new Map<string, Promise<DecodedPackets | undefined>>();

  constructor(fw: Forwarder, private readonly prefix: Name, private readonly store: BlobStore, private readonly log: Logger) {
    this.segments = new StoreSegments(prefix, store, (hex) => this.announced.has(hex), log);
    this.tap = new SegmentResponder(this.segments).tap;
    this.producer = produce(undefined, (interest) => this.answer(interest), { fw, concurrency: CONCURRENCY, describe: "edge-store" });
    for (const hex of store.digests()) {
      this.announce(hex);
    }
    store.listen((hex, present) => (present ? this.announce(hex) : this.withdraw(hex)));
  }

  get counters(): StoreServeCounters {
    return this.segments.counters;
  }

  close(): void {
    this.producer.close();
    this.segments.close();
  }

  private announce(hex: string): void {
    const info = this.store.info(hex);
    const digest = parseSha256Digest(`sha256:${hex}`);
    if (!info || !digest || !this.prefix.isPrefixOf(info.discoveryName) || this.announced.has(hex)) {
      return; // stored under another prefix: not ours to serve
    }
    const names = [canonicalBlobName(this.prefix, digest), info.discoveryName];
    for (const n of names) {
      this.producer.face.addRoute(n, true);
    }
    this.announced.set(hex, names);
  }

  private withdraw(hex: string): void {
    if (this.announced.has(hex)) {
      ++this.withdrawals;
    }
    for (const n of this.announced.get(hex) ?? []) {
      this.producer.face.removeRoute(n, true);
    }
    this.announced.delete(hex);
    this.segments.forget(hex);
    this.packets.delete(hex);
  }

  private async answer(interest: Interest): Promise<Data | undefined> {
    const parsed = parseRegistryName(this.prefix, interest.name);
    if (!parsed.ok || parsed.kind === "legacy" || parsed.kind === "tag" || parsed.kind === "stored-tag") {
      return undefined; // tag records: TagRecordProducer
    }
    const hex = parsed.kind === "metadata" ? parsed.id.digest.hex : parsed.digest.hex;
    const info = this.announced.has(hex) ? this.store.info(hex) : undefined;
    if (!info) {
      return undefined;
    }
    try {
      if (parsed.kind === "segment") {
        // Interests the wire tap did not take (another face, a UDP uplink): the same source, via NDNts.
        const reply = await this.segments.reply({ hex }, parsed.segment);
        const nameValue = (interest.name.at(-1).type === 0x01 ? interest.name.getPrefix(-1) : interest.name).value; // without an implicit digest
        this.ndntsSegments += reply ? 1 : 0;
        return reply ? decodeData(encodeSegmentData({ ...reply, nameValue })) : undefined;
      }
      const packets = await this.packetsOf(hex);
      if (!packets) {
        return undefined;
      }
      if (parsed.kind === "metadata") {
        return info.discoveryName.equals(interest.name) ? decodeData(packets.metadata) : undefined;
      }
      const node = packets.nodes[parsed.node];
      return node && decodeData(node);
    } catch (err: unknown) {
      this.log.warn({ digest: `sha256:${hex}`, err: String(err) }, "store: cannot answer an Interest");
      return undefined;
    }
  }

  private packetsOf(hex: string): Promise<DecodedPackets | undefined> {
    let p = this.packets.get(hex);
    if (!p) {
      p = this.store.readPackets(hex);
      keepBounded(this.packets, PACKET_FILES);
      this.packets.set(hex, p);
    }
    return p;
  }
}

/** Drops the oldest entries of `m` until there is room for one more. */
function keepBounded<V>(m: Map<string, V>, max: number): void {
  while (m.size >= max) {
    m.delete(m.keys().next().value!);
  }
}

function decodeData(wire: Uint8Array): Data {
  return new Decoder(wire).decode(Data);
}
