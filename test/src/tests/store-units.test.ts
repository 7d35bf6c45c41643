import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";

import { Keyword, Segment } from "@ndn/naming-convention2";
import { Data, Name } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { createLogger } from "@ndnreg/shared";
import {
  type BlobId, BlobMetadata, canonicalBlobName, canonicalSegmentFields, type DataFields, MANIFEST_FANOUT, makeBlobId,
  makeTagRecordData, manifestName, manifestNodeCount, metadataName, parseSha256Digest, SEGMENT_SIZE, segmentCount, type TagId,
} from "@ndnreg/shared/ndn";

import { BlobStore, type PacketSource } from "@ndnreg/client/store/blob-store";
import { StoreSegments } from "@ndnreg/client/store/store-segments";
import { TagStore } from "@ndnreg/client/store/tag-store";

import { sha256Text } from "./helpers.js";

const prefix = new Name("/store-test");
const log = createLogger("store-test", "silent");
const root = mkdtempSync(path.join(tmpdir(), "ndnreg-store-units-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** Packets as the server would make them (unsigned here: the store does not verify signatures). */
const packets: PacketSource = (id: BlobId, size: number) => {
  const count = segmentCount(size);
  const m = BlobMetadata.create(canonicalBlobName(prefix, id.digest), {
    blobSize: size, segmentSize: SEGMENT_SIZE, finalSegment: count - 1, manifestFanout: MANIFEST_FANOUT,
  });
  const metadata = Encoder.encode(new Data(metadataName(prefix, id).append(Keyword.create("v"), Segment.create(0)), Encoder.encode(m)));
  const nodes = Array.from({ length: manifestNodeCount(count) }, (_, n) => {
    const listed = Math.min(MANIFEST_FANOUT, count - n * MANIFEST_FANOUT);
    return Encoder.encode(new Data(manifestName(prefix, id.digest).append(Segment, n), new Uint8Array(listed * 32)));
  });
  return Promise.resolve({ metadata, nodes });
};

function blob(size: number): { id: BlobId; bytes: Buffer } {
  const bytes = randomBytes(size);
  return { id: makeBlobId("store/test", sha256Text(bytes))!, bytes };
}

async function openStore(budget: number, dir = path.join(root, `s${++dirs}`)): Promise<BlobStore> {
  return BlobStore.open(dir, budget, log, packets);
}

/** Delivers `bytes` through a store writer in 8000-byte pieces, as NDN batches do, and commits. */
async function put(store: BlobStore, b: { id: BlobId; bytes: Buffer }): Promise<boolean> {
  const w = store.writer(b.id, b.bytes.length);
  if (!w) {
    return false;
  }
  for (let i = 0; i < b.bytes.length; i += 5 * SEGMENT_SIZE) {
    const pieces: Uint8Array[] = [];
    for (let k = i; k < Math.min(b.bytes.length, i + 5 * SEGMENT_SIZE); k += SEGMENT_SIZE) {
      pieces.push(b.bytes.subarray(k, Math.min(b.bytes.length, k + SEGMENT_SIZE)));
    }
    w.take(0, pieces);
  }
  return w.commit(AbortSignal.timeout(5000));
}

describe("edge store", () => {
  test("a blob delivered whole is stored with its packets, byte for byte; tmp/ is left empty", async () => {
    const store = await openStore(10_000_000);
    const b = blob(300_001);
    assert.ok(await put(store, b));
    assert.ok(store.has(b.id.digest.hex));
    assert.ok(readFileSync(store.blobPath(b.id.digest.hex)).equals(b.bytes));
    const p = await store.readPackets(b.id.digest.hex);
    assert.equal(p?.nodes.length, manifestNodeCount(segmentCount(b.bytes.length)));
    assert.deepEqual(readdirSync(store.tmpDir), []);
    assert.equal(store.usedBytes, b.bytes.length + readFileSync(path.join(store.packetDir, b.id.digest.hex)).length);
    assert.equal(store.writer(b.id, b.bytes.length), undefined, "a stored blob is not written again");
  });

  test("a blob of several 1 MB write chunks, its 8000-byte pieces straddling them, is stored byte for byte", async () => {
    const store = await openStore(10_000_000);
    const b = blob(2.5 * 1024 * 1024 + 1);
    assert.ok(await put(store, b));
    assert.ok(readFileSync(store.blobPath(b.id.digest.hex)).equals(b.bytes));
    assert.deepEqual(readdirSync(store.tmpDir), []);
  });

  test("a zero-byte blob is stored too", async () => {
    const store = await openStore(1_000_000);
    const b = blob(0);
    assert.ok(await put(store, b));
    assert.equal(readFileSync(store.blobPath(b.id.digest.hex)).length, 0);
  });

  test("writes that are short, not from byte 0, aborted or larger than the budget leave nothing behind", async () => {
    const store = await openStore(1_000_000);
    const short = blob(50_000);
    const w1 = store.writer(short.id, short.bytes.length)!;
    w1.take(0, [short.bytes.subarray(0, 40_000)]);
    assert.equal(await w1.commit(AbortSignal.timeout(5000)), false);
    const offset = blob(50_000);
    const w2 = store.writer(offset.id, offset.bytes.length)!;
    w2.take(16_000, [offset.bytes.subarray(16_000)]);
    assert.equal(await w2.commit(AbortSignal.timeout(5000)), false);
    const aborted = blob(50_000);
    const w3 = store.writer(aborted.id, aborted.bytes.length)!;
    w3.take(0, [aborted.bytes]);
    w3.abort();
    assert.equal(await w3.commit(AbortSignal.timeout(5000)), false);
    assert.equal(store.writer(blob(1_000_001).id, 1_000_001), undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(store.blobCount, 0);
    assert.deepEqual(readdirSync(store.tmpDir), []);
    assert.deepEqual(readdirSync(store.blobDir), []);
  });

  test("beyond the budget the least recently used blobs are evicted, and listeners hear of every change", async () => {
    const size = 100_000;
    const store = await openStore(3 * size + 3 * 2000); // three blobs and their packet files
    const changes: string[] = [];
    store.listen((hex, present) => changes.push(`${present ? "+" : "-"}${hex.slice(0, 6)}`));
    const [a, b, c, d, e] = [blob(size), blob(size), blob(size), blob(size), blob(size)];
    for (const x of [a, b, c]) {
      assert.ok(await put(store, x));
    }
    store.touch(a.id.digest.hex); // b is now the least recently used
    assert.ok(await put(store, d));
    assert.deepEqual(store.digests(), [c, a, d].map((x) => x.id.digest.hex));
    assert.ok(await put(store, e));
    assert.deepEqual(store.digests(), [a, d, e].map((x) => x.id.digest.hex));
    assert.ok(store.usedBytes <= store.budget);
    const h = (x: { id: BlobId }) => x.id.digest.hex.slice(0, 6);
    assert.deepEqual(changes, [`+${h(a)}`, `+${h(b)}`, `+${h(c)}`, `-${h(b)}`, `+${h(d)}`, `-${h(c)}`, `+${h(e)}`]);
    await new Promise((r) => setTimeout(r, 50)); // unlinks
    assert.ok(!existsSync(store.blobPath(b.id.digest.hex)) && !existsSync(store.blobPath(c.id.digest.hex)));
    assert.ok(!existsSync(path.join(store.packetDir, b.id.digest.hex)));
  });

  test("at start the store repairs itself: tmp/ emptied, blobs without good packets and packets without a blob removed, use order kept", async () => {
    const dir = path.join(root, "repair");
    const first = await openStore(10_000_000, dir);
    const [a, b, c, d] = [blob(20_000), blob(30_000), blob(40_000), blob(50_000)];
    for (const x of [a, b, c, d]) {
      assert.ok(await put(first, x));
    }
    // Use order on disk: c, a, b, d (oldest first); the index must be rebuilt in that order.
    const t = Date.now() / 1000;
    for (const [x, age] of [[c, 400], [a, 300], [b, 200], [d, 100]] as const) {
      utimesSync(first.blobPath(x.id.digest.hex), t - age, t - age);
    }
    writeFileSync(path.join(first.tmpDir, "partial"), randomBytes(1000)); // a write cut short by a crash
    const e = blob(10_000);
    writeFileSync(path.join(first.packetDir, e.id.digest.hex), randomBytes(100)); // packets whose blob never got renamed
    rmSync(path.join(first.packetDir, b.id.digest.hex)); // a blob without packets
    const pc = path.join(first.packetDir, c.id.digest.hex);
    const corrupt = readFileSync(pc);
    corrupt[40]! ^= 1;
    writeFileSync(pc, corrupt); // packets that fail their checksum
    writeFileSync(path.join(first.blobDir, "not-a-digest"), "x");
    mkdirSync(path.join(first.blobDir, "f".repeat(64)));

    const second = await openStore(10_000_000, dir);
    assert.deepEqual(second.digests(), [a, d].map((x) => x.id.digest.hex));
    assert.deepEqual(readdirSync(second.tmpDir), []);
    assert.deepEqual(readdirSync(second.blobDir).sort(), [a, d].map((x) => x.id.digest.hex).sort());
    assert.deepEqual(readdirSync(second.packetDir).sort(), [a, d].map((x) => x.id.digest.hex).sort());
    assert.equal(second.usedBytes, [a, d].reduce((n, x) => n + x.bytes.length + readFileSync(path.join(second.packetDir, x.id.digest.hex)).length, 0));

    // A smaller budget at start evicts the least recently used.
    const third = await openStore(60_000, dir);
    assert.deepEqual(third.digests(), [d.id.digest.hex]);
  });

  test("a blob whose stored size does not match its metadata is dropped at start", async () => {
    const dir = path.join(root, "size");
    const s = await openStore(10_000_000, dir);
    const b = blob(20_000);
    assert.ok(await put(s, b));
    writeFileSync(s.blobPath(b.id.digest.hex), b.bytes.subarray(0, 19_999));
    const again = await openStore(10_000_000, dir);
    assert.equal(again.blobCount, 0);
  });

  test("segments served from the store: the blob's bytes by the deterministic encoder, 256 KB read-ahead for sequential Interests, single reads for others, disk load bounded", async () => {
    const store = await openStore(10_000_000);
    const b = blob(4_000_000); // 500 segments: 16 read-ahead chunks
    assert.ok(await put(store, b));
    const hex = b.id.digest.hex;
    let held = true;
    const src = new StoreSegments(prefix, store, () => held, log);
    const name = canonicalBlobName(prefix, b.id.digest);
    assert.deepEqual(src.resolve(name), { hex });
    assert.equal(src.resolve(manifestName(prefix, b.id.digest)), "decline");
    assert.equal(src.resolve(new Name("/store-test/not-a-digest")), "malformed");
    const expect = (seg: number, reply: DataFields | null | undefined) => {
      assert.ok(reply, `segment ${seg}: a reply`);
      assert.deepEqual(reply, canonicalSegmentFields(499, b.bytes.subarray(seg * SEGMENT_SIZE, (seg + 1) * SEGMENT_SIZE)));
    };
    assert.equal(src.replyNow({ hex }, 0), undefined, "nothing in memory before the first read");
    // A pipeline's burst: segments 0..63 asked at once, in order: two chunk reads serve them all.
    const burst = await Promise.all(Array.from({ length: 64 }, (_, seg) => src.reply({ hex }, seg)));
    burst.forEach((r: DataFields | null, seg: number) => expect(seg, r));
    assert.equal(src.counters.chunkReads, 2);
    assert.equal(src.counters.segmentReads, 0);
    expect(40, src.replyNow({ hex }, 40)); // in memory: answered at once
    // A window ahead (out of order) still reads chunks.
    expect(130, await src.reply({ hex }, 130));
    assert.equal(src.counters.chunkReads, 3);
    // A random Interest far ahead reads its segment alone; the next segment starts a run.
    expect(450, await src.reply({ hex }, 450));
    assert.equal(src.counters.segmentReads, 1);
    expect(451, await src.reply({ hex }, 451));
    assert.equal(src.counters.chunkReads, 4);
    expect(452, src.replyNow({ hex }, 452));
    assert.equal(await src.reply({ hex }, 500), null, "past the end: no answer");
    assert.equal(src.counters.pastEnd, 1);
    // A burst over the bound: what is refused is counted, nothing wrong is served.
    const wide = await Promise.all(Array.from({ length: 1500 }, (_, i) => src.reply({ hex }, (i * 37) % 500)));
    assert.ok(src.counters.droppedOverload > 0, "the bounds refused some");
    wide.forEach((r: DataFields | null, i: number) => r && expect((i * 37) % 500, r));
    // Withdrawn (evicted): no answer, even for bytes in memory.
    held = false;
    src.forget(hex);
    assert.equal(src.replyNow({ hex }, 40), undefined);
    assert.equal(await src.reply({ hex }, 41), null);
    assert.equal(src.counters.notHeld, 1);
    src.close();
  });
});

describe("tag records in the store", () => {
  const record = (id: TagId, madeAt: number, hex = "ab") => makeTagRecordData(prefix, id, {
    digest: parseSha256Digest(`sha256:${hex.repeat(32)}`)!, size: 1000, mediaType: "application/vnd.oci.image.manifest.v1+json", madeAt,
  });

  test("the newest record per tag is kept, across a restart; files that are not records of the prefix are removed at start", async () => {
    const dir = path.join(root, `t${++dirs}`);
    mkdirSync(path.join(dir, "tmp"), { recursive: true });
    const v1 = { repository: "org/app", tag: "v1" };
    let tags = await TagStore.open(dir, prefix, log);
    const events: string[] = [];
    tags.listen((id, present) => events.push(`${id.tag}:${present}`));
    assert.equal(await tags.put(v1, record(v1, 2000)), true);
    assert.equal(await tags.put(v1, record(v1, 1000, "cd")), false, "an older record never replaces a newer one");
    assert.equal(await tags.put({ repository: "org/app", tag: "v2" }, record(v1, 3000)), false, "a record is kept only under its own tag");
    assert.equal(await tags.put(v1, record(v1, 3000, "cd")), true);
    assert.deepEqual(events, ["v1:true", "v1:true"]);
    assert.equal(tags.madeAt(v1), 3000);

    writeFileSync(path.join(dir, "tags", "junk"), "not a packet");
    const other = new Name("/elsewhere");
    writeFileSync(path.join(dir, "tags", "other-prefix"), Encoder.encode(makeTagRecordData(other, v1, {
      digest: parseSha256Digest(`sha256:${"ef".repeat(32)}`)!, size: 1000, mediaType: "application/vnd.oci.image.manifest.v1+json", madeAt: 5000,
    })));
    writeFileSync(path.join(dir, "tags", "older-copy"), Encoder.encode(record(v1, 2500)));
    tags = await TagStore.open(dir, prefix, log);
    assert.equal(tags.size, 1);
    assert.equal(tags.madeAt(v1), 3000);
    assert.ok(Buffer.from(Encoder.encode(tags.get(v1))).equals(Encoder.encode(record(v1, 3000, "cd"))));
    assert.equal(readdirSync(path.join(dir, "tags")).length, 1, "junk, another prefix's record and the older copy are gone");
  });
});
