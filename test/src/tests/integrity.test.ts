import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { consume } from "@ndn/endpoint";
import { Forwarder as NdnForwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { UnixTransport } from "@ndn/node-transport";
import { Interest, Name } from "@ndn/packet";
import { canonicalBlobName, legacyBlobName, makeBlobId, SEGMENT_SIZE, segmentCount } from "@ndnreg/shared/ndn";

import { type ClientHandle, type CountingProxy, pullImage, Stack, verifyPulled } from "../bench/index.js";
import { blobLog, blobSources, pushRawBlob, pushTestImage, sha256Text } from "./helpers.js";

/**
 * A producer that publishes wrong bytes under the right names: the real server reading the
 * registry through a proxy that flips a bit in every blob body.
 */
describe("wrong bytes over NDN are never served", () => {
  let stack: Stack;
  let corrupting: CountingProxy;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "integrity" });
    corrupting = await stack.proxy(false);
    corrupting.corruptBlobs = true;
    await stack.stopServer();
    await stack.startServer({ NDNREG_UPSTREAM: corrupting.url });
    client = await stack.startClient();
  });
  after(async () => {
    await stack?.stop();
  });

  test("a small blob whose NDN copy is wrong is answered with the registry's bytes in the same response", async () => {
    const bytes = randomBytes(300_000);
    const digest = await pushRawBlob(stack.registry.url, "integrity/small", bytes);
    const res = await fetch(`${client.url}/v2/integrity/small/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(sha256Text(Buffer.from(await res.arrayBuffer())), digest);
    await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"digest mismatch: blob served over http instead"`));
    assert.equal((await blobSources(client, [digest])).get(digest), "http");
  });

  test("a large blob whose bytes do not match the digest is aborted, and the next response comes over HTTP", async () => {
    const bytes = randomBytes(5_000_000); // above the 4 MiB held back for verification
    const digest = await pushRawBlob(stack.registry.url, "integrity/blob", bytes);
    const url = `${client.url}/v2/integrity/blob/blobs/${digest}`;

    const first = await fetch(url);
    assert.equal(first.status, 200);
    let body: Buffer | undefined;
    try {
      body = Buffer.from(await first.arrayBuffer());
    } catch {
      body = undefined; // aborted mid-body: what must happen
    }
    assert.ok(body === undefined || body.length < bytes.length, "a complete body was served from wrong bytes");
    await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"digest mismatch: response aborted`));

    const second = await fetch(url);
    assert.equal(second.status, 200);
    const good = Buffer.from(await second.arrayBuffer());
    assert.equal(sha256Text(good), digest);
    assert.equal((await blobSources(client, [digest])).get(digest), "http");
  });

  test("retried pulls end with the right image: small blobs heal at once, a large poisoned blob fails one attempt", async () => {
    const image = await pushTestImage(stack, "integrity/image:v1", { format: "oci", layers: [5_000_000, 90_000] });
    let failures = 0;
    for (let attempt = 0; attempt <= image.blobs.length; ++attempt) {
      try {
        const out = await pullImage(client.host, "integrity/image:v1", path.join(stack.runDir, `out-${attempt}`));
        await verifyPulled(image, out);
        break;
      } catch (err: unknown) {
        assert.match(String(err), /skopeo/, "only skopeo's refusal of an aborted blob may fail an attempt");
        ++failures;
      }
    }
    assert.equal(failures, 1, "exactly the attempt that met the large poisoned layer fails");
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["http"]);
  });
});

