import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, type CountingProxy, pullImage, Stack, verifyPulled } from "../bench/index.js";
import { blobLog, blobSources, pushHeaders, pushRawBlob, pushTestImage, sha256Text, tokenFor } from "./helpers.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** A blob HEAD the client sent the upstream (the authorising HEAD), by path. */
function blobHeads(proxy: CountingProxy, repository?: string): string[] {
  return proxy.requestLog.filter((r) => /^HEAD \/v2\/.+\/blobs\//.test(r) && (repository === undefined || r.startsWith(`HEAD /v2/${repository}/blobs/`)));
}

/**
 * An OCI image of one layer pushed by hand: `layerSize` is the size its manifest states for the
 * layer (the registry checks only that the digest exists), so a descriptor can be wrong.
 */
async function pushHandMadeImage(stack: Stack, repository: string, layer: Buffer, layerSize = layer.length): Promise<{ config: string; layer: string }> {
  const registryUrl = stack.registry.url;
  const headers = pushHeaders(stack.registry, repository);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configDigest = await pushRawBlob(registryUrl, repository, config, headers);
  const layerDigest = await pushRawBlob(registryUrl, repository, layer, headers);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: layerSize }],
  });
  const put = await fetch(`${registryUrl}/v2/${repository}/manifests/v1`, { method: "PUT", body: manifest, headers: { ...headers, "content-type": OCI_MANIFEST } });
  assert.equal(put.status, 201, await put.text());
  return { config: configDigest, layer: layerDigest };
}

