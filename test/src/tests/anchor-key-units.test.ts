import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";

import { Certificate, createVerifier, ECDSA, Ed25519, generateSigningKey, RSA, type NamedSigner, type NamedVerifier, SigningAlgorithmListFull } from "@ndn/keychain";
import { Segment } from "@ndn/naming-convention2";
import { Data, digestSigning, Name, type Signer } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";

import { decodeDataContent, latin1Text } from "@ndnreg/shared/ndn";

import { ManifestReader } from "@ndnreg/client/ndn/manifest-reader";
import type { SegmentChannel, SegmentPacket, SegmentSink } from "@ndnreg/client/ndn/pipeline/channel";
import { AnchorKey } from "@ndnreg/client/security/anchor-key";

/** A key pair of `algo` under `/<id>/server` and its self-signed certificate (as the server makes its key). */
async function makeKey(id: string, generate: (name: Name) => Promise<[NamedSigner<true>, NamedVerifier<true>]>) {
  const [privateKey, publicKey] = await generate(new Name(`/${id}/server`));
  const certificate = await Certificate.selfSign({ privateKey, publicKey });
  return { privateKey, certificate };
}

/** A manifest-node-shaped Data, signed by `signer`, as wire bytes. */
async function signedNode(signer: Signer, content: Uint8Array = randomBytes(8000), segment = 3, finalSegment = segment): Promise<Uint8Array> {
  const data = new Data(new Name("/ndnreg/test/node").append(Segment, segment), Data.FreshnessPeriod(86_400_000), content);
  data.finalBlockId = Segment.create(finalSegment);
  await signer.sign(data);
  return Encoder.encode(data);
}

/** @ndn/keychain's verdict on the same bytes: the reference the wire verifier must agree with. */
async function ndntsAccepts(certificate: Certificate, wire: Uint8Array): Promise<boolean> {
  const verifier = await createVerifier(certificate, { algoList: SigningAlgorithmListFull });
  try {
    await verifier.verify(Decoder.decode(wire, Data));
    return true;
  } catch {
    return false;
  }
}

function flip(wire: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(wire);
  copy[at]! ^= 0x01;
  return copy;
}

describe("anchor key: node:crypto verification of signed Data from its wire bytes", () => {
  const algorithms: Array<[string, (id: string) => ReturnType<typeof makeKey>]> = [
    ["ECDSA", (id) => makeKey(id, (name) => generateSigningKey(name, ECDSA))],
    ["Ed25519", (id) => makeKey(id, (name) => generateSigningKey(name, Ed25519))],
    ["RSA", (id) => makeKey(id, (name) => generateSigningKey(name, RSA))],
  ];
  for (const [label, makeKeyOf] of algorithms) {
    test(`${label}: agrees with @ndn/keychain on good, altered and foreign packets`, async () => {
      const anchor = await makeKeyOf("anchor");
      const key = new AnchorKey(anchor.certificate);
      const good = await signedNode(anchor.privateKey);
      assert.equal(key.problem(good), undefined);
      assert.ok(await ndntsAccepts(anchor.certificate, good));

      // One bit changed anywhere in the signed portion (name, content) or in the signature value.
      const nameByte = 6;
      const contentByte = Math.floor(good.length / 2);
      const sigByte = good.length - 5;
      for (const at of [nameByte, contentByte, sigByte]) {
        const bad = flip(good, at);
        assert.notEqual(key.problem(bad), undefined, `byte ${at} flipped`);
        assert.equal(await ndntsAccepts(anchor.certificate, bad), false, `byte ${at} flipped (NDNts)`);
      }

      // Another key, naming itself: refused by its KeyLocator.
      const other = await makeKeyOf("other");
      const foreign = await signedNode(other.privateKey);
      assert.match(key.problem(foreign) ?? "", /KeyLocator/);
      assert.equal(await ndntsAccepts(anchor.certificate, foreign), false);

      // Another key claiming to be the anchor's: refused by the signature itself.
      const forged = await signedNode(other.privateKey.withKeyLocator(anchor.privateKey.name));
      assert.equal(key.problem(forged), "bad signature");
      assert.equal(await ndntsAccepts(anchor.certificate, forged), false);

      // A digest signature (anyone can make one) and a truncated packet.
      assert.match(key.problem(await signedNode(digestSigning)) ?? "", /SignatureType/);
      assert.notEqual(key.problem(good.subarray(0, good.length - 1)), undefined);
    });
  }

  test("a packet signed with another algorithm under the anchor's key name is refused by its SignatureType", async () => {
    const anchor = await makeKey("anchor", (name) => generateSigningKey(name, ECDSA));
    const other = await makeKey("other", (name) => generateSigningKey(name, Ed25519));
    const wire = await signedNode(other.privateKey.withKeyLocator(anchor.privateKey.name));
    assert.match(new AnchorKey(anchor.certificate).problem(wire) ?? "", /SignatureType 5/);
  });
});

