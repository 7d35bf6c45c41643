/**
 * The wire hot path (shared/src/ndn/wire) against NDNts' own encoder and decoder: every packet the
 * fast encoders write must decode in NDNts to the same fields, and every packet NDNts writes must
 * be read the same way by the fast decoders.
 */
import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";

import { Fragmenter, LpPacket, Reassembler } from "@ndn/lp";
import { Segment } from "@ndn/naming-convention2";
import { Component, Data, digestSigning, Interest, Nack, NackHeader, Name, nullSigner, SigType, TT } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";
import { Metadata } from "@ndn/rdr";
import {
  BlobMetadata, canonicalBlobName, canonicalSegmentFields, DatagramWireTransport, decodeBlobMetadata, decodeDataContent, encodeSegmentData,
  encodeSegmentInterest, FrameSplitter, FrameTooLargeError, hasNamePrefix, implicitDigest, lastComponentOffset, LpFragmenter, LpReassembler, MetadataTT,
  parseSha256Digest, peekNetworkPacket, peekPacket, type Reassembled, readLpFrame, readNni, readSegmentComponent, readTlv, StreamWireTransport, TLV,
  withPitToken,
} from "@ndnreg/shared/ndn";

const blob = new Name("/ndn-registry").append("org/team/app").append(new Component(TT.GenericNameComponent, randomBytes(32)));
function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  assert.ok(actual && Buffer.from(actual).equals(Buffer.from(expected)), "bytes differ");
}

const SEGMENTS = [0, 1, 252, 253, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40];

/** A client socket connected to a "router" socket, both on loopback. */
async function udpPair(): Promise<{ router: dgram.Socket; sock: dgram.Socket }> {
  const router = dgram.createSocket("udp4");
  router.bind(0, "127.0.0.1");
  await once(router, "listening");
  const sock = dgram.createSocket("udp4");
  sock.bind(0, "127.0.0.1");
  await once(sock, "listening");
  sock.connect(router.address().port, "127.0.0.1");
  await once(sock, "connect");
  return { router, sock };
}