describe("blob GETs authorised by the manifest relayed to the same caller (no HEAD upstream)", () => {
  let stack: Stack;
  let counting: CountingProxy;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "grants", registryAuth: "token" });
    counting = await stack.proxy(false);
    client = await stack.startClient({ upstream: counting.url });
  });
  after(async () => {
    await stack?.stop();
  });

  test("a skopeo pull sends no blob HEAD upstream after the manifest; every blob over NDN", async () => {
    const image = await pushTestImage(stack, "team/granted:v1", { format: "oci", layers: [300_000, 1_200_000, 5000] });
    const out = await pullImage(client.host, "team/granted:v1", path.join(stack.runDir, "out-granted"));
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], JSON.stringify([...sources]));
    assert.ok(counting.requestLog.some((r) => r.startsWith("GET /v2/team/granted/manifests/v1")), counting.requestLog.join("\n"));
    assert.deepEqual(blobHeads(counting, "team/granted"), []);
    assert.equal(counting.counters.blobGets, 0, "no blob byte over HTTP");
  });

  test("a multi-arch index grants nothing itself; the platform manifests fetched next do", async () => {
    const image = await pushTestImage(stack, "team/granted-index:v1", { format: "oci", layers: [40_000, 90_000], platforms: ["linux/amd64", "linux/arm64"] });
    const out = await pullImage(client.host, "team/granted-index:v1", path.join(stack.runDir, "out-granted-index"), { all: true });
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], JSON.stringify([...sources]));
    const manifestGets = counting.requestLog.filter((r) => r.startsWith("GET /v2/team/granted-index/manifests/"));
    assert.equal(manifestGets.length, 3, `the index, then one manifest per platform: ${manifestGets.join(", ")}`);
    assert.deepEqual(blobHeads(counting, "team/granted-index"), []);
  });

  // The server reads anonymously and publishes team/ blobs: a wrongly granted GET would be served over NDN.
  test("a caller without credentials, or with another repository's token, still gets the upstream's 401 after an authorised caller's manifest", async () => {
    const repository = "team/granted-auth";
    const layer = randomBytes(150_000);
    const { layer: digest } = await pushHandMadeImage(stack, repository, layer);
    await pushHandMadeImage(stack, "team/elsewhere", randomBytes(1000));
    const auth = await tokenFor(`${client.url}/v2/${repository}/manifests/v1`);
    const manifest = await fetch(`${client.url}/v2/${repository}/manifests/v1`, { headers: { accept: OCI_MANIFEST, ...auth } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();

    const headsBefore = blobHeads(counting, repository).length;
    const granted = await fetch(`${client.url}/v2/${repository}/blobs/${digest}`, { headers: auth });
    assert.equal(granted.status, 200);
    assert.deepEqual(Buffer.from(await granted.arrayBuffer()), layer);
    assert.equal(blobHeads(counting, repository).length, headsBefore, "the authorised caller's GET was planned from the manifest");
    assert.equal((await blobLog(client, digest)).source, "ndn");

    const anonymous = await fetch(`${client.url}/v2/${repository}/blobs/${digest}`);
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
    const otherToken = await fetch(`${client.url}/v2/${repository}/blobs/${digest}`, { headers: await tokenFor(`${client.url}/v2/team/elsewhere/manifests/v1`) });
    assert.equal(otherToken.status, 401, "a token for team/elsewhere has no access here");
    await otherToken.arrayBuffer();
    assert.equal(blobHeads(counting, repository).length, headsBefore + 2, "each other caller's GET asked the upstream");
  });

  test("a digest listed in repository A's manifest, asked in repository B with A's token, keeps the HEAD (and its 401)", async () => {
    const layer = randomBytes(120_000);
    const { layer: digest } = await pushHandMadeImage(stack, "team/repo-a", layer);
    await pushRawBlob(stack.registry.url, "team/repo-b", layer, pushHeaders(stack.registry, "team/repo-b"));
    const authA = await tokenFor(`${client.url}/v2/team/repo-a/manifests/v1`);
    const manifest = await fetch(`${client.url}/v2/team/repo-a/manifests/v1`, { headers: { accept: OCI_MANIFEST, ...authA } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();

    const inA = await fetch(`${client.url}/v2/team/repo-a/blobs/${digest}`, { headers: authA });
    assert.equal(inA.status, 200);
    assert.deepEqual(Buffer.from(await inA.arrayBuffer()), layer);
    assert.deepEqual(blobHeads(counting, "team/repo-a"), []);

    // A's token does not cover B: the upstream's HEAD refuses it, and that answer stands.
    const inB = await fetch(`${client.url}/v2/team/repo-b/blobs/${digest}`, { headers: authA });
    assert.equal(inB.status, 401);
    await inB.arrayBuffer();
    assert.deepEqual(blobHeads(counting, "team/repo-b"), [`HEAD /v2/team/repo-b/blobs/${digest}`]);
  });

  test("a manifest stating a wrong layer size: the producer disagrees, the upstream's HEAD decides, the right bytes are served", async () => {
    for (const [i, delta] of [1, -1].entries()) {
      const repository = `team/wrong-size-${i}`;
      const layer = randomBytes(700_000);
      const { layer: digest } = await pushHandMadeImage(stack, repository, layer, layer.length + delta);
      const auth = await tokenFor(`${client.url}/v2/${repository}/manifests/v1`);
      const manifest = await fetch(`${client.url}/v2/${repository}/manifests/v1`, { headers: { accept: OCI_MANIFEST, ...auth } });
      assert.equal(manifest.status, 200);
      assert.equal((JSON.parse(await manifest.text()) as { layers: Array<{ size: number }> }).layers[0]!.size, layer.length + delta);

      const res = await fetch(`${client.url}/v2/${repository}/blobs/${digest}`, { headers: auth });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-length"), String(layer.length));
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256Text(body), digest);
      assert.deepEqual(blobHeads(counting, repository), [`HEAD /v2/${repository}/blobs/${digest}`], "the descriptor was not trusted");
      assert.equal((await blobLog(client, digest)).source, "ndn", "the HEAD's size and the producer's agree: NDN");
      assert.ok(client.proc.grep(new RegExp(`"digest":"${digest}".*the manifest's descriptor and the producer disagree`)).length === 1);
    }
  });
  test("a wrong layer size in the manifest never costs the edge store its right copy", async () => {
    const repository = "team/wrong-size-stored";
    const layer = randomBytes(300_000);
    const { layer: digest } = await pushHandMadeImage(stack, repository, layer, layer.length + 1);
    const stored = await stack.startClient({ upstream: counting.url, args: ["--store-dir", path.join(stack.runDir, "store-wrong-size")] });
    const auth = await tokenFor(`${stored.url}/v2/${repository}/manifests/v1`);
    const first = await fetch(`${stored.url}/v2/${repository}/blobs/${digest}`, { headers: auth });
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    await stored.proc.waitForLine(new RegExp(`"digest":"${digest}".*"store: blob stored"`), 30_000);

    const manifest = await fetch(`${stored.url}/v2/${repository}/manifests/v1`, { headers: { accept: OCI_MANIFEST, ...auth } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    const again = await fetch(`${stored.url}/v2/${repository}/blobs/${digest}`, { headers: auth });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("content-length"), String(layer.length));
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), layer);
    await stored.proc.waitForLine(new RegExp(`"digest":"${digest}".*"source":"store"`));
    assert.deepEqual(stored.proc.grep(/stored copy unreadable or wrong/), []);
    assert.equal(blobHeads(counting, repository).length, 2, "the first GET's HEAD, and the one the wrong descriptor sent it back to");
  });
});
