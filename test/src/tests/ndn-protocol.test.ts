import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";

import "@ndnreg/shared/polyfill";
import { consume } from "@ndn/endpoint";
import { Forwarder as NdnForwarder, type FwFace } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { UnixTransport } from "@ndn/node-transport";
import { Component, Interest, Name, TT } from "@ndn/packet";
import { legacyBlobName as blobName, LEGACY_SEGMENT_SIZE, makeBlobId, parseRegistryName } from "@ndnreg/shared/ndn";

import { type CountingProxy, Stack } from "../bench/index.js";
import { pushRawBlob } from "./helpers.js";

/** Talks to the server through the real forwarder with NDNts' own encoder and decoder. */
describe("server on the wire", () => {
  let stack: Stack;
  let counting: CountingProxy;
  let fw: NdnForwarder;
  let face: FwFace;
  const prefix = new Name("/ndnreg/test");
  const bytes = randomBytes(3 * LEGACY_SEGMENT_SIZE + 123);
  let digest: string;

  before(async () => {
    stack = await Stack.start({ label: "wire" });
    counting = await stack.proxy(false);
    await stack.stopServer();
    await stack.startServer({ NDNREG_UPSTREAM: counting.url });
    digest = await pushRawBlob(stack.registry.url, "wire/blob", bytes);
    fw = NdnForwarder.create();
    face = await UnixTransport.createFace({ fw, addRoutes: [prefix] }, stack.forwarder.socketPath);
  });
  after(async () => {
    face?.close();
    await stack?.stop();
  });

  const express = (name: Name, lifetime = 2000) => consume(new Interest(name, Interest.Lifetime(lifetime), Interest.MustBeFresh), { fw, retx: 0 });

  test("legacy segments: name layout, payload size, FinalBlockId on every segment, cacheable freshness", async () => {
    const blob = blobName(prefix, makeBlobId("wire/blob", digest)!);
    assert.equal(blob.length, prefix.length + 2);
    assert.equal(blob.get(-2)!.type, TT.GenericNameComponent);
    assert.equal(new TextDecoder().decode(blob.get(-2)!.value), "wire/blob");
    assert.equal(blob.get(-1)!.value.length, 32);
    const got: Uint8Array[] = [];
    for (let seg = 0; seg < 4; ++seg) {
      const data = await express(blob.append(Segment, seg));
      assert.equal(data.contentType, 0);
      assert.ok(data.finalBlockId?.equals(Segment.create(3)), `segment ${seg} FinalBlockId`);
      assert.ok(data.freshnessPeriod >= 3_600_000);
      assert.equal(data.content.length, seg < 3 ? LEGACY_SEGMENT_SIZE : 123);
      got.push(data.content);
    }
    assert.deepEqual(Buffer.concat(got), bytes);
  });

  test("an unknown blob is answered with a short-lived Nack Data at once", async () => {
    const id = makeBlobId("wire/blob", `sha256:${"cd".repeat(32)}`)!;
    const t0 = Date.now();
    const data = await express(blobName(prefix, id).append(Segment, 0));
    assert.equal(data.contentType, 3);
    assert.ok(data.freshnessPeriod <= 1000);
    assert.ok(Date.now() - t0 < 1000);
  });

  test("a segment past the end is never answered", async () => {
    await assert.rejects(express(blobName(prefix, makeBlobId("wire/blob", digest)!).append(Segment, 4), 500));
  });

  test("malformed names are dropped: no Data, no registry request, no crash", async () => {
    const before = counting.counters.otherRequests + counting.counters.blobGets;
    const digestBytes = Buffer.from(digest.slice(7), "hex");
    const gen = (v: Uint8Array | string) => new Component(TT.GenericNameComponent, v);
    const bad: Name[] = [
      prefix.append(gen("wire/blob"), gen(digestBytes.subarray(0, 31)), Segment.create(0)),
      prefix.append(gen("../../v2/x"), gen(digestBytes), Segment.create(0)),
      prefix.append(gen("Wire/Blob"), gen(digestBytes), Segment.create(0)),
      prefix.append(gen("wire%2fblob"), gen(digestBytes), Segment.create(0)),
      prefix.append(gen(new Uint8Array([0xff, 0xfe])), gen(digestBytes), Segment.create(0)),
      prefix.append(gen("wire/blob"), gen(digestBytes), gen("0")),
      prefix.append(gen("wire/blob"), gen(digestBytes)),
      prefix.append(gen("wire/blob"), gen(digestBytes), Segment.create(0), gen("extra")),
      prefix.append(gen("a".repeat(300)), gen(digestBytes), Segment.create(0)),
      prefix.append(gen(randomBytes(40)), gen(randomBytes(32)), gen(randomBytes(8))),
    ];
    const results = await Promise.allSettled(bad.map((n) => express(n, 400)));
    results.forEach((r, i) => assert.equal(r.status, "rejected", `name ${i} was answered`));
    assert.equal(counting.counters.otherRequests + counting.counters.blobGets, before, "registry was asked about an invalid name");
    assert.ok(stack.server!.running, "server crashed");
    const data = await express(blobName(prefix, makeBlobId("wire/blob", digest)!).append(Segment, 0));
    assert.equal(data.content.length, LEGACY_SEGMENT_SIZE);
  });

  test("fuzzed names (random component types, lengths and values under the prefix): no Data for any invalid one, no registry request, no crash", async () => {
    const before = counting.counters.otherRequests + counting.counters.blobGets;
    // Component types a name may carry: generic, the segment/version/timestamp conventions, the
    // digest types, and arbitrary application types; values of 0-80 random bytes.
    const types = [TT.GenericNameComponent, 0x32, 0x36, 0x38, 0x3a, 0x21, 0x01, 0x02, 0x09, 0xfc, 0xfd, 0x4000];
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;
    const names: Name[] = [];
    for (let i = 0; i < 300; ++i) {
      const comps = Array.from({ length: 1 + Math.floor(Math.random() * 5) }, () => {
        const type = pick(types);
        const len = type === 0x01 || type === 0x02 ? 32 : Math.floor(Math.random() * 81);
        return new Component(type, randomBytes(len));
      });
      names.push(prefix.append(...comps));
    }
    // Valid shapes with invalid contents: a real repository with a wrong digest, huge segments.
    const digestBytes = Buffer.from(digest.slice(7), "hex");
    names.push(prefix.append(new Component(TT.GenericNameComponent, "wire/blob"), new Component(TT.GenericNameComponent, randomBytes(32)), Segment.create(2 ** 40)));
    names.push(prefix.append(new Component(TT.GenericNameComponent, "wire/blob"), new Component(TT.GenericNameComponent, digestBytes), new Component(0x32, randomBytes(9))));
    const results = await Promise.allSettled(names.map((n) => express(n, 400)));
    const answered = results.flatMap((r, i) => (r.status === "fulfilled" ? [names[i]!] : []));
    // The only names that may get a Data are well-formed ones: Nacks (unknown digest, not published).
    for (const n of answered) {
      assert.ok(parseRegistryName(prefix, n).ok, `answered a malformed name ${n.toString().slice(0, 120)}`);
    }
    assert.ok(stack.server!.running, "server crashed");
    // The one valid shape with an unknown digest costs one lookup: a blob HEAD, then a manifest HEAD.
    assert.ok(counting.counters.otherRequests + counting.counters.blobGets - before <= 2, "the registry was asked about invalid names");
    const data = await express(blobName(prefix, makeBlobId("wire/blob", digest)!).append(Segment, 1));
    assert.equal(data.content.length, LEGACY_SEGMENT_SIZE);
  });

  test("Interests for unknown digests cost the registry one lookup per digest (negative cache): a blob HEAD, then a manifest HEAD", async () => {
    const id = makeBlobId("wire/blob", `sha256:${"ee".repeat(32)}`)!;
    const beforeCount = counting.counters.otherRequests;
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((seg) => express(blobName(prefix, id).append(Segment, seg))));
    assert.equal(counting.counters.otherRequests - beforeCount, 2);
  });

  test("registry down: Interests are answered at once with a Nack, not left to time out", async () => {
    await stack.registry.stop();
    const id = makeBlobId("wire/blob", `sha256:${"ef".repeat(32)}`)!;
    const t0 = Date.now();
    const data = await express(blobName(prefix, id).append(Segment, 0));
    assert.equal(data.contentType, 3);
    assert.equal(data.content.length, 0, "legacy names: a Nack has no content");
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });

});