describe("wire codec against NDNts", () => {
  test("Data from encodeSegmentData decodes in NDNts with the same fields; digest signatures verify", async () => {
    for (const signature of ["digest", "null"] as const) {
      for (const [segment, size, contentType] of [[0, 8000, 0], [7, 0, 0], [300, 1, 3], [70000, 253, 0]] as const) {
        const content = new Uint8Array(randomBytes(size));
        const name = blob.append(Segment, segment);
        const wire = encodeSegmentData({ nameValue: name.value, contentType, freshnessMs: 86_400_000, finalSegment: segment + 5, content, signature });
        const data = new Decoder(wire).decode(Data);
        assert.ok(data.name.equals(name));
        assert.equal(data.contentType, contentType);
        assert.equal(data.freshnessPeriod, 86_400_000);
        assert.ok(data.finalBlockId?.equals(Segment.create(segment + 5)));
        assertBytes(data.content, content);
        assert.equal(data.sigInfo.type, signature === "digest" ? SigType.Sha256 : SigType.Null);
        if (signature === "digest") {
          await digestSigning.verify(data);
        }
        const fast = decodeDataContent(wire);
        assert.equal(fast?.contentType, contentType);
        assert.equal(fast?.finalSegment, segment + 5);
        assertBytes(fast?.content, content);
      }
    }
  });

  test("a tampered digest-signed Data fails NDNts verification", async () => {
    const wire = encodeSegmentData({ nameValue: blob.append(Segment, 1).value, contentType: 0, freshnessMs: 1000, content: new Uint8Array(100), signature: "digest" });
    wire[wire.length - 40]! ^= 1;
    await assert.rejects(digestSigning.verify(new Decoder(wire).decode(Data)));
  });

  test("Data written by NDNts is read by the fast decoder; a FinalBlockId that is no segment number is none", async () => {
    for (const [signer, contentType, withMeta, final] of [
      [digestSigning, 0, true, Segment.create(12)], [nullSigner, 3, true, Segment.create(2 ** 40)], [digestSigning, 0, false, undefined],
      [nullSigner, 0, true, new Component(TT.GenericNameComponent, "12")],
    ] as const) {
      const content = new Uint8Array(randomBytes(1234));
      const data = new Data(blob.append(Segment, 9), content);
      if (withMeta) {
        data.contentType = contentType;
        data.freshnessPeriod = 5000;
        data.finalBlockId = final;
      }
      await signer.sign(data);
      const wire = Encoder.encode(data);
      const peeked = peekPacket(wire);
      assert.equal(peeked?.type, TLV.Data);
      assertBytes(peeked?.nameValue, data.name.value);
      const fast = decodeDataContent(peeked.packet);
      assert.equal(fast?.contentType, withMeta ? contentType : 0);
      assert.equal(fast?.finalSegment, final && Segment.match(final) ? Segment.parse(final) : undefined);
      assertBytes(fast?.content, content);
    }
  });

  test("Interests from encodeSegmentInterest decode in NDNts: name, MustBeFresh, Nonce, lifetime", () => {
    for (const segment of SEGMENTS) {
      for (const lifetime of [1000, 4000, 300]) {
        const interest = new Decoder(encodeSegmentInterest(blob.value, segment, lifetime)).decode(Interest);
        assert.ok(interest.name.equals(blob.append(Segment, segment)), `${segment}`);
        assert.equal(interest.mustBeFresh, true);
        assert.equal(interest.canBePrefix, false);
        assert.equal(interest.lifetime, lifetime);
        assert.equal(typeof interest.nonce, "number");
      }
    }
  });

  test("segment components: NDNts Segment numbers read back exactly", () => {
    for (const segment of SEGMENTS) {
      const value = blob.append(Segment, segment).value;
      const last = lastComponentOffset(value);
      assert.equal(readSegmentComponent(value, last), segment);
      assert.equal(last, blob.value.length);
      assert.ok(hasNamePrefix(value, blob.value));
    }
    assert.equal(readSegmentComponent(blob.value, lastComponentOffset(blob.value)), undefined); // generic component
    assert.ok(!hasNamePrefix(new Name("/ndn-registryX/a").value, new Name("/ndn-registry").value));
  });

  test("NDNLPv2: PIT tokens round-trip both ways; congestion marks are read; Nacks and fragments are recognized", () => {
    const interest = new Interest(blob.append(Segment, 3), Interest.MustBeFresh);
    const token = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const lp = new LpPacket();
    lp.pitToken = token;
    lp.payload = Encoder.encode(interest);
    const peeked = peekPacket(Encoder.encode(lp));
    assert.equal(peeked?.type, TLV.Interest);
    assertBytes(peeked?.pitToken, token);
    assert.equal(peeked?.nackReason, undefined);
    assertBytes(peeked?.nameValue, interest.name.value);

    const data = encodeSegmentData({ nameValue: interest.name.value, contentType: 0, freshnessMs: 1000, content: new Uint8Array(10), signature: "null" });
    const back = new Decoder(withPitToken(data, token)).decode(LpPacket);
    assertBytes(back.pitToken, token);
    assertBytes(back.payload, data);
    assert.equal(withPitToken(data, undefined), data);

    const nack = new LpPacket();
    nack.nack = new NackHeader(150);
    nack.payload = Encoder.encode(new Nack(interest, 150).interest);
    const peekedNack = peekPacket(Encoder.encode(nack));
    assert.equal(peekedNack?.type, TLV.Interest);
    assert.equal(peekedNack?.nackReason, 150);

    for (const mark of [0, 1, 7, 300]) {
      const marked = new LpPacket();
      marked.pitToken = token;
      marked.congestionMark = mark;
      marked.payload = data;
      const peekedData = peekPacket(Encoder.encode(marked));
      assert.equal(peekedData?.type, TLV.Data);
      assert.equal(peekedData.congestionMark, mark, "CongestionMark as NDNts wrote it");
      assertBytes(peekedData.packet, data);
    }
    assert.equal(peekPacket(data)?.congestionMark, 0, "a bare Data carries no mark");

    const frag = new LpPacket();
    frag.fragSeqNum = 1n;
    frag.fragIndex = 0;
    frag.fragCount = 2;
    frag.payload = data.subarray(0, 20);
    assert.equal(peekPacket(Encoder.encode(frag)), undefined, "a fragment is not a whole packet");
  });

  test("NDNLPv2 fragments written by NDNts are put back together by the hot path, in any order, with the first fragment's headers", () => {
    const token = new Uint8Array([9, 8, 7, 6, 5, 4]);
    const fragmentsOf = (seg: number, mark: number) => {
      const full = new LpPacket();
      full.payload = encodeSegmentData({ nameValue: blob.append(Segment, seg).value, contentType: 0, freshnessMs: 1000, content: new Uint8Array(randomBytes(8000)), signature: "null" });
      full.pitToken = token;
      full.congestionMark = mark;
      const frames = new Fragmenter().fragment(full, 1420).map((f) => Encoder.encode(f, 1420));
      assert.ok(frames.length >= 6 && frames.every((f) => f.length <= 1420));
      return { data: full.payload, frames };
    };
    const r = new LpReassembler(4);
    const add = (frame: Uint8Array) => {
      const lp = readLpFrame(frame);
      assert.ok(lp && lp.fragCount > 1, "a fragment");
      assert.equal(peekPacket(frame), undefined, "not a whole packet");
      return r.add(lp);
    };
    const check = (out: Reassembled | undefined, data: Uint8Array, mark: number) => {
      assertBytes(out?.packet, data);
      assertBytes(out?.pitToken, token);
      assert.equal(out?.congestionMark, mark);
      assert.equal(out && peekNetworkPacket(out.packet, out)?.type, TLV.Data);
    };
    const a = fragmentsOf(1, 0);
    const outs = a.frames.map(add);
    assert.ok(outs.slice(0, -1).every((o) => o === undefined));
    check(outs.at(-1), a.data, 0);
    // Reversed, with a duplicate, interleaved with another packet.
    const b = fragmentsOf(2, 1);
    const c = fragmentsOf(3, 0);
    const mixed = [...b.frames.toReversed(), b.frames[2]!].flatMap((f, i) => [f, c.frames[i]].filter((x) => x !== undefined));
    const done = mixed.map(add).filter((o) => o !== undefined);
    assert.equal(done.length, 2);
    check(done.find((o) => o.packet.length === b.data.length && Buffer.from(o.packet).equals(Buffer.from(b.data))), b.data, 1);
    check(done.find((o) => Buffer.from(o.packet).equals(Buffer.from(c.data))), c.data, 0);
    // A packet that lost a fragment is dropped for newer ones once four are incomplete.
    const lost = fragmentsOf(4, 0);
    lost.frames.slice(1).forEach(add);
    for (let seg = 5; seg < 9; ++seg) {
      fragmentsOf(seg, 0).frames.slice(1).forEach(add);
    }
    assert.equal(add(lost.frames[0]!), undefined, "its remains were dropped");
    assert.ok(r.dropped >= 1);
  });

  test("NDNLPv2 fragments copied as they arrive: in order across slab ends, a run cut by another packet or a lost fragment, a packet too large for a slab", () => {
    const sizes = [8000, 3000, 7999, 12_000, 5000];
    const packetsOf = (first: number, n: number) => Array.from({ length: n }, (_, i) => {
      const full = new LpPacket();
      full.payload = encodeSegmentData({ nameValue: blob.append(Segment, first + i).value, contentType: 0, freshnessMs: 1000,
        content: new Uint8Array(randomBytes(sizes[i % sizes.length]!)), signature: "null" });
      full.congestionMark = i % 3 === 2 ? 1 : 0;
      // One NDNts Fragmenter per packet: its sequence numbers start anywhere.
      return { data: full.payload, mark: full.congestionMark, frames: new Fragmenter().fragment(full, 1420).map((f) => Encoder.encode(f, 1420)) };
    });
    // A 40,000-byte slab holds four or five packets: runs move to a new slab mid-packet, and the
    // 12 KB packets (over a quarter slab) take the general path. Every packet is checked at the end:
    // none was overwritten by a later one.
    const r = new LpReassembler(8, 64, 40_000);
    const add = (frame: Uint8Array) => r.add(readLpFrame(frame)!);
    const inOrder = packetsOf(100, 40);
    const outs = inOrder.flatMap((p) => p.frames.map(add).filter((o) => o !== undefined));
    assert.equal(outs.length, inOrder.length);
    inOrder.forEach((p, i) => {
      assertBytes(outs[i]!.packet, p.data);
      assert.equal(outs[i]!.congestionMark, p.mark);
    });
    // A run cut by another packet's first fragment, then finished; a run that lost a fragment.
    const more = packetsOf(200, 4);
    const [a, b, c, d] = [more[0]!, more[1]!, more[2]!, more[3]!];
    assert.equal(a.frames.slice(0, 2).map(add).filter(Boolean).length, 0);
    const bOut = b.frames.map(add).at(-1);
    const aOut = a.frames.slice(2).map(add).at(-1);
    assertBytes(bOut?.packet, b.data);
    assertBytes(aOut?.packet, a.data);
    assert.equal(aOut?.congestionMark, a.mark);
    assert.ok([...c.frames.slice(0, 2), ...c.frames.slice(3)].map(add).every((o) => o === undefined), "c lost its third fragment");
    assertBytes(d.frames.map(add).at(-1)?.packet, d.data);
    assertBytes(add(c.frames[2]!)?.packet, c.data); // late, not lost: c completes from its held parts
    assert.equal(r.dropped, 0);
  });

  test("NDNLPv2 fragments written by the hot path (a store's Data on UDP) are put back together by NDNts and by the hot path, PIT token included", () => {
    const token = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const fragmenter = new LpFragmenter(1400);
    const content = new Uint8Array(randomBytes(8000));
    const packet = encodeSegmentData({ nameValue: blob.append(Segment, 3).value, ...canonicalSegmentFields(9, content), pitToken: token });
    const data = readLpFrame(packet)!.fragment;
    for (let round = 0; round < 2; ++round) { // two packets: consecutive sequence numbers from one fragmenter
      const frames = fragmenter.fragment(packet);
      assert.ok(frames.length >= 6 && frames.every((f) => f.length <= 1400), `${frames.length} frames within the MTU`);
      const ndnts = new Reassembler(4);
      const whole = frames.map((f) => ndnts.accept(new Decoder(f).decode(LpPacket))).at(-1);
      assertBytes(whole?.payload, data);
      assertBytes(whole?.pitToken, token);
      assert.ok(new Decoder(whole!.payload!).decode(Data).name.equals(blob.append(Segment, 3)));
      const ours = new LpReassembler(4);
      const back = frames.toReversed().map((f) => ours.add(readLpFrame(f)!)).at(-1);
      assertBytes(back?.packet, data);
      assertBytes(back?.pitToken, token);
    }
    const small = encodeSegmentInterest(blob.value, 7, 1000);
    assert.deepEqual(fragmenter.fragment(small), [small], "a packet within the MTU goes as it is");
  });

  test("UDP hot path: fragmented Data reach the tap whole, what the tap declines reaches NDNts, Interests leave one per datagram", async () => {
    const { router, sock } = await udpPair();
    const tapped: Array<{ name: string; mark: number; content: Buffer }> = [];
    const transport = new DatagramWireTransport(sock, (p) => {
      if (p.type !== TLV.Data || !hasNamePrefix(p.nameValue, blob.value)) {
        return false;
      }
      tapped.push({ name: new Name(p.nameValue).toString(), mark: p.congestionMark, content: Buffer.from(decodeDataContent(p.packet)!.content) });
      return true;
    }, 65_507, { describe: "test" });
    const toNdnts: Data[] = [];
    void (async () => {
      for await (const tlv of transport.rx) {
        toNdnts.push(tlv.decoder.decode(Data));
      }
    })();
    const fromClient: Buffer[] = [];
    router.on("message", (msg) => fromClient.push(msg));

    const content = new Uint8Array(randomBytes(8000));
    const full = new LpPacket();
    full.payload = encodeSegmentData({ nameValue: blob.append(Segment, 5).value, contentType: 0, freshnessMs: 1000, content, signature: "null" });
    full.congestionMark = 1;
    const frames = new Fragmenter().fragment(full, 1420).map((f) => Encoder.encode(f, 1420));
    const other = Encoder.encode(new Data(new Name("/other/thing"), Uint8Array.of(1, 2, 3)));
    for (const f of [...frames, other]) {
      router.send(f, sock.address().port, "127.0.0.1");
    }
    const interest = encodeSegmentInterest(blob.value, 7, 1000);
    const sent = Buffer.from(interest);
    transport.send(interest);
    assert.throws(() => transport.send(new Uint8Array(70_000)), RangeError);
    for (let i = 0; i < 200 && (tapped.length < 1 || toNdnts.length < 1 || fromClient.length < 1); ++i) {
      await new Promise((r) => setTimeout(r, 5));
    }
    transport.close();
    router.close();
    assert.deepEqual(tapped.map((t) => [t.name, t.mark]), [[blob.append(Segment, 5).toString(), 1]]);
    assertBytes(tapped[0]!.content, content);
    assert.deepEqual(toNdnts.map((d) => d.name.toString()), ["/8=other/8=thing"]);
    assert.equal(fromClient.length, 1);
    assertBytes(fromClient[0], sent);
    assert.equal(transport.isOpen, false);
  });

  test("UDP hot path: Data read while a batch or more waited in the socket carry a congestion mark, one per 100 ms", async () => {
    const { router, sock } = await udpPair();
    const marks: number[] = [];
    const transport = new DatagramWireTransport(sock, (p) => {
      marks.push(p.congestionMark);
      return true;
    }, 65_507, { describe: "test" });
    // Small Data, so that a hundred fit the socket's default receive buffer.
    const data = (seg: number) => encodeSegmentData({ nameValue: blob.append(Segment, seg).value, contentType: 0, freshnessMs: 1000, content: new Uint8Array(100), signature: "null" });
    /** Send `count` Data while this process does not read (sends on loopback are queued at once), then wait until all are read. */
    const burst = async (count: number): Promise<number[]> => {
      marks.length = 0;
      for (let i = 0; i < count; ++i) {
        router.send(data(i), sock.address().port, "127.0.0.1");
      }
      for (let i = 0; i < 200 && marks.length < count; ++i) {
        await new Promise((r) => setTimeout(r, 5));
      }
      return [...marks];
    };
    try {
      const backlog = await burst(100);
      assert.equal(backlog.length, 100);
      assert.deepEqual(backlog.flatMap((m, i) => (m ? [i] : [])), [31], "the last Data of the first full read batch is marked, none after it within 100 ms");
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual(await burst(20), Array(20).fill(0), "fewer than a batch waiting: no mark");
      assert.equal((await burst(40)).filter((m) => m !== 0).length, 1, "a backlog again, 100 ms after the last mark");
    } finally {
      transport.close();
      router.close();
    }
  });

  test("malformed frames are declined, never thrown", () => {
    for (let i = 0; i < 2000; ++i) {
      const junk = new Uint8Array(randomBytes(1 + (i % 64)));
      junk[0] = [0x05, 0x06, 0x64, 0x07][i % 4]!;
      peekPacket(junk);
      const lp = readLpFrame(junk);
      if (lp && lp.fragCount > 1) {
        new LpReassembler().add(lp);
      }
      decodeDataContent(junk);
      lastComponentOffset(junk);
    }
  });

  test("FrameSplitter returns the same frames however the stream is chunked", () => {
    const frames = SEGMENTS.map((s, i) => encodeSegmentData({ nameValue: blob.append(Segment, s).value, contentType: 0, freshnessMs: 1, content: new Uint8Array(randomBytes(i * 900)), signature: "null" }));
    const stream = Buffer.concat(frames);
    for (const chunkSize of [1, 2, 3, 100, 8000, 65536, stream.length]) {
      const got: Buffer[] = [];
      const splitter = new FrameSplitter();
      for (let off = 0; off < stream.length; off += chunkSize) {
        splitter.push(stream.subarray(off, off + chunkSize), (f) => got.push(Buffer.from(f)));
      }
      assert.equal(got.length, frames.length, `chunk ${chunkSize}`);
      got.forEach((f, i) => assert.ok(f.equals(frames[i]!)));
    }
    assert.throws(() => new FrameSplitter().push(new Uint8Array([0x06, 0xfe, 0x10, 0, 0, 0]), () => undefined), FrameTooLargeError);
  });
});

