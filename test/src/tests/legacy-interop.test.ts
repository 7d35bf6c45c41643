/**
 * Wire compatibility both ways with the proof of concept's format, tested with a minimal consumer
 * and a minimal producer written from docs/protocol.md ("Legacy names"), not from its code.
 */
import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { consume, produce, type Producer } from "@ndn/endpoint";
import { Forwarder as NdnForwarder, type FwFace } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { UnixTransport } from "@ndn/node-transport";
import { Component, Data, Interest, Name, TT } from "@ndn/packet";
import { createLogger } from "@ndnreg/shared";
import { parseRouterAddress, Uplink } from "@ndnreg/shared/ndn";

import { pullImage, Stack, type TestImage, verifyPulled } from "../bench/index.js";
import { blobLog, pushTestImage } from "./helpers.js";

const CHUNK = 7777;

/**
 * The old consumer: Interests `/<prefix>/<repository>/<digest>/<segment>` without MustBeFresh, a
 * window of them in flight from segment 0 on, past the end too until FinalBlockId is known; every
 * Data is appended in segment order, whatever its ContentType (as the original client does).
 * Returns the bytes and how many Interests past the end were answered (must be none).
 */
async function oldConsumerFetch(fw: NdnForwarder, prefix: Name, repository: string, digestHex: string): Promise<{ bytes: Buffer; pastEndAnswered: number }> {
  const name = prefix.append(repository).append(new Component(TT.GenericNameComponent, Buffer.from(digestHex, "hex")));
  const got = new Map<number, Uint8Array>();
  let final: number | undefined;
  let pastEndAnswered = 0;
  let next = 0;
  const window = 16;
  const one = async (seg: number) => {
    try {
      const data = await consume(new Interest(name.append(Segment, seg), Interest.Lifetime(1500)), { fw, retx: 2 });
      if (final !== undefined && seg > final) {
        ++pastEndAnswered;
      }
      got.set(seg, data.content);
      if (data.finalBlockId && Segment.match(data.finalBlockId)) {
        final = Segment.parse(data.finalBlockId);
      }
    } catch {
      // no answer: fine past the end, an error before it (checked below)
    }
  };
  const running = new Set<Promise<void>>();
  while (final === undefined || next <= final + window) {
    const p = one(next++).finally(() => running.delete(p));
    running.add(p);
    if (running.size >= window) {
      await Promise.race(running);
    }
  }
  await Promise.all(running);
  for (const seg of got.keys()) {
    if (seg > final) {
      ++pastEndAnswered;
    }
  }
  const parts: Uint8Array[] = [];
  for (let seg = 0; seg <= final; ++seg) {
    assert.ok(got.has(seg), `segment ${seg} never arrived`);
    parts.push(got.get(seg)!);
  }
  return { bytes: Buffer.concat(parts), pastEndAnswered };
}

describe("legacy names, both ways", () => {
  let stack: Stack;
  let image: TestImage;
  before(async () => {
    stack = await Stack.start({ label: "legacy" });
    image = await pushTestImage(stack, "legacyapp:v1", { format: "docker", layers: [300_000, 7777 * 3, 50] });
  });
  after(async () => {
    await stack?.stop();
  });

  test("an old-format consumer pulls every blob through the server with the right digest, and nothing past the end is answered", async () => {
    const fw = NdnForwarder.create();
    const prefix = new Name(stack.prefix);
    const face: FwFace = await UnixTransport.createFace({ fw, addRoutes: [prefix] }, stack.forwarder.socketPath);
    try {
      for (const blob of image.blobs) {
        const { bytes, pastEndAnswered } = await oldConsumerFetch(fw, prefix, "legacyapp", blob.digest.slice(7));
        assert.equal(`sha256:${createHash("sha256").update(bytes).digest("hex")}`, blob.digest);
        assert.equal(pastEndAnswered, 0, `${blob.digest}: Interests past the end were answered`);
      }
    } finally {
      face.close();
    }
  });

  test("our client pulls an image from an old-format producer (7,777-byte segments, no metadata), every blob over NDN", async () => {
    const prefix = new Name("/legacy/producer");
    const fw = NdnForwarder.create();
    const uplink = new Uplink({ fw, routers: [parseRouterAddress(stack.forwarder.uri)], log: createLogger("old-producer", "warn"), prefixRegistration: {} });
    const producer = oldProducer(fw, prefix, stack.registry.url);
    try {
      await uplink.start();
      await stack.waitForRoute(undefined, 10_000, "/legacy/producer");
      const client = await stack.startClient({ name: "/legacy/producer", args: ["--first-byte-timeout", "3000"] });
      await verifyPulled(image, await pullImage(client.host, "legacyapp:v1", path.join(stack.runDir, "out-legacy")));
      for (const blob of image.blobs) {
        const log = await blobLog(client, blob.digest);
        assert.equal(log.source, "ndn", blob.digest);
        assert.equal(log.names, "legacy", blob.digest);
      }
    } finally {
      producer.close();
      uplink.close();
    }
  });
});

/**
 * The old producer: answers `/<prefix>/<repository>/<digest>/<segment>` with 7,777-byte chunks of
 * the registry's blob, FreshnessPeriod 24 h and FinalBlockId; a missing blob with ContentType Nack,
 * FreshnessPeriod 1 s and no content; any other name (metadata, canonical names) with nothing.
 */
function oldProducer(fw: NdnForwarder, prefix: Name, registryUrl: string): Producer {
  const blobs = new Map<string, Promise<Buffer | undefined>>();
  return produce(prefix, async (interest) => {
    const name = interest.name;
    if (name.length !== prefix.length + 3 || name.get(-2)!.length !== 32 || !Segment.match(name.get(-1)!)) {
      return undefined;
    }
    const repository = new TextDecoder().decode(name.get(-3)!.value);
    const digest = `sha256:${Buffer.from(name.get(-2)!.value).toString("hex")}`;
    const key = `${repository}@${digest}`;
    let blob = blobs.get(key);
    if (!blob) {
      blob = fetch(`${registryUrl}/v2/${repository}/blobs/${digest}`).then(async (r) => (r.ok ? Buffer.from(await r.arrayBuffer()) : undefined));
      blobs.set(key, blob);
    }
    const bytes = await blob;
    if (!bytes) {
      return new Data(name, Data.ContentType(3), Data.FreshnessPeriod(1000));
    }
    const seg = Segment.parse(name.get(-1)!);
    const last = Math.max(0, Math.ceil(bytes.length / CHUNK) - 1);
    if (seg > last) {
      return undefined;
    }
    const data = new Data(name, bytes.subarray(seg * CHUNK, (seg + 1) * CHUNK), Data.FreshnessPeriod(86_400_000));
    data.finalBlockId = Segment.create(last);
    return data;
  }, { fw, describe: "old-producer" });
}
