import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { Segment } from "@ndn/naming-convention2";
import { Component, Interest, Name, TT } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { createLogger } from "@ndnreg/shared";
import { type BlobId, LEGACY_SEGMENT_SIZE, makeBlobId, peekPacket, SEGMENT_SIZE, type WireTransport } from "@ndnreg/shared/ndn";

import { LoadSlots } from "@ndnreg/server/producer/load-slots";
import { RangeCache, type RangeCacheOptions, RangeOverloadError, type RangeReader } from "@ndnreg/server/producer/range-cache";
import { aheadReadBytes, BlobRuns, missReadBytes, READ_AMPLIFICATION, readBudget, type ReadSizes } from "@ndnreg/server/producer/sequential-runs";
import { WireAdapter } from "@ndnreg/server/producer/adapters/wire-adapter";
import { DigestIndex } from "@ndnreg/server/producer/digest-index";
import { SegmentProducer } from "@ndnreg/server/producer/segment-producer";
import { BlobCatalog } from "@ndnreg/server/registry/blob-catalog";
import { LookupLimiter, LookupRefusedError } from "@ndnreg/server/registry/lookup-limiter";
import type { RegistryClient } from "@ndnreg/server/registry/registry-client";

const SEG = 8000;
const SIZES: ReadSizes = { small: 8 * SEG, max: 512 * SEG, maxAhead: 3 * 512 * SEG };
const turn = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function idOf(bytes: Uint8Array | string): BlobId {
  return makeBlobId("a/b", `sha256:${createHash("sha256").update(bytes).digest("hex")}`)!;
}

