import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, type CountingProxy, NDN_MAX_PACKET_BYTES, pullImage, Stack, STOCK_UDP_MTU, verifyPulled } from "../bench/index.js";
import { pushRawBlob, pushTestImage, sha256Text, blobSources } from "./helpers.js";

/**
 * Every pull here goes through a client whose upstream refuses blob GETs: a pull that succeeds
 * with matching digests proves the blob bytes travelled over NDN.
 */
describe("pull through the client, blobs over NDN only", () => {
  let stack: Stack;
  let refusing: CountingProxy;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "pull", csCapacity: 40_000 });
    refusing = await stack.proxy(true);
    client = await stack.startClient({ upstream: refusing.url });
  });
  after(async () => {
    await stack?.stop();
  });

  const cases = [
    { repo: "single", format: "docker", layers: [10, 7999, 8000, 8001, 16000, 1 << 20] },
    { repo: "library/busybox", format: "oci", layers: [4096, 300_000] },
    { repo: "a/b/c", format: "docker", layers: [123_457, 2 << 20] },
    { repo: "org.example/team_x/app-name", format: "oci", layers: [55_555] },
  ] as const;
  for (const c of cases) {
    test(`${c.format} image in repository ${c.repo}`, async () => {
      const image = await pushTestImage(stack, `${c.repo}:v1`, { format: c.format, layers: c.layers });
      const out = await pullImage(client.host, `${c.repo}:v1`, path.join(stack.runDir, `out-${c.repo.replaceAll("/", "_")}`));
      await verifyPulled(image, out);
      const sources = await blobSources(client, image.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"], `sources: ${JSON.stringify([...sources])}`);
    });
  }

  for (const format of ["oci", "docker"] as const) {
    test(`multi-arch ${format} index`, async () => {
      const repo = `multi/${format}`;
      const image = await pushTestImage(stack, `${repo}:v1`, { format, layers: [20_000, 100_000], platforms: ["linux/amd64", "linux/arm64"] });
      const out = await pullImage(client.host, `${repo}:v1`, path.join(stack.runDir, `out-multi-${format}`), { all: true });
      await verifyPulled(image, out);
      assert.equal(image.blobs.length, 6);
      const sources = await blobSources(client, image.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    });
  }

  test("a 64 MiB layer", async () => {
    const image = await pushTestImage(stack, "large:v1", { format: "oci", layers: [64 << 20, 3_000_000] });
    const out = await pullImage(client.host, "large:v1", path.join(stack.runDir, "out-large"));
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.layers.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
  });

  test("a zero-byte blob", async () => {
    const digest = await pushRawBlob(stack.registry.url, "edge/empty", new Uint8Array());
    assert.equal(digest, sha256Text(new Uint8Array()));
    const res = await fetch(`${client.url}/v2/edge/empty/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), "0");
    assert.equal(res.headers.get("docker-content-digest"), digest);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
    assert.equal((await blobSources(client, [digest])).get(digest), "ndn");
  });

  test("a client on a UDP uplink: whole Data at the loopback MTU, then NDNLPv2 fragments put back together on the hot path", async () => {
    const udpClient = await stack.startClient({ upstream: refusing.url, router: stack.forwarder.udpUri });
    assert.equal(stack.forwarder.udpMtu, NDN_MAX_PACKET_BYTES, "a loopback forwarder's UDP MTU carries whole segments");
    const pull = async (ref: string) => {
      const image = await pushTestImage(stack, ref, { format: "oci", layers: [30_000, 500_000] });
      const out = await pullImage(udpClient.host, ref, path.join(stack.runDir, `out-${ref.replace(/\W/g, "-")}`));
      await verifyPulled(image, out);
      const sources = await blobSources(udpClient, image.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    };
    await pull("udp/whole:v1");
    // ndnd's stock MTU on this client's face: every 8000-byte segment now leaves ndnd in fragments.
    const face = await stack.forwarder.udpFaceOf(udpClient.proc.child.pid!);
    await stack.forwarder.setFaceMtu(face, STOCK_UDP_MTU);
    await pull("udp/fragments:v1");
    assert.match(await stack.forwarder.control("face-list"), new RegExp(`faceid=${face} .* mtu=${STOCK_UDP_MTU}B`), "the same face carried the pull");
  });

  test("the refusing upstream never served a blob byte", () => {
    assert.equal(refusing.counters.blobBytes, 0);
    assert.equal(refusing.counters.refusedBlobGets, 0, "the client never needed the HTTP path");
  });
});
