import { type FileHandle, open } from "node:fs/promises";

import { type Producer, produce } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Data, type Interest, type Name } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";
import type { Logger } from "@ndnreg/shared";
import {
  canonicalBlobName, canonicalSegmentFields, encodeSegmentData, parseRegistryName, parseSha256Digest, segmentByteRange, segmentCount,
} from "@ndnreg/shared/ndn";

import type { BlobStore } from "./blob-store.js";
import type { DecodedPackets } from "./packet-file.js";

/** Interests answered at once: each holds at most one read of 8000 bytes. */
const CONCURRENCY = 64;
/** Open blob files kept for the next segments of the same blobs. */
const OPEN_FILES = 16;
/** Decoded packet files kept (a node is 8 KB per 2 MB of blob). */
const PACKET_FILES = 16;

/**
 * Serves the edge store over NDN (docs/protocol.md): canonical segments regenerated from the
 * stored bytes by the shared deterministic encoder (byte-identical to the server's, so their
 * implicit digests match its signed manifest), manifest nodes and metadata as the server signed
 * them. Each stored blob is announced as `/<prefix>/<digest>` and its metadata's discovery name
 * (only the repository it was fetched through: the server's publication covered that one), and
 * withdrawn when evicted. Interests for anything else get no answer. The load strangers can put
 * on it is bounded by CONCURRENCY handlers at once (NDNts queues the rest on the face).
 */
export class StoreProducer {
  private readonly producer: Producer;
  private readonly announced = new Map<string, Name[]>();
  private readonly files = new Map<string, OpenFile>();
  private readonly packets = new Map<string, Promise<DecodedPackets | undefined>>();

  constructor(fw: Forwarder, private readonly prefix: Name, private readonly store: BlobStore, private readonly log: Logger) {
    this.producer = produce(undefined, (interest) => this.answer(interest), { fw, concurrency: CONCURRENCY, describe: "edge-store" });
    for (const hex of store.digests()) {
      this.announce(hex);
    }
    store.listen((hex, present) => (present ? this.announce(hex) : this.withdraw(hex)));
  }

  close(): void {
    this.producer.close();
    for (const f of this.files.values()) {
      f.release();
    }
    this.files.clear();
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
    for (const n of this.announced.get(hex) ?? []) {
      this.producer.face.removeRoute(n, true);
    }
    this.announced.delete(hex);
    this.files.get(hex)?.release();
    this.files.delete(hex);
    this.packets.delete(hex);
  }

  private async answer(interest: Interest): Promise<Data | undefined> {
    const parsed = parseRegistryName(this.prefix, interest.name);
    if (!parsed.ok || parsed.kind === "legacy") {
      return undefined;
    }
    const hex = parsed.kind === "metadata" ? parsed.id.digest.hex : parsed.digest.hex;
    const info = this.announced.has(hex) ? this.store.info(hex) : undefined;
    if (!info) {
      return undefined;
    }
    try {
      if (parsed.kind === "segment") {
        return await this.segment(hex, parsed.segment, info.size, interest.name);
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

  private async segment(hex: string, segment: number, size: number, name: Name): Promise<Data | undefined> {
    const count = segmentCount(size);
    if (segment >= count) {
      return undefined; // protocol: a segment past the end is never answered
    }
    const [begin, end] = segmentByteRange(segment, size);
    const content = Buffer.allocUnsafe(end - begin);
    const { bytesRead } = await this.file(hex).read(content, begin);
    if (bytesRead !== content.length) {
      throw new Error(`read ${bytesRead} of ${content.length} bytes at ${begin}`);
    }
    this.store.touch(hex);
    const nameValue = (name.at(-1).type === 0x01 ? name.getPrefix(-1) : name).value; // without an implicit digest
    return decodeData(encodeSegmentData({ ...canonicalSegmentFields(count - 1, content), nameValue }));
  }

  private file(hex: string): OpenFile {
    let f = this.files.get(hex);
    if (!f || f.failed) {
      f = new OpenFile(this.store.blobPath(hex));
      keepBounded(this.files, OPEN_FILES, (old) => old.release());
    } else {
      this.files.delete(hex);
    }
    this.files.set(hex, f);
    return f;
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

/** A blob file kept open for segment reads; closed once released and no read is in flight. */
class OpenFile {
  private readonly fh: Promise<FileHandle>;
  private reads = 0;
  private released = false;
  failed = false;

  constructor(file: string) {
    this.fh = open(file, "r");
    this.fh.catch(() => { this.failed = true; });
  }

  async read(into: Buffer, position: number): Promise<{ bytesRead: number }> {
    ++this.reads;
    try {
      return await (await this.fh).read(into, 0, into.length, position);
    } finally {
      --this.reads;
      this.closeIfDone();
    }
  }

  release(): void {
    this.released = true;
    this.closeIfDone();
  }

  private closeIfDone(): void {
    if (this.released && this.reads === 0) {
      void this.fh.then((fh) => fh.close()).catch(() => undefined);
    }
  }
}

/** Drops the oldest entries of `m` until there is room for one more. */
function keepBounded<V>(m: Map<string, V>, max: number, drop?: (v: V) => void): void {
  while (m.size >= max) {
    const [k, v] = m.entries().next().value!;
    m.delete(k);
    drop?.(v);
  }
}

function decodeData(wire: Uint8Array): Data {
  return new Decoder(wire).decode(Data);
}
