/**
 * The server's reply decisions for the four name kinds, in-process (no registry, no forwarder):
 * both transports (NDNts produce() and the wire hot path) answer with byte-identical packets,
 * canonical segments are exactly what NDNts' own Data encoder makes from the same fields, and
 * manifest nodes list their implicit digests.
 */
import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { consume } from "@ndn/endpoint";
import { Forwarder as NdnForwarder } from "@ndn/fw";
import { createVerifier } from "@ndn/keychain";
import { Segment, Version } from "@ndn/naming-convention2";
import { Data, ImplicitDigest, Interest, Name, nullSigner } from "@ndn/packet";
import { makeDiscoveryInterest } from "@ndn/rdr";
import { Decoder, Encoder } from "@ndn/tlv";
import { createLogger } from "@ndnreg/shared";
import {
  type BlobId, canonicalBlobName, dataElement, decodeBlobMetadata, encodeSegmentData, implicitDigest, LEGACY_SEGMENT_SIZE, legacyBlobName, makeBlobId,
  MANIFEST_FANOUT, manifestName, metadataName, parseSha256Digest, peekPacket, readTagRecord, SEGMENT_FRESHNESS_MS, SEGMENT_SIZE, segmentCount,
  storedTagName, TAG_RECORD_FRESHNESS_MS, type TagId, tagKey, tagName, type WireTransport,
} from "@ndnreg/shared/ndn";

import { serveThroughNdnts } from "@ndnreg/server/producer/adapters/ndnts-adapter";
import { WireAdapter } from "@ndnreg/server/producer/adapters/wire-adapter";
import { DigestIndex } from "@ndnreg/server/producer/digest-index";
import { ManifestBuilder } from "@ndnreg/server/producer/manifest-builder";
import { MetadataProducer } from "@ndnreg/server/producer/metadata-producer";
import { RangeCache } from "@ndnreg/server/producer/range-cache";
import { SegmentProducer } from "@ndnreg/server/producer/segment-producer";
import { TagRecords } from "@ndnreg/server/producer/tag-records";
import { BlobCatalog } from "@ndnreg/server/registry/blob-catalog";
import { LookupLimiter } from "@ndnreg/server/registry/lookup-limiter";
import type { RegistryClient } from "@ndnreg/server/registry/registry-client";
import type { TagStat } from "@ndnreg/server/registry/tag-reads";
import { openServerKey } from "@ndnreg/server/security/server-key";

const log = createLogger("test", "silent");
const prefix = new Name("/units/registry");

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A producer over in-memory blobs (by "repository@digest"); `corrupt`: digests whose bytes are served wrong. */
async function fixture(blobs: ReadonlyArray<[string, Uint8Array]>, corrupt = new Set<string>()) {
  const byKey = new Map(blobs.map(([repo, bytes]) => [`${repo}@${digestOf(bytes)}`, bytes]));
  const byDigest = new Map(blobs.map(([, bytes]) => [digestOf(bytes), bytes]));
  let heads = 0;
  const registry = {
    stat: (id: BlobId) => {
      ++heads;
      const b = byKey.get(`${id.repository}@${id.digest.text}`);
      return Promise.resolve(b ? { found: true, size: b.length } : { found: false, status: 404 });
    },
  } as unknown as RegistryClient;
  // Legacy segments (7777 bytes) cross the range cache's 64 KB blocks.
  const ranges = new RangeCache(async (id, begin, end, into, progress) => {
    await new Promise((r) => setImmediate(r));
    into.set(byDigest.get(id.digest.text)!.subarray(begin, end));
    if (corrupt.has(id.digest.text)) {
      into[0]! ^= 1;
    }
    progress(end - begin);
  }, { segmentSize: SEGMENT_SIZE, blockBytes: 6 * SEGMENT_SIZE, maxRead: 128 * SEGMENT_SIZE, cacheBytes: 16 << 20, maxLoads: 8 });
  const producer = new SegmentProducer({
    prefix, catalog: new BlobCatalog(registry, new LookupLimiter({ rate: 1000, repositoryRate: 1000 })), ranges, index: new DigestIndex(), log,
    maxPending: 256,
    legacy: { segmentSize: LEGACY_SEGMENT_SIZE, freshnessMs: SEGMENT_FRESHNESS_MS, signature: "null" },
  });
  const key = await openServerKey(undefined, prefix, log);
  const fw = NdnForwarder.create();
  const manifests = new ManifestBuilder(prefix, producer, key.dataSigner, log);
  const tagStats = new Map<string, TagStat>();
  const tagHeads = { count: 0 };
  const tags = new TagRecords(prefix, producer, (id: TagId) => {
    ++tagHeads.count;
    return Promise.resolve(tagStats.get(tagKey(id)) ?? { found: false, status: 404 });
  }, new LookupLimiter({ rate: 1000, repositoryRate: 1000 }), key.dataSigner);
  serveThroughNdnts(producer, manifests, new MetadataProducer(prefix, producer, key.dataSigner), tags, { fw });
  const wire = new WireAdapter(producer);
  const viaNdnts = (interest: Interest) => consume(interest, { fw, retx: 0 });
  /** The wire tap's answer (its exact bytes), undefined when it sent nothing, "declined" when NDNts must answer. */
  const viaWire = async (name: Name): Promise<Uint8Array | undefined | "declined"> => {
    const interest = Encoder.encode(new Interest(name, Interest.Lifetime(1000)));
    let sent: Uint8Array | undefined;
    const took = wire.tap(peekPacket(interest)!, { send: (p: Uint8Array) => { sent = new Uint8Array(p); } } as unknown as WireTransport);
    if (!took) {
      return "declined";
    }
    for (let i = 0; i < 20 && !sent; ++i) {
      await new Promise((r) => setTimeout(r, 5));
    }
    return sent;
  };
  return { producer, key, verifier: await createVerifier(key.certificate), viaNdnts, viaWire, heads: () => heads, tagStats, tagHeads };
}

