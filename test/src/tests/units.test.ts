import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

import { produce } from "@ndn/endpoint";
import { Forwarder as NdnForwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Component, Data, ImplicitDigest, Name, TT, type Verifier } from "@ndn/packet";
import { makeMetadataPacket } from "@ndn/rdr";
import {
  BlobMetadata, canonicalBlobName, ContentType, isValidRepository, legacyBlobName, makeBlobId, MANIFEST_FANOUT, manifestName, metadataName, openUdpSocket,
  parseRegistryName, parseRouterAddress, parseSha256Digest, SEGMENT_SIZE, segmentCount, SlabArena, storedTagName, tagName,
} from "@ndnreg/shared/ndn";

import { parseRange } from "@ndnreg/client/http/range";
import { DigestMismatchError, VerifiedWriter } from "@ndnreg/client/blob/verified-writer";
import { NdnGate } from "@ndnreg/client/ndn/gate";
import { type FetchBatch, NdnFetchError } from "@ndnreg/client/ndn/blob-fetcher";
import { Discovery } from "@ndnreg/client/ndn/discovery";
import { SharedFetches } from "@ndnreg/client/ndn/shared-fetches";

import { barChartSvg } from "../bench/chart.js";

/** A full collection, in a later task than the caller's (a WeakRef's target lives to the end of the task that made or read it). */
async function collectGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