describe("a rogue producer competing with the honest server on the same prefix", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "rogue" });
    const corrupting = await stack.proxy(false);
    corrupting.corruptBlobs = true;
    // Both register the prefix; the rogue's route is cheaper, so ndnd's best-route strategy sends
    // Interests to it first (asserted below: this cannot pass without meeting it).
    await stack.stopServer();
    await stack.startExtraServer({ NDNREG_UPSTREAM: corrupting.url, NDNREG_ROUTE_COST: "0" });
    await stack.waitForRoute();
    await stack.startServer({ NDNREG_ROUTE_COST: "100" });
    client = await stack.startClient();
  });
  after(async () => {
    await stack?.stop();
  });

  test("whichever producer answers, every pull that completes has the right bytes, and retries end with the image", async () => {
    const image = await pushTestImage(stack, "rogue/image:v1", { format: "oci", layers: [6_000_000, 1_000_000, 50_000] });
    let completed = 0;
    for (let attempt = 0; attempt < 4 && completed < 2; ++attempt) {
      try {
        const out = await pullImage(client.host, "rogue/image:v1", path.join(stack.runDir, `out-rogue-${attempt}`));
        await verifyPulled(image, out); // throws on any wrong byte
        ++completed;
      } catch (err: unknown) {
        assert.match(String(err), /skopeo/, "a pull may fail (aborted blob) but never complete with wrong bytes");
      }
    }
    assert.equal(completed, 2, "two pulls should complete within four attempts");
    assert.ok(client.proc.grep(/"digest mismatch/).length > 0, "the rogue producer was never met");
  });
});

describe("with a trust anchor: a rogue producer registered before the honest one", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "rogue-anchor" });
    const key = await stack.serverKey();
    const corrupting = await stack.proxy(false);
    corrupting.corruptBlobs = true;
    await stack.stopServer();
    // The rogue has no keychain: it signs with a key of its own, which the anchor does not name.
    await stack.startExtraServer({ NDNREG_UPSTREAM: corrupting.url, NDNREG_ROUTE_COST: "0" });
    await stack.waitForRoute();
    await stack.startServer({ ...key.env, NDNREG_ROUTE_COST: "100" });
    client = await stack.startClient({ args: ["--trust-anchor", key.certFile] });
  });
  after(async () => {
    await stack?.stop();
  });

  test("no pull fails and no wrong byte reaches the writer: the rogue's packets are refused, the bytes come over HTTP", async () => {
    const image = await pushTestImage(stack, "rogue/anchored:v1", { format: "oci", layers: [6_000_000, 1_000_000, 50_000] });
    for (let attempt = 0; attempt < 2; ++attempt) {
      await verifyPulled(image, await pullImage(client.host, "rogue/anchored:v1", path.join(stack.runDir, `out-anchored-${attempt}`)));
    }
    assert.equal(client.proc.grep(/"digest mismatch/).length, 0, "a wrong copy reached the writer");
    assert.ok(client.proc.grep(/"reason":"bad-metadata"/).length > 0, "the rogue producer was never met");
  });
});

