import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, test } from "node:test";

import { Forwarder, pullImage, Stack, verifyPulled } from "../bench/index.js";
import { blobSources, pushTestImage } from "./helpers.js";

const LAYERS = [3_000_000, 2_000_000, 1_000_000, 50_000];

/** Routers' content stores answer repeated pulls: proven by taking away every other source. */
describe("in-network caching", () => {
  const stacks: Stack[] = [];
  after(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
  });
  const start = async (label: string) => {
    const s = await Stack.start({ label, csCapacity: 8192 });
    stacks.push(s);
    return s;
  };

  test("a second client is served by the router's cache with the server stopped and blob GETs refused", async () => {
    const stack = await start("cache-two");
    const image = await pushTestImage(stack, "cache/two:v1", { format: "docker", layers: LAYERS });
    const first = await stack.startClient();
    await verifyPulled(image, await pullImage(first.host, "cache/two:v1", path.join(stack.runDir, "out1")));

    await stack.stopServer();
    const refusing = await stack.proxy(true);
    const second = await stack.startClient({ upstream: refusing.url });
    await verifyPulled(image, await pullImage(second.host, "cache/two:v1", path.join(stack.runDir, "out2")));
    const sources = await blobSources(second, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    assert.equal(refusing.counters.blobBytes, 0);
  });

  test("five clients pulling one after another cost the registry at most 1.05x the image's blob bytes", async () => {
    const stack = await start("cache-five");
    const image = await pushTestImage(stack, "cache/five:v1", { format: "oci", layers: LAYERS });
    const imageBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    const before = stack.registry.blobBytesServed;
    for (let i = 1; i <= 5; ++i) {
      const client = await stack.startClient();
      await verifyPulled(image, await pullImage(client.host, "cache/five:v1", path.join(stack.runDir, `out${i}`)));
      const sources = await blobSources(client, image.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"], `client ${i}`);
    }
    await new Promise((r) => setTimeout(r, 300)); // access log lines
    const served = stack.registry.blobBytesServed - before;
    assert.ok(served >= imageBytes, `registry served ${served} bytes, image has ${imageBytes}: the counter is broken`);
    assert.ok(served <= 1.05 * imageBytes, `registry served ${served} bytes for an image of ${imageBytes}`);
  });

  test("two hops: a second client at the edge is served from the edge router's cache", async () => {
    const stack = await start("cache-hops");
    const core = await Forwarder.start(stack.runDir, { name: "core", csCapacity: 8192 });
    const edge = await Forwarder.start(stack.runDir, { name: "edge", csCapacity: 8192 });
    try {
      await core.addRoute(stack.prefix, stack.forwarder.tcpUri);
      await edge.addRoute(stack.prefix, core.tcpUri);
      const image = await pushTestImage(stack, "cache/hops:v1", { format: "oci", layers: LAYERS });
      const refusing = await stack.proxy(true);

      const first = await stack.startClient({ upstream: refusing.url, router: edge.uri });
      await verifyPulled(image, await pullImage(first.host, "cache/hops:v1", path.join(stack.runDir, "out1")));
      assert.deepEqual([...new Set((await blobSources(first, image.blobs.map((b) => b.digest))).values())], ["ndn"]);

      // Only the edge's content store is left: the core forwarder and the server are gone.
      await stack.stopServer();
      await core.stop();
      const second = await stack.startClient({ upstream: refusing.url, router: edge.uri });
      await verifyPulled(image, await pullImage(second.host, "cache/hops:v1", path.join(stack.runDir, "out2")));
      assert.deepEqual([...new Set((await blobSources(second, image.blobs.map((b) => b.digest))).values())], ["ndn"]);
      assert.equal(refusing.counters.blobBytes, 0);
      const cs = await edge.csInfo();
      assert.ok(cs.hits > 0, `edge content store hits: ${JSON.stringify(cs)}`);
    } finally {
      await edge.stop();
      await core.stop();
    }
  });
});