describe("sequential runs", () => {
  test("a run's frontier catches up over segments published out of order; repeats count once", () => {
    const runs = new BlobRuns();
    assert.equal(runs.served(10, SEG), undefined, "a new run starts");
    const run = runs.ahead(11)!;
    assert.equal(run.frontier, 11);
    assert.equal(runs.served(13, SEG), undefined, "past the frontier: remembered, frontier stays");
    assert.equal(runs.served(12, SEG), undefined);
    assert.equal(runs.served(12, SEG), undefined, "a repeat");
    assert.equal(runs.served(11, SEG), run, "the gap filled: the frontier moves over everything published");
    assert.equal(run.frontier, 14);
    assert.equal(run.published, 4 * SEG);
    assert.equal(runs.served(11, SEG), undefined, "behind the frontier: a retransmission");
    assert.equal(run.published, 4 * SEG);
  });

  test("a random segment earns nothing but its block; a blob read in order earns reads that double up to the largest, within 8x", () => {
    const runs = new BlobRuns();
    runs.served(5000, SEG);
    const lone = runs.ahead(5001)!;
    // One segment published, its 64 KB block read: nothing left for more.
    assert.equal(missReadBytes(lone, readBudget(SEG, SIZES.small), SIZES), SIZES.small);
    assert.equal(aheadReadBytes(lone, 5008 * SEG, 1e9, SEG, readBudget(SEG, SIZES.small), SIZES), 0);
    assert.equal(missReadBytes(undefined, 1e9, SIZES), SIZES.small, "no run: a small block whatever the budget");
    // Many lone segments leave budget unspent (8x each, less its block): a miss in one's window
    // is still read on no run's account, until a run has published a block's worth in order.
    const scattered = new BlobRuns();
    for (const s of [5000, 9000, 13000]) {
      scattered.served(s, SEG);
    }
    const least = SIZES.small / SEG;
    assert.equal(scattered.missRun(9100, least), undefined);
    for (let s = 9001; s < 9000 + least; ++s) {
      scattered.served(s, SEG);
    }
    assert.equal(scattered.missRun(9100, least)?.start, 9000, "a block's worth in order: the window counts");
    assert.equal(scattered.missRun(5100, least), undefined);

    const seq = new BlobRuns();
    const size = 200e6;
    let covered = SIZES.small; // the first block, read when segment 0 missed
    let read = SIZES.small;
    let published = 0;
    const reads: number[] = [];
    for (let s = 0; s < size / SEG; ++s) {
      if (covered <= s * SEG) {
        covered += SIZES.small; // a miss reads its block
        read += SIZES.small;
      }
      published += SEG;
      const run = seq.served(s, SEG);
      if (run) {
        const n = aheadReadBytes(run, covered, size, SEG, readBudget(published, read), SIZES);
        if (n > 0) {
          reads.push(n);
          covered += n;
          read += n;
        }
        assert.ok(covered - run.frontier * SEG <= SIZES.maxAhead);
      }
      assert.ok(read <= READ_AMPLIFICATION * published, `segment ${s}: ${read} bytes read for ${published} published`);
    }
    for (let i = 1; i < reads.length - 1; ++i) {
      assert.ok(reads[i]! >= Math.min(reads[i - 1]!, SIZES.max), `read ${i} shrank: ${reads.join(",")}`);
    }
    assert.ok(reads.includes(SIZES.max), "reads reach the largest");
    assert.ok(reads.length < 60, `${reads.length} reads for 200 MB`);
  });

  test("a run that reaches another's start takes it over: a blob's first segments served out of order do not stop its frontier", () => {
    const runs = new BlobRuns(4);
    // Block [30, 36) arrived first, then [0, 30): the first run's frontier meets the second's start.
    for (const s of [30, 31, 32, 33, 34, 35, ...Array.from({ length: 30 }, (_, i) => i)]) {
      runs.served(s, SEG);
    }
    assert.equal(runs.ahead(36)?.frontier, 36, "one run, its frontier past both");
    let moved = 0;
    for (let s = 36; s < 400; ++s) {
      moved += runs.served(s, SEG) ? 1 : 0;
    }
    assert.equal(moved, 364, "every segment after moves the frontier (and may read ahead)");
    assert.equal(runs.ahead(400)?.start, 0);
  });

  test("a second pass over a blob starts its own run behind the first's frontier; each segment goes to the run nearest behind it", () => {
    const runs = new BlobRuns(4);
    for (let s = 0; s < 375; ++s) {
      runs.served(s, SEG); // a 3 MB blob pulled once
    }
    let moved = 0;
    for (let s = 0; s < 100; ++s) {
      moved += runs.served(s, SEG) ? 1 : 0; // pulled again from the start
    }
    assert.equal(moved, 99, "the second pass moves its own frontier (and may read ahead)");
    assert.equal(runs.missRun(100, 6)?.start, 0);

    const two = new BlobRuns(4);
    for (const s of [...Array.from({ length: 10 }, (_, i) => 1000 + i), ...Array.from({ length: 10 }, (_, i) => i)]) {
      two.served(s, SEG); // a leader at 1010, a trailer at 10
    }
    assert.equal(two.served(1011, SEG), undefined, "past the leader's frontier: remembered on the leader");
    assert.equal(two.served(1010, SEG)?.frontier, 1012, "not on the trailer, whose window holds it too");
  });

  test("scattered Interests replace each other's runs, never a pull in progress", () => {
    const runs = new BlobRuns(4);
    for (let s = 0; s < 400; ++s) {
      runs.served(s, SEG);
    }
    for (let i = 0; i < 100; ++i) {
      runs.served(10_000 + i * 37, SEG);
    }
    assert.equal(runs.ahead(400)?.published, 400 * SEG);
  });
});

interface FakeRegistry {
  readonly options: RangeCacheOptions;
  /** Loads started (bytes), finished or not. */
  readonly loads: Array<{ begin: number; end: number; finish: () => void; fail: (err: Error) => void }>;
  inFlight: number;
  maxInFlight: number;
  loadedBytes: number;
}

/** A registry whose reads complete when the test says (or at once after a turn with `auto`). */
function fakeRegistry(bytes: Uint8Array, options: Partial<RangeCacheOptions> = {}, auto = true): { cache: RangeCache; reg: FakeRegistry } {
  const reg: FakeRegistry = {
    options: { segmentSize: SEG, blockBytes: 8 * SEG, maxRead: 512 * SEG, cacheBytes: 64 << 20, maxLoads: 16, ...options },
    loads: [], inFlight: 0, maxInFlight: 0, loadedBytes: 0,
  };
  const cache = new RangeCache((_id, begin, end, into, progress) => new Promise<void>((resolve, reject) => {
    reg.maxInFlight = Math.max(reg.maxInFlight, ++reg.inFlight);
    reg.loadedBytes += end - begin;
    const finish = () => {
      --reg.inFlight;
      into.set(bytes.subarray(begin, end));
      progress(end - begin);
      resolve();
    };
    reg.loads.push({ begin, end, finish, fail: (err) => { --reg.inFlight; reject(err); } });
    if (auto) {
      setImmediate(finish);
    }
  }), reg.options);
  return { cache, reg };
}