describe("with a trust anchor: a router cache poisoned with wrong segments", () => {
  let stack: Stack;

  before(async () => {
    stack = await Stack.start({ label: "poisoned" });
  });
  after(async () => {
    await stack?.stop();
  });

  test("each wrong segment is dropped and fetched again by its exact name: every blob over NDN, right bytes, no failed pull", async () => {
    const key = await stack.serverKey();
    const image = await pushTestImage(stack, "poison/image:v1", { format: "oci", layers: [6_000_000, 1_000_000, 50_000] });
    const corrupting = await stack.proxy(false);
    corrupting.corruptBlobs = true;
    await stack.stopServer();
    const rogue = await stack.startExtraServer({ NDNREG_UPSTREAM: corrupting.url });
    await stack.waitForRoute();
    // Fill the forwarder's content store with the rogue's canonical segments of every blob.
    const prefix = new Name(stack.prefix);
    const fw = NdnForwarder.create();
    const face = await UnixTransport.createFace({ fw, addRoutes: [prefix] }, stack.forwarder.socketPath);
    let poisoned = 0;
    try {
      for (const blob of image.blobs) {
        const id = makeBlobId("poison/image", blob.digest)!;
        const bytes = readFileSync(path.join(image.dir, blob.digest.slice(7)));
        await consume(new Interest(legacyBlobName(prefix, id).append(Segment, 0), Interest.MustBeFresh), { fw }); // teaches the rogue the digest
        const name = canonicalBlobName(prefix, id.digest);
        const segs = Array.from({ length: segmentCount(blob.size) }, (_, i) => i);
        for (let i = 0; i < segs.length; i += 64) {
          const interests = segs.slice(i, i + 64).map((s) => new Interest(name.append(Segment, s), Interest.MustBeFresh));
          const datas = await Promise.all(interests.map((interest) => consume(interest, { fw, retx: 2 })));
          poisoned += datas.filter((d, j) => !Buffer.from(d.content).equals(bytes.subarray((i + j) * SEGMENT_SIZE, (i + j + 1) * SEGMENT_SIZE))).length;
        }
      }
    } finally {
      face.close();
    }
    assert.ok(poisoned >= 3, `only ${poisoned} wrong segments cached: the test cannot show anything`);
    await rogue.stop();
    await stack.startServer(key.env);
    const client = await stack.startClient({ args: ["--trust-anchor", key.certFile] });
    await verifyPulled(image, await pullImage(client.host, "poison/image:v1", path.join(stack.runDir, "out-poisoned")));
    let refetched = 0;
    for (const blob of image.blobs) {
      const log = await blobLog(client, blob.digest);
      assert.equal(log.source, "ndn", blob.digest);
      refetched += log.refetched ?? 0;
    }
    assert.equal(refetched, poisoned, "every wrong segment was replaced by its exact copy");
    assert.equal(client.proc.grep(/"digest mismatch/).length, 0);
  });
});

/**
 * An upstream whose HEAD gives a wrong size (the honest producer has the real blob): the client
 * names the size as the cause, serves the blob over HTTP, and never calls it a digest mismatch.
 */
describe("an upstream whose HEAD size is wrong", () => {
  let stack: Stack;
  let lying: CountingProxy;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "headsize" });
    lying = await stack.proxy(false);
    client = await stack.startClient({ upstream: lying.url });
  });
  after(async () => {
    await stack?.stop();
  });

  const cases: Array<[string, number, number]> = [
    ["one segment short", 300_000, -8000],
    ["one byte long", 300_001, +1],
  ];
  for (const [what, size, delta] of cases) {
    test(`${what}: the blob comes over HTTP in the same response; the log names the size`, async () => {
      const bytes = randomBytes(size);
      const digest = await pushRawBlob(stack.registry.url, `headsize/small${size}`, bytes);
      lying.headSizeDelta = delta;
      const res = await fetch(`${client.url}/v2/headsize/small${size}/blobs/${digest}`);
      lying.headSizeDelta = 0;
      assert.equal(res.status, 200);
      assert.equal(sha256Text(Buffer.from(await res.arrayBuffer())), digest);
      await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob size: the upstream's HEAD and the producer disagree; blob served over http`));
      assert.equal((await blobSources(client, [digest])).get(digest), "http");
      assert.equal(client.proc.grep(new RegExp(`"digest":"${digest}".*digest mismatch`)).length, 0, "blamed on a digest mismatch");
    });
  }

  test("a large blob (above the 4 MiB held back) one byte off: the metadata names the size before any byte, so it comes over HTTP in the same response", async () => {
    const bytes = randomBytes(5_000_001);
    const digest = await pushRawBlob(stack.registry.url, "headsize/large", bytes);
    const url = `${client.url}/v2/headsize/large/blobs/${digest}`;
    lying.headSizeDelta = 1;
    const first = await fetch(url);
    assert.equal(first.status, 200);
    assert.equal(sha256Text(Buffer.from(await first.arrayBuffer())), digest);
    await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob size: the upstream's HEAD and the producer disagree; blob served over http`));
    const second = await fetch(url);
    lying.headSizeDelta = 0;
    assert.equal(second.status, 200);
    assert.equal(sha256Text(Buffer.from(await second.arrayBuffer())), digest);
    assert.equal((await blobSources(client, [digest])).get(digest), "http", "the digest goes over HTTP from then on");
    assert.equal(client.proc.grep(new RegExp(`"digest":"${digest}".*digest mismatch`)).length, 0, "blamed on a digest mismatch");
  });
});
