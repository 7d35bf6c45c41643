import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { Writable } from "node:stream";
import { describe, test } from "node:test";

import { consume } from "@ndn/endpoint";
import { Forwarder as NdnForwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Component, Data, Interest, Name, nullSigner, TT } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";
import { createLogger } from "@ndnreg/shared";
import {
  type BlobId, blobName, isValidRepository, makeBlobId, parseRouterAddress, parseSegmentName, parseSha256Digest, peekPacket, SEGMENT_SIZE,
  segmentCount, SlabArena, type WireTransport,
} from "@ndnreg/shared/ndn";

import { parseRange } from "@ndnreg/client/http/range";
import { DigestMismatchError, VerifiedWriter } from "@ndnreg/client/blob/verified-writer";
import { NdnGate } from "@ndnreg/client/ndn/gate";
import { SharedFetches } from "@ndnreg/client/ndn/shared-fetches";
import { fetchSegments, newPipelineStats, PipelineError, type SegmentChannel, type SegmentSink } from "@ndnreg/client/ndn/pipeline/segment-pipeline";
import { serveThroughNdnts } from "@ndnreg/server/producer/adapters/ndnts-adapter";
import { WireAdapter } from "@ndnreg/server/producer/adapters/wire-adapter";
import { RangeCache } from "@ndnreg/server/producer/range-cache";
import { SegmentProducer } from "@ndnreg/server/producer/segment-producer";
import { BlobCatalog } from "@ndnreg/server/registry/blob-catalog";
import { LookupLimiter } from "@ndnreg/server/registry/lookup-limiter";
import type { RegistryClient } from "@ndnreg/server/registry/registry-client";

describe("names", () => {
  test("repository grammar", () => {
    for (const ok of ["alpine", "library/alpine", "a/b/c", "org.example/team_x/app-name", "a__b", "a--b"]) {
      assert.ok(isValidRepository(ok), ok);
    }
    for (const bad of ["", "Alpine", "a//b", "/a", "a/", "../a", "a/../b", "a/./b", "a%2fb", "a b", "-a", "a-", "a".repeat(256)]) {
      assert.ok(!isValidRepository(bad), bad);
    }
  });

  test("blob names round-trip; a single-word repository is one plain component as in the original", () => {
    const prefix = new Name("/ndn-registry");
    const hex = "0123456789abcdef".repeat(4);
    const name = blobName(prefix, makeBlobId("alpine", `sha256:${hex}`)!).append(Segment, 7);
    const expected = new Name("/ndn-registry/alpine").append(new Component(TT.GenericNameComponent, Buffer.from(hex, "hex")), Segment.create(7));
    assert.ok(name.equals(expected), name.toString());
    const parsed = parseSegmentName(prefix, name);
    assert.ok(parsed.ok);
    assert.equal(parsed.id.repository, "alpine");
    assert.equal(parsed.id.digest.hex, hex);
    assert.equal(parsed.segment, 7);
    const multi = parseSegmentName(prefix, blobName(prefix, makeBlobId("org/team/app", `sha256:${hex}`)!).append(Segment, 0));
    assert.ok(multi.ok && multi.id.repository === "org/team/app");
    assert.equal(parseSegmentName(new Name("/other"), name).ok, false);
  });

  test("digests: only sha256 with 64 lower-case hex digits", () => {
    assert.ok(parseSha256Digest(`sha256:${"a".repeat(64)}`));
    for (const bad of [`sha512:${"a".repeat(128)}`, `sha256:${"A".repeat(64)}`, `sha256:${"a".repeat(63)}`, "sha256:", "a".repeat(64)]) {
      assert.equal(parseSha256Digest(bad), undefined, bad);
    }
  });

  test("segment count", () => {
    assert.deepEqual([0, 1, 7999, 8000, 8001, 16000].map((n) => segmentCount(n)), [1, 1, 1, 1, 2, 2]);
  });
});