/** A channel that records the Interests expressed and lets the test deliver Data to the reader. */
class FakeChannel implements SegmentChannel {
  sink?: SegmentSink;
  readonly expressed: number[] = [];
  closed = false;

  open(_name: Name, sink: SegmentSink) {
    this.sink = sink;
    return { express: (segment: number) => this.expressed.push(segment), close: () => { this.closed = true; } };
  }

  deliver(segment: number, wire: Uint8Array): void {
    const d = decodeDataContent(wire)!;
    const packet: SegmentPacket = { segment, contentType: d.contentType, content: d.content, wire, finalSegment: d.finalSegment };
    this.sink!.data(packet, false);
  }
}

describe("manifest reader on the segments' channel", () => {
  test("a node signed by the anchor gives its entries; a bad copy is asked once more, a second one ends the fetch", async () => {
    const anchor = await makeKey("anchor", (name) => generateSigningKey(name, ECDSA));
    const other = await makeKey("other", (name) => generateSigningKey(name, ECDSA));
    const count = 300; // node 0: 250 segments, node 1: 50
    const channel = new FakeChannel();
    const ctrl = new AbortController();
    const reader = new ManifestReader(channel, new Name("/ndnreg/test/node"), count, new AnchorKey(anchor.certificate), ctrl.signal, 60_000);
    const first = reader.digest(0);
    assert.deepEqual(channel.expressed, [0, 1], "the node and the one after it (the last)");

    const entries0 = randomBytes(250 * 32);
    channel.deliver(0, await signedNode(other.privateKey.withKeyLocator(anchor.privateKey.name), entries0, 0, 1));
    assert.deepEqual(channel.expressed, [0, 1, 0], "a forged node is dropped and asked again");
    channel.deliver(0, await signedNode(anchor.privateKey, entries0, 0, 1));
    assert.equal(await first, latin1Text(entries0.subarray(0, 32)));
    assert.equal(reader.digestNow(249), latin1Text(entries0.subarray(249 * 32)));
    assert.ok(reader.bytes > 2 * 8000, "both copies counted");
    reader.passed(248);
    assert.equal(reader.digestNow(249), latin1Text(entries0.subarray(249 * 32)), "kept until its last segment has passed");
    reader.passed(249);
    assert.equal(reader.digestNow(249), undefined, "dropped after its last segment");

    const second = reader.digest(250);
    const entries1 = randomBytes(50 * 32);
    channel.deliver(1, await signedNode(anchor.privateKey, entries1, 1, 2)); // FinalBlockId off by one
    const node1 = await signedNode(anchor.privateKey, entries1, 1, 1);
    channel.deliver(1, flip(node1, node1.length - 400)); // a bit of its entries
    await assert.rejects(second, (err: Error & { reason?: string }) => err.reason === "bad-manifest" && /manifest node 1: bad signature/.test(err.message));
    assert.deepEqual(channel.expressed, [0, 1, 0, 1]);

    ctrl.abort(new Error("done"));
    assert.ok(channel.closed);
  });

  test("nodes are asked for as segments are, two nodes ahead, and a node with no answer is asked again within a second", async () => {
    const anchor = await makeKey("anchor", (name) => generateSigningKey(name, ECDSA));
    const channel = new FakeChannel();
    const ctrl = new AbortController();
    const reader = new ManifestReader(channel, new Name("/ndnreg/test/ahead"), 2000, new AnchorKey(anchor.certificate), ctrl.signal, 60_000);
    reader.prefetch(0);
    assert.deepEqual(channel.expressed, [0, 1, 2]);
    reader.prefetch(249);
    assert.deepEqual(channel.expressed, [0, 1, 2], "nothing new until a segment past node 0 is asked for");
    reader.prefetch(250);
    assert.deepEqual(channel.expressed, [0, 1, 2, 3]);
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(channel.expressed.slice(4).sort(), [0, 1, 2, 3], "each unanswered node asked again after 500 ms, not after its 60 s lifetime");
    ctrl.abort(new Error("done"));
  });
});