describe("range cache", () => {
  test("segments are served as soon as their bytes arrive; a failed read fails its waiters and is read again", async () => {
    const blob = randomBytes(40 * SEG);
    const id = idOf(blob);
    const loads: Array<{ begin: number; into: Uint8Array; progress: (n: number) => void; finish: (err?: Error) => void }> = [];
    const cache = new RangeCache((_id, begin, _end, into, progress) => new Promise<void>((resolve, reject) => {
      loads.push({ begin, into, progress, finish: (err) => (err ? reject(err) : resolve()) });
    }), { segmentSize: SEG, blockBytes: 8 * SEG, maxRead: 8 * SEG, cacheBytes: 1 << 20, maxLoads: 4 });
    const arrive = (load: (typeof loads)[number], n: number) => {
      load.into.set(blob.subarray(load.begin, load.begin + n));
      load.progress(n);
    };
    const first = cache.read(id, blob.length, 0, SEG);
    const later = cache.read(id, blob.length, 5 * SEG, 6 * SEG);
    await turn();
    assert.equal(loads.length, 1, "one read for one block");
    assert.equal(cache.peek(id, blob.length, 0, SEG), undefined);
    arrive(loads[0]!, 2 * SEG);
    assert.deepEqual(Buffer.from(await first), blob.subarray(0, SEG));
    assert.deepEqual(Buffer.from(cache.peek(id, blob.length, SEG, 2 * SEG)!), blob.subarray(SEG, 2 * SEG));
    assert.equal(cache.peek(id, blob.length, 2 * SEG, 3 * SEG), undefined, "bytes not yet arrived are never served");
    arrive(loads[0]!, 8 * SEG);
    loads[0]!.finish();
    assert.deepEqual(Buffer.from(await later), blob.subarray(5 * SEG, 6 * SEG));

    // Three segments published in order: their run has earned a read ahead of them by now.
    const at = (begin: number) => loads.filter((l) => l.begin === begin);
    const failing = cache.read(id, blob.length, 33 * SEG, 34 * SEG);
    await turn();
    arrive(at(32 * SEG)[0]!, SEG);
    at(32 * SEG)[0]!.finish(new Error("registry went away"));
    await assert.rejects(failing, /registry went away/);
    assert.equal(cache.peek(id, blob.length, 32 * SEG, 33 * SEG), undefined, "nothing is served from a failed read");
    const retry = cache.read(id, blob.length, 32 * SEG, 33 * SEG);
    await turn();
    assert.equal(at(32 * SEG).length, 2, "a failed block is read again");
    arrive(at(32 * SEG)[1]!, 8 * SEG);
    at(32 * SEG)[1]!.finish();
    assert.deepEqual(Buffer.from(await retry), blob.subarray(32 * SEG, 33 * SEG));
    cache.close();
  });

  test("waiters asked out of order are each settled once their own bytes are in, and not before", async () => {
    const blob = randomBytes(10 * SEG);
    const id = idOf(blob);
    let load: { into: Uint8Array; progress: (n: number) => void; finish: () => void } | undefined;
    const cache = new RangeCache((_id, _begin, _end, into, progress) => new Promise<void>((resolve) => {
      load = { into, progress, finish: resolve };
    }), { segmentSize: SEG, blockBytes: 8 * SEG, maxRead: 16 * SEG, cacheBytes: 1 << 20, maxLoads: 4 });
    const settled: number[] = [];
    const ends = [5, 1, 9, 3, 3, 7, 10];
    const reads = ends.map((end) => cache.read(id, blob.length, (end - 1) * SEG, end * SEG).then((bytes) => {
      settled.push(end);
      assert.deepEqual(Buffer.from(bytes), blob.subarray((end - 1) * SEG, end * SEG));
    }));
    const arrive = async (n: number) => {
      await turn();
      load!.into.set(blob.subarray(0, n));
      load!.progress(n);
      await turn();
    };
    await arrive(2.99 * SEG);
    assert.deepEqual(settled, [1]);
    await arrive(6.5 * SEG);
    assert.deepEqual(settled.slice(1).sort(), [3, 3, 5]);
    await arrive(9.5 * SEG);
    assert.equal(settled.length, 6);
    assert.ok(!settled.includes(10), "the last segment waits for the last byte");
    await arrive(10 * SEG);
    load!.finish();
    await Promise.all(reads);
    assert.equal(settled.length, ends.length);
    cache.close();
  });

  test("random segments of a large blob cost the registry at most 8x the bytes published", async () => {
    const size = 500e6;
    const id = idOf("random");
    const { cache, reg } = fakeRegistry(new Uint8Array(0));
    let published = 0;
    let refused = 0;
    for (let i = 0; i < 400; ++i) {
      const s = Math.floor(Math.random() * (size / SEG));
      try {
        const bytes = cache.peek(id, size, s * SEG, (s + 1) * SEG) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG);
        published += bytes.length;
      } catch (err: unknown) {
        assert.ok(err instanceof RangeOverloadError, String(err));
        ++refused; // every small buffer in use: refused, and nothing read
      }
    }
    assert.ok(reg.loadedBytes <= READ_AMPLIFICATION * published, `${reg.loadedBytes} bytes read for ${published} published (${refused} refused)`);
    cache.close();
  });

  test("misses in one turn make one registry read; a blob read in order grows its reads, reads ahead, and costs at most 8x what it published", async () => {
    const size = 40e6;
    const blob = randomBytes(size);
    const id = idOf(blob);
    const { cache, reg } = fakeRegistry(blob);
    let published = 0;
    let next = 0;
    const get = async (s: number) => {
      const bytes = cache.peek(id, size, s * SEG, (s + 1) * SEG) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG);
      assert.ok(Buffer.from(bytes).equals(blob.subarray(s * SEG, (s + 1) * SEG)), `segment ${s}`);
      published += bytes.length;
    };
    // Whenever every Interest asked so far has been answered, read-ahead included.
    const withinBound = () => assert.ok(reg.loadedBytes <= READ_AMPLIFICATION * published, `${reg.loadedBytes} read for ${published} published`);
    // A consumer's window: 32 Interests at once, then one more for every Data, up to 128.
    const first = Array.from({ length: 32 }, () => get(next++));
    await turn();
    assert.deepEqual(reg.loads.map((l) => [l.begin, l.end]), [[0, 32 * SEG]], "the first window's blocks in one read");
    await Promise.all(first);
    withinBound();
    let window = 32;
    while (next < size / SEG) {
      const batch = Array.from({ length: Math.min(window, size / SEG - next) }, () => get(next++));
      await Promise.all(batch);
      withinBound();
      window = Math.min(128, window * 2);
    }
    const sizes = reg.loads.map((l) => l.end - l.begin);
    assert.ok(sizes.includes(SIZES.max), `reads reached 4 MB: ${sizes.join(",")}`);
    assert.ok(reg.loads.length <= 30, `${reg.loads.length} reads for 40 MB: ${sizes.join(",")}`);
    assert.equal(reg.loadedBytes, size, "every byte read once");
    cache.close();
  });

  test("many runs share the large pool: each reads one 1 MB block at a time, none is refused; a run alone reads 4 MB again", async () => {
    const size = 24e6;
    const cacheBytes = 32 << 20;
    const { cache, reg } = fakeRegistry(new Uint8Array(0), { cacheBytes });
    const block = 128 * SEG; // a quarter of the largest read
    const get = async (id: BlobId, s: number) => cache.peek(id, size, s * SEG, (s + 1) * SEG) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG);
    const pull = async (id: BlobId, onPast: (bytes: number) => void) => {
      let next = 0;
      let window = 32;
      while (next < size / SEG) {
        const batch = Array.from({ length: Math.min(window, size / SEG - next) }, () => get(id, next++));
        await Promise.all(batch);
        onPast(next * SEG);
        window = Math.min(128, window * 2);
      }
    };
    // Reads started once every run has published 4 MB: the pool is shared twenty ways by then.
    let going = 0;
    let sharedFrom = Infinity;
    let peakBytes = 0;
    await Promise.all(Array.from({ length: 20 }, (_, i) => {
      let counted = false;
      return pull(idOf(`run ${i}`), (bytes) => {
        peakBytes = Math.max(peakBytes, cache.stats.bytes);
        if (!counted && bytes >= 4e6) {
          counted = true;
          if (++going === 20) {
            sharedFrom = reg.loads.length;
          }
        }
      });
    }));
    const shared = reg.loads.slice(sharedFrom).map((l) => l.end - l.begin);
    assert.ok(shared.length > 20, `${shared.length} reads while twenty runs went on`);
    assert.ok(Math.max(...shared) <= block, `reads while twenty runs went on: up to ${Math.max(...shared)} bytes`);
    assert.ok(peakBytes <= cacheBytes, `${peakBytes} bytes of range buffers`);
    await sleep(1300); // the other runs are over: one alone has the pool to itself
    const before = reg.loads.length;
    await pull(idOf("alone"), () => undefined);
    assert.ok(reg.loads.slice(before).some((l) => l.end - l.begin === SIZES.max), "a run alone reads 4 MB ranges");
    cache.close();
  });

  test("bounds: registry reads in flight stay within maxLoads, a short queue after them, the rest refused; memory within the pools", async () => {
    const size = 500e6;
    const id = idOf("bounds");
    const { cache, reg } = fakeRegistry(new Uint8Array(0), { maxLoads: 4, maxQueuedLoads: 8, maxQueueMs: 300, cacheBytes: 4 << 20 }, false);
    const reads = Array.from({ length: 300 }, (_, i) => cache.read(id, size, i * 1000 * SEG, (i * 1000 + 1) * SEG));
    const outcomes = Promise.allSettled(reads);
    await turn();
    assert.equal(reg.loads.length, 4, "four reads in flight");
    assert.equal(cache.stats.loadsQueued, 8);
    reg.loads[0]!.finish();
    await turn();
    assert.equal(reg.loads.length, 5, "a finished read lets the oldest queued one go");
    assert.ok(reg.maxInFlight <= 4);
    await sleep(800); // past maxQueueMs: the queued reads are refused
    assert.equal(cache.stats.loadsQueued, 0);
    reg.loads.forEach((l) => l.finish());
    const settled = await outcomes;
    const refused = settled.filter((r) => r.status === "rejected" && r.reason instanceof RangeOverloadError).length;
    assert.equal(settled.filter((r) => r.status === "fulfilled").length, reg.loads.length);
    assert.equal(refused, 300 - reg.loads.length, "every other read refused as overload");
    assert.ok(cache.stats.bytes <= 4 << 20, `${cache.stats.bytes} bytes of buffers`);
    cache.close();
  });

  test("read-ahead leaves a buffer to a read Interests wait for: another blob's pull does not wait on it", async () => {
    const size = 40e6;
    const a = randomBytes(size);
    const b = randomBytes(size);
    const ids = [idOf(a), idOf(b)];
    // Three large buffers; a queued read is refused (300 ms) long before a range in use goes cold.
    const options = { segmentSize: SEG, blockBytes: 8 * SEG, maxRead: 512 * SEG, cacheBytes: 17e6, maxLoads: 16, maxQueueMs: 300 };
    const cache = new RangeCache((id, begin, end, into, progress) => new Promise<void>((resolve) => setImmediate(() => {
      into.set((id === ids[0] ? a : b).subarray(begin, end));
      progress(end - begin);
      resolve();
    })), options);
    const get = async (which: 0 | 1, s: number) => {
      const blob = which === 0 ? a : b;
      const bytes = cache.peek(ids[which]!, size, s * SEG, (s + 1) * SEG) ?? await cache.read(ids[which]!, size, s * SEG, (s + 1) * SEG);
      assert.ok(Buffer.from(bytes).equals(blob.subarray(s * SEG, (s + 1) * SEG)), `blob ${which} segment ${s}`);
    };
    // Blob a read in order, in windows, until its reads and read-ahead are as large as they get.
    let next = 0;
    for (let window = 32; next < 2000; window = Math.min(256, window * 2)) {
      await Promise.all(Array.from({ length: window }, () => get(0, next++)));
    }
    // Blob b starts in order: its reads soon need a large buffer, while a's ranges are in use.
    for (let s = 0; s < 400; s += 16) {
      await Promise.all(Array.from({ length: 16 }, (_, k) => get(1, s + k)));
    }
    cache.close();
  });

  test("ranges the frontier jumps over count as read to their end: their buffers go to the next reads", async () => {
    const size = 100e6;
    const a = idOf("jumped");
    const other = idOf("other");
    // Four small buffers; a queued read is refused (300 ms) long before a range in use goes cold.
    const { cache } = fakeRegistry(new Uint8Array(0), { cacheBytes: 0, maxQueueMs: 300 });
    const get = async (id: BlobId, s: number) => cache.peek(id, size, s * SEG, (s + 1) * SEG) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG);
    // Block 1 (segments 8-15) is served before block 0's last segments: the frontier jumps over it.
    for (const s of [0, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2, 3, 4, 5, 6, 7]) {
      await get(a, s);
    }
    // Two free small buffers, then both of a's blocks are given up for the next reads.
    for (let i = 1; i <= 4; ++i) {
      await get(other, i * 1000);
    }
    cache.close();
  });

  test("one registry read feeds the segments and the manifest's hash: a store hashing a blob after its pull, while the next blob streams, reads nothing again", async () => {
    const size = 16e6; // blobs that fit the large pool (24 MB) with room for read-ahead
    const blobs = [randomBytes(size), randomBytes(size), randomBytes(size)];
    const ids = blobs.map((b) => idOf(b));
    const config = idOf("config");
    const loaded = new Map<BlobId, number>();
    const cache = new RangeCache((id, begin, end, into, progress) => new Promise<void>((resolve) => setImmediate(() => {
      loaded.set(id, (loaded.get(id) ?? 0) + end - begin);
      into.set(id === config ? new Uint8Array(end - begin) : blobs[ids.indexOf(id)]!.subarray(begin, end));
      progress(end - begin);
      resolve();
    })), { segmentSize: SEG, blockBytes: 6 * SEG, maxRead: 512 * SEG, cacheBytes: 32 << 20, maxLoads: 16 });
    const get = async (i: number, s: number, reader: RangeReader) => {
      const id = ids[i]!;
      const bytes = (reader === "segments" ? cache.peek(id, size, s * SEG, (s + 1) * SEG) : undefined) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG, reader);
      assert.ok(Buffer.from(bytes).equals(blobs[i]!.subarray(s * SEG, (s + 1) * SEG)), `blob ${i} segment ${s}`);
    };
    const pull = async (i: number) => {
      let next = 0;
      for (let window = 32; next < size / SEG; window = Math.min(128, window * 2)) {
        await Promise.all(Array.from({ length: Math.min(window, size / SEG - next) }, () => get(i, next++, "segments")));
      }
    };
    const hash = async (i: number) => {
      for (let s = 0; s < size / SEG; ++s) {
        await get(i, s, "hash");
      }
    };
    await cache.read(config, 1000, 0, 1000, "hash"); // the image's config: a store is about
    await pull(0);
    // Blob 0 is complete: the store hashes it for its manifest nodes as blob 1 streams, and so on.
    await Promise.all([hash(0), pull(1)]);
    await Promise.all([hash(1), pull(2)]);
    await hash(2);
    assert.deepEqual(ids.map((id) => loaded.get(id)), [size, size, size], "each blob read once");
    cache.close();
  });

  test("a blob larger than the large pool streams on while its manifest's hash is still to come: read once, none refused", async () => {
    const size = 80e6;
    const id = idOf("larger than the pools");
    const { cache, reg } = fakeRegistry(new Uint8Array(0), { cacheBytes: 32 << 20, maxQueueMs: 300 });
    await cache.read(idOf("config"), 1000, 0, 1000, "hash");
    let next = 0;
    for (let window = 32; next < size / SEG; window = Math.min(128, window * 2)) {
      await Promise.all(Array.from({ length: Math.min(window, size / SEG - next) }, async () => {
        const s = next++;
        return cache.peek(id, size, s * SEG, (s + 1) * SEG) ?? await cache.read(id, size, s * SEG, (s + 1) * SEG);
      }));
    }
    assert.equal(reg.loadedBytes, size + 1000, "read once, none refused");
    cache.close();
  });

  test("a range in use is never evicted for another; idle ranges and spare buffers are let go", async () => {
    const size = 100e6;
    const id = idOf("evict");
    // Four small buffers (and two large ones): four blocks in use leave no room for a fifth.
    const { cache } = fakeRegistry(new Uint8Array(0), { cacheBytes: 0, idleMs: 1000 });
    const at = (i: number) => i * 1000 * SEG;
    for (let i = 0; i < 4; ++i) {
      await cache.read(id, size, at(i), at(i) + SEG);
    }
    const keepHot = setInterval(() => [0, 1, 2, 3].forEach((i) => cache.peek(id, size, at(i), at(i) + SEG)), 50);
    await assert.rejects(cache.read(id, size, at(4), at(4) + SEG), RangeOverloadError);
    clearInterval(keepHot);
    await sleep(1300); // no longer in use: the coldest makes room
    await cache.read(id, size, at(4), at(4) + SEG);
    assert.ok(cache.stats.bytes > 0);
    await sleep(2600); // idle: everything is let go
    assert.equal(cache.stats.bytes, 0);
    cache.close();
  });
});