describe("blob metadata (RDR)", () => {
  test("the fields use the protocol's TLV-TYPEs, and a plain RDR decoder still reads the Name", () => {
    const name = new Name("/ndn-registry").append(new Component(TT.GenericNameComponent, randomBytes(32)));
    const m = BlobMetadata.create(name, { blobSize: 123_456_789, segmentSize: 8000, finalSegment: 15_432, manifestFanout: 250 });
    const wire = Encoder.encode(m);
    const fields = new Map<number, Uint8Array>();
    for (let off = 0; off < wire.length;) {
      const e = readTlv(wire, off)!;
      fields.set(e.type, wire.subarray(e.valueStart, e.end));
      off = e.end;
    }
    assert.deepEqual([...fields.keys()], [TLV.Name, MetadataTT.BlobSize, MetadataTT.SegmentSize, MetadataTT.FinalSegment, MetadataTT.ManifestFanout]);
    assert.equal(readNni(fields.get(MetadataTT.BlobSize)!, 0, 4), 123_456_789);
    const plain = new Decoder(wire).decode(Metadata);
    assert.ok(plain.name.equals(name));
    const back = decodeBlobMetadata(wire);
    assert.deepEqual([back.blobSize, back.segmentSize, back.finalSegment, back.manifestFanout], [123_456_789, 8000, 15_432, 250]);
  });
});