const segmentName = (digest: BlobId["digest"], seg: number) => canonicalBlobName(prefix, digest).append(Segment, seg);

describe("producer: canonical names, metadata, manifests", () => {
  test("canonical names are answered only after metadata taught the digest; both transports send NDNts' own encoding", async () => {
    const bytes = randomBytes(2 * SEGMENT_SIZE + 123);
    const id = makeBlobId("org/app", digestOf(bytes))!;
    const f = await fixture([["org/app", bytes]]);

    const before = await f.viaNdnts(new Interest(segmentName(id.digest, 0), Interest.Lifetime(500)));
    assert.equal(before.contentType, 3, "a digest never seen in a repository is not published");
    assert.equal(await f.viaWire(segmentName(id.digest, 0)) instanceof Uint8Array, true);
    assert.equal(f.heads(), 0, "an unknown digest costs the registry nothing");

    const interest = makeDiscoveryInterest(metadataName(prefix, id));
    const md = await f.viaNdnts(interest);
    await f.verifier.verify(md);
    assert.ok(metadataName(prefix, id).isPrefixOf(md.name));
    assert.equal(md.name.length, metadataName(prefix, id).length + 2);
    assert.ok(Version.match(md.name.get(-2)!) && md.name.get(-1)!.equals(Segment.create(0)));
    const m = decodeBlobMetadata(md.content);
    assert.ok(m.name.equals(canonicalBlobName(prefix, id.digest)));
    assert.deepEqual([m.blobSize, m.segmentSize, m.finalSegment, m.manifestFanout], [bytes.length, SEGMENT_SIZE, 2, MANIFEST_FANOUT]);

    for (let seg = 0; seg < 3; ++seg) {
      const name = segmentName(id.digest, seg);
      const wire = await f.viaWire(name);
      assert.ok(wire instanceof Uint8Array, `segment ${seg} over the wire`);
      const data = await f.viaNdnts(new Interest(name, Interest.MustBeFresh, Interest.Lifetime(500)));
      assert.ok(Buffer.from(Encoder.encode(data)).equals(wire), `segment ${seg}: transports differ`);
      // What NDNts' own encoder makes from the protocol's fields, byte for byte.
      const reference = new Data(name, Data.FreshnessPeriod(SEGMENT_FRESHNESS_MS), bytes.subarray(seg * SEGMENT_SIZE, (seg + 1) * SEGMENT_SIZE));
      reference.finalBlockId = Segment.create(2);
      await nullSigner.sign(reference);
      assert.ok(Buffer.from(Encoder.encode(reference)).equals(wire), `segment ${seg}: not NDNts' encoding`);
      assert.ok(Buffer.from(await reference.computeImplicitDigest()).equals(implicitDigest(wire)), `segment ${seg}: implicit digest`);
    }
    assert.equal(await f.viaWire(segmentName(id.digest, 3)), undefined, "past the end: no answer");
    await assert.rejects(f.viaNdnts(new Interest(segmentName(id.digest, 3), Interest.Lifetime(300))), "past the end: no answer through NDNts");
    assert.equal(f.producer.counters.canonical, 6);
  });

  test("tag records: signed, versioned, fresh for a second, one registry lookup per tag per second; a tag not found is a Nack; malformed names get nothing", async () => {
    const f = await fixture([]);
    const id = { repository: "org/app", tag: "v1.2" };
    const digest = parseSha256Digest(`sha256:${"ab".repeat(32)}`)!;
    f.tagStats.set(tagKey(id), { found: true, digest, size: 1234, mediaType: "application/vnd.oci.image.index.v1+json" });
    const ask = (tagId = id) => f.viaNdnts(new Interest(tagName(prefix, tagId), Interest.CanBePrefix, Interest.MustBeFresh, Interest.Lifetime(500)));

    const data = await ask();
    await f.verifier.verify(data);
    assert.equal(data.freshnessPeriod, TAG_RECORD_FRESHNESS_MS);
    assert.equal(data.name.length, tagName(prefix, id).length + 1);
    assert.ok(Version.match(data.name.get(-1)!));
    const record = readTagRecord(prefix, id, data);
    if (typeof record === "string") {
      assert.fail(record);
    }
    assert.deepEqual([record.digest.text, record.size, record.mediaType], [digest.text, 1234, "application/vnd.oci.image.index.v1+json"]);
    assert.ok(Math.abs(record.madeAt - Date.now()) < 5000);
    assert.equal(typeof readTagRecord(prefix, { repository: "org/app", tag: "v2" }, data), "string", "a record answers for its own tag only");
    await Promise.all([ask(), ask(), ask()]);
    assert.equal(f.tagHeads.count, 1, "one registry lookup while the record is fresh");
    await new Promise((r) => setTimeout(r, TAG_RECORD_FRESHNESS_MS + 100));
    const next = readTagRecord(prefix, id, await ask());
    assert.ok(typeof next !== "string" && next.madeAt > record.madeAt, "a new version after a second");
    assert.equal(f.tagHeads.count, 2);

    const missing = await ask({ repository: "org/app", tag: "nope" });
    assert.equal(missing.contentType, 3);
    assert.match(new TextDecoder().decode(missing.content), /tag not found \(registry 404\)/);
    await assert.rejects(f.viaNdnts(new Interest(tagName(prefix, id), Interest.MustBeFresh, Interest.Lifetime(300))), "without CanBePrefix: no answer");
    const badTag = tagName(prefix, { repository: "org/app", tag: ".hidden" });
    await assert.rejects(f.viaNdnts(new Interest(badTag, Interest.CanBePrefix, Interest.Lifetime(300))), "a tag outside the grammar: no answer");
    await assert.rejects(f.viaNdnts(new Interest(storedTagName(prefix, id), Interest.CanBePrefix, Interest.Lifetime(300))), "stores' copies are not the server's to answer");
    assert.equal(f.tagHeads.count, 3);
  });

  test("manifest nodes list every segment's implicit digest, are signed, and come through NDNts only", async () => {
    const count = 2 * MANIFEST_FANOUT + 17;
    const bytes = randomBytes((count - 1) * SEGMENT_SIZE + 5);
    const id = makeBlobId("org/app", digestOf(bytes))!;
    const f = await fixture([["org/app", bytes]]);
    await f.viaNdnts(makeDiscoveryInterest(metadataName(prefix, id)));
    assert.equal(await f.viaWire(manifestName(prefix, id.digest).append(Segment, 0)), "declined");
    for (let node = 0; node < 3; ++node) {
      const data = await f.viaNdnts(new Interest(manifestName(prefix, id.digest).append(Segment, node), Interest.MustBeFresh, Interest.Lifetime(2000)));
      await f.verifier.verify(data);
      assert.ok(data.finalBlockId?.equals(Segment.create(2)));
      const n = Math.min(MANIFEST_FANOUT, count - node * MANIFEST_FANOUT);
      assert.equal(data.content.length, n * 32);
      for (const seg of [0, n - 1].map((i) => node * MANIFEST_FANOUT + i)) {
        const wire = await f.viaWire(segmentName(id.digest, seg));
        assert.ok(wire instanceof Uint8Array);
        const at = (seg - node * MANIFEST_FANOUT) * 32;
        assert.ok(implicitDigest(wire).equals(data.content.subarray(at, at + 32)), `segment ${seg}`);
      }
    }
    await assert.rejects(f.viaNdnts(new Interest(manifestName(prefix, id.digest).append(Segment, 3), Interest.Lifetime(300))), "past the last node: no answer");
    assert.equal(segmentCount(bytes.length), count);
  });

  test("the last node is signed only if the registry's bytes hash to the digest; then the digest is no longer published", async () => {
    const bytes = randomBytes(3 * SEGMENT_SIZE);
    const id = makeBlobId("org/bad", digestOf(bytes))!;
    const f = await fixture([["org/bad", bytes]], new Set([id.digest.text]));
    await f.viaNdnts(makeDiscoveryInterest(metadataName(prefix, id)));
    const node = await f.viaNdnts(new Interest(manifestName(prefix, id.digest).append(Segment, 0), Interest.MustBeFresh, Interest.Lifetime(2000)));
    assert.equal(node.contentType, 3);
    assert.match(new TextDecoder().decode(node.content), /does not match its digest/);
    const seg = await f.viaNdnts(new Interest(segmentName(id.digest, 0), Interest.MustBeFresh, Interest.Lifetime(500)));
    assert.equal(seg.contentType, 3);
  });

  test("an Interest with an implicit digest gets exactly that packet, or nothing", async () => {
    const bytes = randomBytes(SEGMENT_SIZE + 1);
    const id = makeBlobId("org/app", digestOf(bytes))!;
    const f = await fixture([["org/app", bytes]]);
    await f.viaNdnts(makeDiscoveryInterest(metadataName(prefix, id)));
    const wire = await f.viaWire(segmentName(id.digest, 1));
    assert.ok(wire instanceof Uint8Array);
    assert.equal(await f.viaWire(segmentName(id.digest, 1).append(ImplicitDigest.create(implicitDigest(wire)))), "declined");
    const exact = await f.viaNdnts(new Interest(segmentName(id.digest, 1).append(ImplicitDigest.create(implicitDigest(wire))), Interest.Lifetime(500)));
    assert.ok(Buffer.from(Encoder.encode(exact)).equals(wire));
    await assert.rejects(f.viaNdnts(new Interest(segmentName(id.digest, 1).append(ImplicitDigest.create(randomBytes(32))), Interest.Lifetime(300))));
    assert.equal(f.producer.counters.digestMismatch, 1);
  });
});