describe("registry read slots", () => {
  test("a read that can go goes at once, even while an older one waits for a buffer", () => {
    const slots = new LoadSlots(4, 8, 1000);
    let buffers = 0;
    const started: string[] = [];
    const read = (name: string) => () => {
      if (buffers === 0) {
        return "wait" as const;
      }
      --buffers;
      started.push(name);
      return "started" as const;
    };
    assert.ok(slots.enter(read("first"), () => assert.fail("not refused")));
    assert.equal(slots.queued, 1, "no buffer: it waits");
    ++buffers;
    assert.ok(slots.enter(read("second"), () => assert.fail("not refused")));
    assert.deepEqual(started, ["first"], "the older read took the buffer first");
    assert.equal(slots.queued, 1);
    ++buffers;
    assert.ok(slots.enter(() => (started.push("third"), "started"), () => assert.fail("not refused")));
    assert.deepEqual(started, ["first", "second", "third"]);
    assert.equal(slots.queued, 0);
    assert.equal(slots.inFlight, 3);
  });
});

describe("registry lookup limits", () => {
  test("at most 1.25 x the rate in a second; the lookup more Interests wait for goes first", async () => {
    const limiter = new LookupLimiter({ rate: 20, repositoryRate: 1000, maxWaiting: 200 });
    const order: string[] = [];
    const t0 = performance.now();
    const waits = Array.from({ length: 40 }, (_, i) => limiter.admit("a/b", () => 1).then(() => order.push(`low${i}`), () => order.push(`refused${i}`)));
    const busy = { count: 1 };
    const wanted = limiter.admit("a/b", () => busy.count).then(() => order.push("wanted"));
    busy.count = 32; // a window of Interests joined it
    await sleep(1000 - (performance.now() - t0));
    const inFirstSecond = order.filter((o) => !o.startsWith("refused")).length;
    assert.ok(inFirstSecond <= 25, `${inFirstSecond} lookups in the first second`);
    await wanted;
    assert.ok(order.indexOf("wanted") <= 5 + 1, `the wanted lookup went ${order.indexOf("wanted") + 1}th: ${order.join(",")}`);
    await Promise.all(waits);
    assert.ok(order.some((o) => o.startsWith("refused")), "lookups that waited over a second are refused");
  });

  test("a flood in one repository leaves the others their share; a full queue refuses the least wanted", async () => {
    const limiter = new LookupLimiter({ rate: 100, repositoryRate: 5, maxWaiting: 20 });
    const flood = Array.from({ length: 30 }, () => limiter.admit("flood/x", () => 1).then(() => "ok", (e: unknown) => e));
    const t0 = performance.now();
    await limiter.admit("other/y", () => 1);
    assert.ok(performance.now() - t0 < 100, `another repository waited ${(performance.now() - t0).toFixed(0)} ms`);
    const settled = await Promise.all(flood);
    assert.equal(settled.filter((r) => r === "ok").length >= 5, true);
    assert.ok(settled.some((r) => r instanceof LookupRefusedError), "past 20 waiting, lookups are refused");
    assert.ok(limiter.stats.refused > 0);
  });

  test("a flood spread over made-up repositories cannot starve a repository where blobs were found", async () => {
    const limiter = new LookupLimiter({ rate: 20, repositoryRate: 10, maxWaiting: 200 });
    limiter.found("real/app");
    const flood = Array.from({ length: 100 }, (_, i) => limiter.admit(`made/up${i}`, () => 1).then(() => "ok", (e: unknown) => e));
    await sleep(50);
    const t0 = performance.now();
    await limiter.admit("real/app", () => 1);
    assert.ok(performance.now() - t0 < 150, `a proven repository waited ${(performance.now() - t0).toFixed(0)} ms behind the flood`);
    const settled = await Promise.all(flood);
    assert.ok(settled.filter((r) => r === "ok").length <= 1.25 * 10 + 2, "the flood got more than its half of the rate");
  });

  test("the queue holds what the rate can serve in a wait; past it a newcomer is refused at once, and a proven repository still goes", async () => {
    const limiter = new LookupLimiter({ rate: 20, repositoryRate: 10 }); // 2.5 at once per half, then 10/s; 1 s of waiting
    limiter.found("real/app");
    const flood = Array.from({ length: 200 }, (_, i) => limiter.admit(`made/up${i}`, () => 1).then(() => "ok", (e: unknown) => e));
    assert.ok(limiter.stats.waiting <= 20, `${limiter.stats.waiting} lookups waiting: more than 1 s of the rate`);
    assert.equal(limiter.wouldRefuse("made/up-new"), true, "a full half refuses a newcomer at once");
    assert.equal(limiter.wouldRefuse("real/app"), false, "the proven half has room");
    const t0 = performance.now();
    await limiter.admit("real/app", () => 1);
    assert.ok(performance.now() - t0 < 20, `a proven repository waited ${(performance.now() - t0).toFixed(0)} ms behind the flood`);
    const settled = await Promise.all(flood);
    assert.ok(settled.filter((r) => r instanceof LookupRefusedError).length >= 180);
  });
});