test("the worked example in docs/protocol.md is what the encoder makes", () => {
  const doc = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
  const hex = /As one string:\s+```\s+([0-9a-f]+)\s+```/.exec(doc)?.[1];
  const implicit = /Its implicit digest, the single entry of manifest node 0, is\s+`([0-9a-f]{64})`/.exec(doc)?.[1];
  assert.ok(hex && implicit, "the example is missing from docs/protocol.md");
  const content = Buffer.from("hello, world\n");
  const digest = parseSha256Digest(`sha256:${createHash("sha256").update(content).digest("hex")}`)!;
  const name = canonicalBlobName(new Name("/example/registry"), digest).append(Segment, 0);
  const wire = encodeSegmentData({ ...canonicalSegmentFields(0, content), nameValue: name.value });
  assert.equal(Buffer.from(wire).toString("hex"), hex);
  assert.equal(implicitDigest(wire).toString("hex"), implicit);
});

test("a stream face that is not read holds a bounded backlog: no Interest is read from it until it drains", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ndnreg-backlog-"));
  const server = net.createServer().listen(path.join(dir, "face.sock"));
  const sockets: net.Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  try {
    await once(server, "listening");
    const accepted = once(server, "connection") as Promise<[net.Socket]>;
    const sock = net.connect(path.join(dir, "face.sock"));
    sockets.push(sock);
    await once(sock, "connect");
    const [forwarder] = await accepted;
    forwarder.pause(); // a forwarder that reads nothing for now
    let interests = 0;
    const face = new StreamWireTransport(sock, () => ++interests > 0, { describe: "backlog test" });
    const data = encodeSegmentData({ ...canonicalSegmentFields(0, randomBytes(8000)), nameValue: blob.append(Segment, 0).value });
    for (let i = 0; i < 1000; ++i) {
      face.send(data); // 8 MB in one turn: more than the kernel takes
    }
    await new Promise((r) => setImmediate(r));
    forwarder.write(encodeSegmentInterest(blob.value, 1, 1000));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(interests, 0, "an Interest was read while megabytes of Data waited to be written");
    forwarder.resume(); // reads everything: the face drains and reads again
    for (let i = 0; i < 100 && interests === 0; ++i) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(interests, 1, "the Interest is read once the backlog is out");
  } finally {
    sockets.forEach((s) => s.destroy());
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