describe("producer: legacy names", () => {
  test("7,777-byte segments (across range-cache chunks), FinalBlockId on each, the same bytes on both transports", async () => {
    const bytes = randomBytes(140 * LEGACY_SEGMENT_SIZE + 10); // segment 134 crosses the first 1 MiB chunk
    const id = makeBlobId("library/app", digestOf(bytes))!;
    const f = await fixture([["library/app", bytes]]);
    for (const seg of [0, 134, 140]) {
      const name = legacyBlobName(prefix, id).append(Segment, seg);
      const wire = await f.viaWire(name);
      assert.ok(wire instanceof Uint8Array);
      const data = new Decoder(wire).decode(Data);
      assert.ok(Buffer.from(data.content).equals(bytes.subarray(seg * LEGACY_SEGMENT_SIZE, (seg + 1) * LEGACY_SEGMENT_SIZE)), `segment ${seg}`);
      assert.ok(data.finalBlockId?.equals(Segment.create(140)));
      assert.equal(data.freshnessPeriod, 86_400_000);
      const viaNdnts = await f.viaNdnts(new Interest(name, Interest.Lifetime(500)));
      assert.ok(Buffer.from(Encoder.encode(viaNdnts)).equals(wire));
    }
    assert.equal(await f.viaWire(legacyBlobName(prefix, id).append(Segment, 141)), undefined, "past the end: never answered");
    assert.equal(f.producer.counters.legacy, 6);
    // A legacy Interest's HEAD teaches the digest: canonical names work from then on.
    assert.ok((await f.viaWire(segmentName(id.digest, 0))) instanceof Uint8Array);
  });

  test("a missing blob: Nack Data, 1 s, with NO content (the original client appends content)", async () => {
    const f = await fixture([]);
    const id = makeBlobId("library/none", `sha256:${"cd".repeat(32)}`)!;
    const wire = await f.viaWire(legacyBlobName(prefix, id).append(Segment, 0));
    assert.ok(wire instanceof Uint8Array);
    const data = new Decoder(wire).decode(Data);
    assert.equal(data.contentType, 3);
    assert.equal(data.freshnessPeriod, 1000);
    assert.equal(data.content.length, 0);
    const md = await f.viaNdnts(makeDiscoveryInterest(metadataName(prefix, id)));
    assert.equal(md.contentType, 3, "metadata of a missing blob: a Nack");
    assert.ok(md.name.equals(metadataName(prefix, id)));
  });
});

test("a packet wrapped for a PIT token carries the same Data element", () => {
  const fields = { nameValue: new Name("/p").append(Segment, 3).value, contentType: 0, freshnessMs: SEGMENT_FRESHNESS_MS, finalSegment: 9, content: randomBytes(100), signature: "null" as const };
  const plain = new Uint8Array(encodeSegmentData(fields));
  const wrapped = encodeSegmentData({ ...fields, pitToken: randomBytes(6) });
  assert.ok(Buffer.from(dataElement(wrapped)).equals(plain));
});