describe("router addresses", () => {
  test("schemes and the original's bare forms", () => {
    assert.deepEqual(parseRouterAddress("unix:///run/nfd/nfd.sock"), { scheme: "unix", path: "/run/nfd/nfd.sock" });
    assert.deepEqual(parseRouterAddress("/run/nfd.sock"), { scheme: "unix", path: "/run/nfd.sock" });
    assert.deepEqual(parseRouterAddress("tcp://router.example:6363"), { scheme: "tcp", host: "router.example", port: 6363 });
    assert.deepEqual(parseRouterAddress("udp://[::1]:7000"), { scheme: "udp", host: "::1", port: 7000 });
    assert.deepEqual(parseRouterAddress("10.0.0.1:6363"), { scheme: "udp", host: "10.0.0.1", port: 6363 });
    assert.deepEqual(parseRouterAddress("router.example"), { scheme: "udp", host: "router.example", port: 6363 });
    for (const bad of ["http://x:1", "unix://relative", "tcp://h:99999", "tcp://"]) {
      assert.throws(() => parseRouterAddress(bad), /router/, bad);
    }
  });
});

describe("Range header", () => {
  test("parse", () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: "none" });
    assert.deepEqual(parseRange("bytes=10-", 100), { kind: "single", range: { start: 10, end: 99 } });
    assert.deepEqual(parseRange("bytes=10-19", 100), { kind: "single", range: { start: 10, end: 19 } });
    assert.deepEqual(parseRange("bytes=90-200", 100), { kind: "single", range: { start: 90, end: 99 } });
    assert.deepEqual(parseRange("bytes=-10", 100), { kind: "single", range: { start: 90, end: 99 } });
    assert.deepEqual(parseRange("bytes=100-", 100), { kind: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=0-", 0), { kind: "unsatisfiable" });
    assert.deepEqual(parseRange("bytes=0-1,3-4", 100), { kind: "multi" });
    assert.deepEqual(parseRange("bytes=5-2", 100), { kind: "none" });
    assert.deepEqual(parseRange("pages=1-2", 100), { kind: "none" });
  });
});

describe("verified writer", () => {
  const sink = () => {
    const chunks: Buffer[] = [];
    // A copy: the writer reuses a batch buffer once the stream has called back, as sockets allow.
    return { chunks, out: new Writable({ write(c: Buffer, _e, cb) { chunks.push(Buffer.from(c)); setImmediate(cb); } }) };
  };
  const digestOf = (b: Uint8Array) => parseSha256Digest(`sha256:${createHash("sha256").update(b).digest("hex")}`)!;

  test("writes the window and releases the last piece only after the digest matches", async () => {
    const blob = randomBytes(20_000);
    const { chunks, out } = sink();
    const w = new VerifiedWriter(out, digestOf(blob), blob.length, { start: 5000, end: 12_345 }, new AbortController().signal);
    for (let i = 0; i < blob.length; i += 8000) {
      await w.push(blob.subarray(i, i + 8000));
    }
    assert.ok(Buffer.concat(chunks).length < 12_346 - 5000, "held back until verified");
    await w.finish();
    assert.deepEqual(Buffer.concat(chunks), blob.subarray(5000, 12_346));
  });

  test("a window of a multi-batch blob comes out whole from reused batch buffers, in segment-sized and odd pieces", async () => {
    for (const [start, end, piece] of [[0, 2_999_999, 8000], [123_457, 2_000_001, 8000], [262_143, 262_144, 7919]] as const) {
      const blob = randomBytes(3_000_000);
      const { chunks, out } = sink();
      const w = new VerifiedWriter(out, digestOf(blob), blob.length, { start, end }, new AbortController().signal);
      for (let i = 0; i < blob.length; i += piece * 5) {
        await w.pushAll([0, 1, 2, 3, 4].map((k) => blob.subarray(i + k * piece, Math.min(blob.length, i + (k + 1) * piece))).filter((p) => p.length > 0));
      }
      await w.finish();
      assert.equal(w.bytesWritten, end - start + 1);
      assert.ok(Buffer.concat(chunks).equals(blob.subarray(start, end + 1)), `window ${start}-${end}`);
    }
  });

  test("the caller may reuse its buffer once a push returns; a window ending on a batch boundary is still held back", async () => {
    const blob = randomBytes(3 * 262_144);
    const { chunks, out } = sink();
    const w = new VerifiedWriter(out, digestOf(blob), blob.length, { start: 0, end: blob.length - 1 }, new AbortController().signal);
    const scratch = Buffer.alloc(8000);
    for (let i = 0; i < blob.length; i += 8000) {
      const n = blob.copy(scratch, 0, i, Math.min(blob.length, i + 8000));
      await w.push(scratch.subarray(0, n));
      scratch.fill(0xee); // as a socket's read buffer would be refilled
    }
    await new Promise((r) => setImmediate(r));
    assert.ok(Buffer.concat(chunks).length < blob.length, "the last batch waits for the digest");
    await w.finish();
    assert.ok(Buffer.concat(chunks).equals(blob));
  });

  test("a wrong byte is never completed", async () => {
    const blob = randomBytes(20_000);
    const wrong = Buffer.from(blob);
    wrong.writeUInt8(wrong.readUInt8(19_999) ^ 1, 19_999);
    const { chunks, out } = sink();
    const w = new VerifiedWriter(out, digestOf(blob), blob.length, { start: 0, end: blob.length - 1 }, new AbortController().signal);
    for (let i = 0; i < wrong.length; i += 8000) {
      await w.push(wrong.subarray(i, i + 8000));
    }
    await assert.rejects(w.finish(), DigestMismatchError);
    assert.ok(Buffer.concat(chunks).length < blob.length);
  });

  test("more bytes than the blob's size are rejected", async () => {
    const { out } = sink();
    const w = new VerifiedWriter(out, digestOf(new Uint8Array(10)), 10, { start: 0, end: 9 }, new AbortController().signal);
    await assert.rejects(w.push(new Uint8Array(11)), DigestMismatchError);
  });
});