describe("a flood of unknown digests through the wire hot path", () => {
  test("Interests the lookup limits refuse are dropped and counted before any asynchronous work: none is left pending", async () => {
    const log = createLogger("test", "silent");
    const prefix = new Name("/units/flood");
    let heads = 0;
    const registry = {
      stat: async () => {
        ++heads;
        await sleep(5);
        return { found: false, status: 404 };
      },
    } as unknown as RegistryClient;
    const ranges = new RangeCache(() => Promise.reject(new Error("no reads expected")), {
      segmentSize: SEGMENT_SIZE, blockBytes: 6 * SEGMENT_SIZE, maxRead: 8 * SEGMENT_SIZE, cacheBytes: 1 << 20, maxLoads: 2,
    });
    const producer = new SegmentProducer({
      prefix, catalog: new BlobCatalog(registry, new LookupLimiter({ rate: 20, repositoryRate: 10 })), ranges, index: new DigestIndex(), log,
      maxPending: 4096, legacy: { segmentSize: LEGACY_SEGMENT_SIZE, freshnessMs: 1000, signature: "null" },
    });
    const wire = new WireAdapter(producer);
    const sink = { send: () => undefined } as unknown as WireTransport;
    const gen = (v: Uint8Array | string) => new Component(TT.GenericNameComponent, v);
    for (let i = 0; i < 500; ++i) {
      const name = prefix.append(gen(`flood/r${i}`), gen(randomBytes(32)), Segment.create(0));
      assert.equal(wire.tap(peekPacket(Encoder.encode(new Interest(name, Interest.Lifetime(1000))))!, sink), true);
    }
    assert.ok(producer.pending <= 20, `${producer.pending} Interests pending: refused ones went into asynchronous work`);
    assert.ok(producer.counters.droppedRateLimited >= 480, `${producer.counters.droppedRateLimited} dropped for the rate`);
    await sleep(1200);
    assert.ok(heads <= 2 * 2.5 + 2 * 10 * 1.2 + 1, `${heads} registry lookups`);
    ranges.close();
  });
});