describe("names", () => {
  test("repository grammar", () => {
    for (const ok of ["alpine", "library/alpine", "a/b/c", "org.example/team_x/app-name", "a__b", "a--b"]) {
      assert.ok(isValidRepository(ok), ok);
    }
    for (const bad of ["", "Alpine", "a//b", "/a", "a/", "../a", "a/../b", "a/./b", "a%2fb", "a b", "-a", "a-", "a".repeat(256)]) {
      assert.ok(!isValidRepository(bad), bad);
    }
  });

  test("legacy names round-trip; a single-word repository is one plain component as in the original", () => {
    const prefix = new Name("/ndn-registry");
    const hex = "0123456789abcdef".repeat(4);
    const name = legacyBlobName(prefix, makeBlobId("alpine", `sha256:${hex}`)!).append(Segment, 7);
    const expected = new Name("/ndn-registry/alpine").append(new Component(TT.GenericNameComponent, Buffer.from(hex, "hex")), Segment.create(7));
    assert.ok(name.equals(expected), name.toString());
    const parsed = parseRegistryName(prefix, name);
    assert.ok(parsed.ok && parsed.kind === "legacy");
    assert.equal(parsed.id.repository, "alpine");
    assert.equal(parsed.id.digest.hex, hex);
    assert.equal(parsed.segment, 7);
    const multi = parseRegistryName(prefix, legacyBlobName(prefix, makeBlobId("org/team/app", `sha256:${hex}`)!).append(Segment, 0));
    assert.ok(multi.ok && multi.kind === "legacy" && multi.id.repository === "org/team/app");
    assert.equal(parseRegistryName(new Name("/other"), name).ok, false);
  });

  test("the five name kinds are told apart by the number and types of their components", () => {
    const prefix = new Name("/p");
    const digest = parseSha256Digest(`sha256:${"ab".repeat(32)}`)!;
    const id = makeBlobId("org/app", digest.text)!;
    const exact = ImplicitDigest.create(randomBytes(32));
    const kinds: Array<[Name, string, number?]> = [
      [canonicalBlobName(prefix, digest).append(Segment, 5), "segment", 5],
      [canonicalBlobName(prefix, digest).append(Segment, 5).append(exact), "segment", 5],
      [manifestName(prefix, digest).append(Segment, 2), "manifest", 2],
      [metadataName(prefix, id), "metadata"],
      [legacyBlobName(prefix, id).append(Segment, 9), "legacy", 9],
      [legacyBlobName(prefix, id).append(Segment, 9).append(exact), "legacy", 9],
      [tagName(prefix, { repository: "org/app", tag: "v1.0_rc-2" }), "tag"],
      [storedTagName(prefix, { repository: "org/app", tag: "v1.0_rc-2" }), "stored-tag"],
    ];
    for (const [name, kind, n] of kinds) {
      const parsed = parseRegistryName(prefix, name);
      assert.ok(parsed.ok, `${name.toString()}: ${parsed.ok ? "" : parsed.reason}`);
      assert.equal(parsed.kind, kind);
      if (parsed.kind === "segment" || parsed.kind === "legacy") {
        assert.equal(parsed.segment, n);
        assert.equal(parsed.implicitDigest !== undefined, name.get(-1)!.type === TT.ImplicitSha256DigestComponent);
      } else if (parsed.kind === "manifest") {
        assert.equal(parsed.node, n);
      }
      if (parsed.kind === "tag" || parsed.kind === "stored-tag") {
        assert.deepEqual(parsed.id, { repository: "org/app", tag: "v1.0_rc-2" });
      } else if (parsed.kind !== "metadata") {
        assert.equal((parsed.kind === "legacy" ? parsed.id.digest : parsed.digest).hex, digest.hex);
      }
    }
    const bad: Name[] = [
      canonicalBlobName(prefix, digest), // no segment
      prefix.append(new Component(TT.GenericNameComponent, randomBytes(31)), Segment.create(0)), // digest length
      metadataName(prefix, id).append(exact), // metadata for one exact packet
      manifestName(prefix, digest), // no node number
      legacyBlobName(prefix, id).append(Segment.create(1), Segment.create(2)),
      tagName(prefix, { repository: "org/app", tag: ".hidden" }), // outside the tag grammar
      tagName(prefix, { repository: "org/app", tag: "x".repeat(129) }),
      tagName(prefix, { repository: "Org/App", tag: "v1" }),
      tagName(prefix, { repository: "org/app", tag: "v1" }).append(exact), // a tag record is never asked for by digest
    ];
    for (const name of bad) {
      assert.equal(parseRegistryName(prefix, name).ok, false, name.toString());
    }
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

describe("UDP socket buffers", () => {
  test("sized as asked when the system allows it; when it does not, the cap and its sysctl are named", async () => {
    const max = Number.parseInt(readFileSync("/proc/sys/net/core/rmem_max", "utf8"), 10);
    const small = await openUdpSocket("127.0.0.1", 9, Math.min(max, 1 << 20));
    small.sock.close();
    assert.equal(small.recvBufferBytes, 2 * Math.min(max, 1 << 20), "Linux reports twice the size asked");
    assert.equal(small.cappedBy, undefined);
    const big = await openUdpSocket("127.0.0.1", 9, 2 * max);
    big.sock.close();
    assert.equal(big.recvBufferBytes, 2 * max);
    assert.deepEqual(big.cappedBy, { sysctl: "net.core.rmem_max", value: max });
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
      async *payloads(): AsyncGenerator<FetchBatch> {
        for (let at = 0; at < blob.length; at += scratch.length) {
          const n = blob.copy(scratch, 0, at, at + scratch.length);
          yield { offset: 0, verified: false, payloads: [scratch.subarray(0, n / 2), scratch.subarray(n / 2, n)] };
          scratch.fill(0xee);
        }
      },
    };
    const shared = new SharedFetches(fetcher);
    // Reads by next(), not for-await: leaving a for-await loop early would end the subscription.
    const read = async (it: AsyncGenerator<FetchBatch>, batches = Infinity) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < batches; ++i) {
        const r = await it.next();
        if (r.done) {
          break;
        }
        parts.push(...r.value.payloads.map((p) => Buffer.from(p)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return Buffer.concat(parts);
    };
    const whole = { start: 0, end: blob.length - 1 };
    const noRepair = () => Promise.reject(new Error("no repair in this test"));
    const first = shared.open(id, blob.length, whole, noRepair, new AbortController().signal);
    const head = await read(first.payloads, 3); // three batches in, then the second request comes
    const second = shared.open(id, blob.length, whole, noRepair, new AbortController().signal);
    assert.equal(second.joined, true);
    const [rest, all] = await Promise.all([read(first.payloads), read(second.payloads)]);
    assert.ok(Buffer.concat([head, rest]).equals(blob), "first reader");
    assert.ok(all.equals(blob), "late reader");
  });
});

describe("metadata sent with the upstream's HEAD", () => {
  const prefix = new Name("/unit/early");
  const size = 1_000_000;
  const id = makeBlobId("early/unit", `sha256:${"ab".repeat(32)}`)!;
  /** A producer of `id`'s metadata on an in-process forwarder: the real answer, or a Nack Data. */
  const rig = (answer: "metadata" | "nack", verifier?: Verifier) => {
    const fw = NdnForwarder.create();
    let interests = 0;
    const producer = produce(metadataName(prefix, id), async (interest) => {
      ++interests;
      if (answer === "nack") {
        return new Data(interest.name, Data.ContentType(ContentType.Nack), Data.FreshnessPeriod(1000), new TextEncoder().encode("digest not published"));
      }
      const m = BlobMetadata.create(canonicalBlobName(prefix, id.digest), {
        blobSize: size, segmentSize: SEGMENT_SIZE, finalSegment: segmentCount(size) - 1, manifestFanout: MANIFEST_FANOUT,
      });
      return makeMetadataPacket(m, { prefix: legacyBlobName(prefix, id), freshnessPeriod: 60_000 });
    }, { fw });
    const discovery = new Discovery(fw, prefix, verifier);
    const waitForInterests = async (n: number) => {
      for (let i = 0; i < 100 && interests < n; ++i) {
        await new Promise((r) => setTimeout(r, 10));
      }
      return interests;
    };
    return { discovery, interests: () => interests, waitForInterests, close: () => producer.close() };
  };
  const discover = (d: Discovery, blobSize = size) => d.discover(id, blobSize, new AbortController().signal, 2000, { n: 0 });

  test("the Interest leaves before discover() is called, which takes its answer: one Interest per blob", async () => {
    const r = rig("metadata");
    try {
      r.discovery.sendEarly(id, 2000);
      assert.equal(await r.waitForInterests(1), 1, "sent ahead of the HEAD's answer");
      const found = await discover(r.discovery);
      assert.equal(found.kind, "canonical");
      assert.ok(found.name.equals(canonicalBlobName(prefix, id.digest)));
      assert.equal(found.count, segmentCount(size));
      assert.equal(r.interests(), 1);
    } finally {
      r.close();
    }
  });

  test("a blob the producer refuses still falls back (Nack), at the cost of that one Interest", async () => {
    const r = rig("nack");
    try {
      r.discovery.sendEarly(id, 2000);
      r.discovery.sendEarly(id, 2000); // a second request for it while the first is planned: no second Interest
      await assert.rejects(discover(r.discovery), (err: unknown) => err instanceof NdnFetchError && err.reason === "nack");
      assert.equal(r.interests(), 1);
    } finally {
      r.close();
    }
  });

  test("an early answer is checked against the HEAD's size like any other", async () => {
    const r = rig("metadata");
    try {
      r.discovery.sendEarly(id, 2000);
      await assert.rejects(discover(r.discovery, size + 1), (err: unknown) => err instanceof NdnFetchError && err.reason === "size-mismatch");
      assert.equal(r.interests(), 1);
    } finally {
      r.close();
    }
  });

  test("an answer sent ahead of a manifest's blob GET is not held once discover() took it", async () => {
    // Each early answer was kept by its drop timer for the keep time (a minute) after discover()
    // took it: the client's heap grew by every blob's metadata pulled in the last minute.
    const answers: WeakRef<object>[] = [];
    const r = rig("metadata", { verify: (pkt) => { answers.push(new WeakRef(pkt)); return Promise.resolve(); } });
    try {
      // Twice: NDNts' face pipeline holds the last packet it carried until the next one.
      for (let n = 1; n <= 2; ++n) {
        r.discovery.sendEarly(id, 2000, 60_000);
        assert.equal(await r.waitForInterests(n), n);
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal((await discover(r.discovery)).kind, "canonical");
      }
      assert.equal(answers.length, 2);
      await collectGarbage();
      assert.equal(answers[0]!.deref(), undefined, "the first answer's Data is collected");
    } finally {
      r.close();
    }
  });

  test("an answer no discover() claims (the HEAD refused the caller) is dropped; a later request asks again", async () => {
    const r = rig("metadata");
    try {
      r.discovery.sendEarly(id, 2000);
      assert.equal(await r.waitForInterests(1), 1);
      await new Promise((resolve) => setTimeout(resolve, 2300));
      assert.equal((await discover(r.discovery)).kind, "canonical");
      assert.equal(r.interests(), 2);
    } finally {
      r.close();
    }
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

describe("bench chart", () => {
  test("one bar per present value, scaled to the panel's largest, labels escaped", () => {
    const svg = barChartSvg("a <b> & c", ["x & y", "z"], [
      { title: "MB/s", series: [{ name: "MB/s", color: "#000", values: [100, 50] }] },
      { title: "CPU", stacked: true, series: [{ name: "p", color: "#111", values: [null, 1] }, { name: "q", color: "#222", values: [null, 3] }] },
    ]);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>\n[\s\S]*<\/svg>\n$/);
    assert.ok(svg.includes("a &#60;b&#62; &#38; c") && svg.includes("x &#38; y") && !svg.includes("<b>"));
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="[\d.]+" fill="#(\d+)"><title>([^<]*)<\/title>/g)];
    assert.deepEqual(bars.map((b) => b[3]), ["MB/s: 100.0", "MB/s: 50.0", "p: 1.0", "q: 3.0"]);
    const width = (i: number) => Number(bars[i]![1]);
    assert.equal(width(1) * 2, width(0));
    assert.equal(width(2) * 3, width(3));
    assert.equal(width(2) + width(3), width(0), "the stacked total is as long as the other panel's largest");
    assert.match(svg, />4\.0<\/text>/, "the stacked bar's total");
  });
});