describe("shared fetches", () => {
  test("a request that joins late replays the bytes it missed, even when the fetch reuses its buffers", async () => {
    const blob = randomBytes(3_000_000);
    const id = makeBlobId("shared/unit", `sha256:${createHash("sha256").update(blob).digest("hex")}`)!;
    // One buffer for every batch, overwritten once the next batch is asked for.
    const scratch = Buffer.alloc(100_000);
    const fetcher = {
      async *payloads(): AsyncGenerator<Uint8Array[]> {
        for (let at = 0; at < blob.length; at += scratch.length) {
          const n = blob.copy(scratch, 0, at, at + scratch.length);
          yield [scratch.subarray(0, n / 2), scratch.subarray(n / 2, n)];
          scratch.fill(0xee);
        }
      },
    };
    const shared = new SharedFetches(fetcher);
    // Reads by next(), not for-await: leaving a for-await loop early would end the subscription.
    const read = async (it: AsyncGenerator<Uint8Array[]>, batches = Infinity) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < batches; ++i) {
        const r = await it.next();
        if (r.done) {
          break;
        }
        parts.push(...r.value.map((p) => Buffer.from(p)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return Buffer.concat(parts);
    };
    const first = shared.open(id, blob.length, new AbortController().signal);
    const head = await read(first.payloads, 3); // three batches in, then the second request comes
    const second = shared.open(id, blob.length, new AbortController().signal);
    assert.equal(second.joined, true);
    const [rest, whole] = await Promise.all([read(first.payloads), read(second.payloads)]);
    assert.ok(Buffer.concat([head, rest]).equals(blob), "first reader");
    assert.ok(whole.equals(blob), "late reader");
  });
});

/**
 * A scripted channel: answers each Interest after a few milliseconds, out of order, drops the
 * first Interest for some segments, answers some twice (and long after), and records the most
 * Interests ever outstanding.
 */
function unreliableChannel(drop: (seg: number, attempt: number) => boolean): SegmentChannel & { maxOutstanding: number; interests: number } {
  const ch = {
    maxOutstanding: 0,
    interests: 0,
    open(_blob: Name, sink: SegmentSink) {
      const outstanding = new Set<number>();
      const attempts = new Map<number, number>();
      let closed = false;
      const answer = (seg: number) => {
        outstanding.delete(seg);
        if (!closed) {
          sink.data({ segment: seg, contentType: 0, content: Uint8Array.of(seg & 0xff, seg >> 8) });
        }
      };
      return {
        express(seg: number) {
          ++ch.interests;
          const attempt = (attempts.get(seg) ?? 0) + 1;
          attempts.set(seg, attempt);
          outstanding.add(seg);
          ch.maxOutstanding = Math.max(ch.maxOutstanding, outstanding.size);
          if (drop(seg, attempt)) {
            return;
          }
          setTimeout(() => answer(seg), 1 + ((seg * 7) % 5)); // reordered
          if (seg % 13 === 0) {
            // Duplicates of earlier segments, some long delivered, whose slots may now be reused
            for (const back of [1, 64, 100, 128, 256]) {
              if (seg >= back && !drop(seg - back, 1)) {
                answer(seg - back);
              }
            }
          }
        },
        close() {
          closed = true;
        },
      };
    },
  };
  return ch;
}

describe("segment pipeline", () => {
  test("every segment comes out once and in order despite loss, reordering and duplicates; the window is never exceeded", async () => {
    const count = 1500;
    const channel = unreliableChannel((seg, attempt) => attempt === 1 && seg % 97 === 5);
    const stats = newPipelineStats();
    const seen: number[] = [];
    for await (const batch of fetchSegments(new Name("/p/blob"), count, { channel, signal: AbortSignal.timeout(20_000), maxWindow: 64, stats })) {
      for (const d of batch) {
        assert.equal(d.content[0]! | (d.content[1]! << 8), d.segment);
        seen.push(d.segment);
      }
    }
    assert.deepEqual(seen, Array.from({ length: count }, (_, i) => i));
    assert.equal(stats.retransmissions, Math.ceil((count - 5) / 97));
    assert.ok(channel.maxOutstanding <= 64, `at most 64 Interests outstanding, saw ${channel.maxOutstanding}`);
  });

  test("a segment that never answers fails the fetch after its retransmissions, and a Nack fails it at once", async () => {
    const silent = unreliableChannel((seg) => seg === 3);
    await assert.rejects(async () => {
      for await (const _ of fetchSegments(new Name("/p/blob"), 10, { channel: silent, signal: AbortSignal.timeout(60_000), maxRetx: 1 })) {
        // drain
      }
    }, (err: unknown) => err instanceof PipelineError && /segment 3: no Data after 1 retransmissions/.test(err.message));
    const nacking: SegmentChannel = {
      open: (_blob, sink) => ({ express: () => setImmediate(() => sink.nack("reason 150")), close: () => undefined }),
    };
    await assert.rejects(async () => {
      for await (const _ of fetchSegments(new Name("/p/blob"), 10, { channel: nacking, signal: AbortSignal.timeout(5_000) })) {
        // drain
      }
    }, /network Nack \(reason 150\)/);
  });
});

describe("NDN gate", () => {
  test("after a fetch with no answer NDN is skipped, then probed by one request at a time, with growing pauses", () => {
    let now = 0;
    let up = true;
    const gate = new NdnGate(() => up, 4000, () => now);
    assert.equal(gate.allow(), true);
    gate.unreachable();
    assert.equal(gate.skipping, true);
    assert.equal(gate.allow(), false, "skipped right after a failure");
    now = 1000;
    assert.equal(gate.allow(), true, "the first request after 1 s probes");
    assert.equal(gate.allow(), false, "others skip NDN while the probe runs");
    gate.unreachable(); // the probe failed too: wait 2 s
    now = 2999;
    assert.equal(gate.allow(), false);
    now = 3000;
    assert.equal(gate.allow(), true);
    gate.reachable();
    assert.equal(gate.skipping, false);
    assert.equal(gate.allow(), true);
    assert.equal(gate.allow(), true, "everyone tries NDN again");
    for (let i = 0; i < 20; ++i) {
      gate.unreachable();
    }
    now += 30_000;
    assert.equal(gate.allow(), true, "pauses stop growing at 30 s");
    up = false;
    gate.reachable();
    assert.equal(gate.allow(), false, "never while the uplink is down");
  });
});

describe("slab arena", () => {
  test("a full slab is reused only after it was handed back, and packets never overlap", () => {
    const arena = new SlabArena(1024, 4);
    const first = Array.from({ length: 5 }, () => arena.alloc(200)); // 5 x 200 bytes fill a slab
    assert.equal(new Set(first.map((p) => p.buffer)).size, 1);
    for (let i = 1; i < first.length; ++i) {
      assert.ok(first[i]!.byteOffset >= first[i - 1]!.byteOffset + 200, "packets in one slab do not overlap");
    }
    const next = arena.alloc(200); // does not fit: the first slab is retired
    assert.notEqual(next.buffer, first[0]!.buffer);
    const retired = arena.takeRetired();
    assert.deepEqual(retired.map((s) => s.buffer), [first[0]!.buffer]);
    assert.equal(arena.takeRetired().length, 0);
    for (let i = 0; i < 5; ++i) {
      assert.notEqual(arena.alloc(200).buffer, first[0]!.buffer, "not reused before it is handed back");
    }
    arena.reuse(retired);
    for (let i = 0; i < 4; ++i) {
      arena.alloc(200);
    }
    assert.equal(arena.alloc(200).buffer, first[0]!.buffer, "the slab handed back is reused");
    assert.notEqual(arena.alloc(300).buffer, first[0]!.buffer, "packets over a quarter slab get memory of their own");
  });
});

describe("segment producer adapters", () => {
  test("NDNts produce() and the wire hot path answer with the same Data: segments, the last one, Nacks", async () => {
    const size = 2 * SEGMENT_SIZE + 123;
    const bytes = randomBytes(size);
    const present = makeBlobId("org/app", `sha256:${"a".repeat(64)}`)!;
    const missing = makeBlobId("org/app", `sha256:${"b".repeat(64)}`)!;
    const registry = {
      stat: (id: BlobId) => Promise.resolve(id.digest.hex === present.digest.hex ? { found: true, size } : { found: false, status: 404 }),
    } as unknown as RegistryClient;
    const ranges = new RangeCache(async (_id, begin, end, into, progress) => {
      await new Promise((r) => setImmediate(r));
      into.set(bytes.subarray(begin, end));
      progress(end - begin);
    }, { segmentSize: SEGMENT_SIZE, maxRead: 128 * SEGMENT_SIZE, cacheBytes: 8 << 20, maxLoads: 4 });
    const prefix = new Name("/adapters");
    const catalog = new BlobCatalog(registry, new LookupLimiter({ rate: 100, repositoryRate: 100 }));
    const producer = new SegmentProducer({ prefix, catalog, ranges, freshnessMs: 3_600_000, maxPending: 64, log: createLogger("test", "silent") });
    const fw = NdnForwarder.create();
    serveThroughNdnts(producer, { fw, signer: nullSigner });
    const wire = new WireAdapter(producer, "null");

    const viaNdnts = (name: Name) => consume(new Interest(name, Interest.Lifetime(1000)), { fw, retx: 0 });
    const viaWire = async (name: Name): Promise<Data> => {
      const interest = Encoder.encode(new Interest(name, Interest.Lifetime(1000)));
      const sent = new Promise<Uint8Array>((resolve) => {
        assert.ok(wire.tap(peekPacket(interest)!, { send: resolve } as unknown as WireTransport), "the tap declined a blob Interest");
      });
      return new Decoder(await sent).decode(Data);
    };
    const cases: Array<[BlobId, number]> = [[present, 0], [present, 2], [present, 3], [missing, 0]];
    for (const [id, segment] of cases) {
      const name = blobName(prefix, id).append(Segment, segment);
      const [a, b] = [await viaNdnts(name), await viaWire(name)];
      for (const d of [a, b]) {
        assert.ok(d.name.equals(name));
      }
      assert.equal(a.contentType, b.contentType);
      assert.equal(a.freshnessPeriod, b.freshnessPeriod);
      assert.ok(a.finalBlockId === b.finalBlockId || a.finalBlockId!.equals(b.finalBlockId!), `${segment}: FinalBlockId`);
      assert.ok(Buffer.from(a.content).equals(Buffer.from(b.content)), `${segment}: content`);
    }
    const data = await viaNdnts(blobName(prefix, present).append(Segment, 2));
    assert.ok(Buffer.from(data.content).equals(bytes.subarray(2 * SEGMENT_SIZE)));
    assert.ok(data.finalBlockId?.equals(Segment.create(2)));
    assert.equal(data.freshnessPeriod, 3_600_000);
    for (const [id, segment] of [[present, 3], [missing, 0]] as const) {
      const nack = await viaWire(blobName(prefix, id).append(Segment, segment));
      assert.equal(nack.contentType, 3);
      assert.equal(nack.freshnessPeriod, 1000);
      assert.equal(nack.finalBlockId, undefined);
    }
    assert.equal(producer.counters.data, 5);
    assert.equal(producer.counters.nackMissing, 6);
    ranges.close();
  });
});
