import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";

import { Forwarder, getBlob, hashFile, pullImage, scrapeMetrics, Stack, verifyPulled, waitUntil } from "../bench/index.js";
import { Name } from "@ndn/packet";
import { canonicalBlobName, parseSha256Digest } from "@ndnreg/shared/ndn";

import { blobSources, pushRawBlob, pushTestImage } from "./helpers.js";

const LAYERS = [3_000_000, 2_000_000, 1_000_000, 50_000];

/** Every file under the store's blobs/ hashes to its name: nothing partial looks whole. */
async function assertStoredBlobsWhole(storeDir: string): Promise<string[]> {
  const dir = path.join(storeDir, "blobs", "sha256");
  const names = existsSync(dir) ? readdirSync(dir) : [];
  for (const hex of names) {
    assert.equal(await hashFile(path.join(dir, hex)), `sha256:${hex}`, `stored blob ${hex} is not whole`);
  }
  return names;
}

async function metric(url: string, series: string): Promise<number> {
  return (await scrapeMetrics(`${url}/metrics`)).get(series) ?? 0;
}

/** The edge store: verified NDN bytes kept on disk, served after restarts, and never a partial blob. */
describe("edge store", () => {
  const stacks: Stack[] = [];
  after(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
  });

  test("a pull over NDN fills the store; restarted with the server gone, the forwarder's cache empty and blob GETs refused, the client pulls from it", async () => {
    const stack = await Stack.start({ label: "store-fill", csCapacity: 8192 });
    stacks.push(stack);
    const image = await pushTestImage(stack, "store/fill:v1", { format: "oci", layers: LAYERS });
    const digests = image.blobs.map((b) => b.digest);
    const stored = [...digests, image.manifestDigest]; // the manifest is kept too, fetched over NDN
    const refusing = await stack.proxy(true);
    const storeDir = path.join(stack.runDir, "store");
    const args = ["--store-dir", storeDir];

    const first = await stack.startClient({ upstream: refusing.url, args });
    await verifyPulled(image, await pullImage(first.host, "store/fill:v1", path.join(stack.runDir, "out1")));
    assert.deepEqual([...new Set((await blobSources(first, digests)).values())], ["ndn"]);
    await first.proc.waitUntil("every blob and the manifest stored", () => Promise.resolve(first.proc.grep(/"store: blob stored"/).length === stored.length), 10_000);
    assert.deepEqual((await assertStoredBlobsWhole(storeDir)).sort(), stored.map((d) => d.slice("sha256:".length)).sort());
    assert.deepEqual(readdirSync(path.join(storeDir, "tmp")), []);
    await first.stop();

    await stack.stopServer();
    await stack.forwarder.restart();
    const second = await stack.startClient({ upstream: refusing.url, args });
    await verifyPulled(image, await pullImage(second.host, "store/fill:v1", path.join(stack.runDir, "out2")));
    assert.deepEqual([...new Set((await blobSources(second, digests)).values())], ["store"]);
    assert.equal(refusing.counters.blobBytes, 0);
    const imageBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    assert.ok(await metric(second.url, 'ndnreg_client_blob_bytes_total{path="store"}') >= imageBytes);
    assert.equal(await metric(second.url, "ndnreg_client_store_blobs"), stored.length);
  });

  test("kill -9 during a store write: nothing partial is under blobs/, and after a restart tmp/ is empty and the blob comes whole over NDN", async () => {
    const stack = await Stack.start({ label: "store-kill", csCapacity: 8192 });
    stacks.push(stack);
    const image = await pushTestImage(stack, "store/kill:v1", { format: "oci", layers: [100_000_000, 50_000] });
    const big = image.layers.find((l) => l.size === 100_000_000)!;
    const small = image.layers.find((l) => l.size !== 100_000_000)!;
    const storeDir = path.join(stack.runDir, "store");
    const tmpDir = path.join(storeDir, "tmp");
    const args = ["--store-dir", storeDir];

    const first = await stack.startClient({ args });
    await getBlob(first, "store/kill", small.digest);
    await first.proc.waitForLine(/"store: blob stored"/);
    const pending = getBlob(first, "store/kill", big.digest).then(() => "completed", (err: unknown) => String(err));
    // Killed once a file of the store (wherever the write puts it) holds part of the blob.
    const partial = () => [tmpDir, path.join(storeDir, "blobs", "sha256")].flatMap((d) => readdirSync(d).map((f) => statSync(path.join(d, f)).size))
      .find((n) => n >= 8_000_000 && n < big.size);
    await waitUntil("a store write under way", () => Promise.resolve(partial() !== undefined), 30_000, 2);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    assert.notEqual(await pending, "completed");
    const stored = await assertStoredBlobsWhole(storeDir);
    assert.ok(!stored.includes(big.digest.slice("sha256:".length)), "the big blob is not in the store");
    assert.ok(stored.includes(small.digest.slice("sha256:".length)), "the small blob stored before is kept");

    const second = await stack.startClient({ args });
    assert.deepEqual(readdirSync(tmpDir), [], "tmp/ emptied at start");
    const got = await getBlob(second, "store/kill", big.digest);
    assert.equal(got.bytes, big.size);
    await second.proc.waitForLine(new RegExp(`"digest":"${big.digest}".*"blob done"`));
    const done = second.blobLogs().find((l) => l.digest === big.digest)!;
    assert.equal(done.source, "ndn");
    assert.equal(done.ndnBytes, big.size, "every byte came over NDN, none from a partial file");
    await second.proc.waitForLine(new RegExp(`"digest":"${big.digest}".*"store: blob stored"`), 30_000);
    assert.ok((await assertStoredBlobsWhole(storeDir)).includes(big.digest.slice("sha256:".length)));
    await getBlob(second, "store/kill", small.digest);
    await second.proc.waitForLine(new RegExp(`"digest":"${small.digest}".*"source":"store"`));
  });

  test("neighbours pull from a store over NDN: client B on a second forwarder gets the image from client A's store, with the server stopped and both caches empty", async () => {
    const stack = await Stack.start({ label: "store-ndn", csCapacity: 8192 });
    stacks.push(stack);
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    // 3 MB: 375 segments, two manifest nodes.
    const image = await pushTestImage(stack, "store/ndn:v1", { format: "oci", layers: [3_000_000, 600_000, 50_000] });
    const digests = image.blobs.map((b) => b.digest);
    const stored = [...digests, image.manifestDigest];
    const refusing = await stack.proxy(true);
    const anchor = ["--trust-anchor", key.certFile];

    const a = await stack.startClient({ upstream: refusing.url, args: ["--store-dir", path.join(stack.runDir, "store-a"), ...anchor] });
    await verifyPulled(image, await pullImage(a.host, "store/ndn:v1", path.join(stack.runDir, "out-a")));
    await a.proc.waitUntil("every blob and the manifest stored", () => Promise.resolve(a.proc.grep(/"store: blob stored"/).length === stored.length), 10_000);

    await stack.stopServer();
    await stack.forwarder.restart(); // A's uplink comes back and registers its blobs again
    const site = await Forwarder.start(stack.runDir, { name: "neighbour", csCapacity: 8192 });
    try {
      await site.addRoute(stack.prefix, stack.forwarder.tcpUri); // a static route: the site's forwarders
      // Two routes per blob: /<prefix>/<digest> and the metadata's discovery name.
      await waitUntil("A's blobs registered", async () => ((await stack.forwarder.routes()).match(/cost=10\b/g) ?? []).length >= 2 * digests.length, 15_000, 200);
      const b = await stack.startClient({ upstream: refusing.url, router: site.uri, args: anchor });
      await verifyPulled(image, await pullImage(b.host, "store/ndn:v1", path.join(stack.runDir, "out-b")));
      assert.deepEqual([...new Set((await blobSources(b, digests)).values())], ["ndn"]);
      for (const l of b.blobLogs()) {
        assert.equal(l.names, "canonical");
        assert.equal(l.badSegments ?? 0, 0, `${l.digest}: every segment matched the server's signed manifest`);
      }
      assert.equal(refusing.counters.blobBytes, 0);
    } finally {
      await site.stop();
    }
  });

  test("a store at its budget evicts the least recently used blob and withdraws its route; the evicted blob comes over NDN again", async () => {
    const stack = await Stack.start({ label: "store-evict", csCapacity: 8192 });
    stacks.push(stack);
    const blobs = [randomBytes(3_000_000), randomBytes(3_000_000)];
    const digests: string[] = [];
    for (const b of blobs) {
      digests.push(await pushRawBlob(stack.registry.url, "store/evict", b));
    }
    const a = await stack.startClient({ args: ["--store-dir", path.join(stack.runDir, "store"), "--store-bytes", "4000000"] });
    // Route names as NDNts reads the forwarder's URIs (ndnd escapes some bytes NDNts prints as they are).
    const routed = async (d: string) => {
      const name = canonicalBlobName(new Name(stack.prefix), parseSha256Digest(d)!);
      return [...(await stack.forwarder.routes()).matchAll(/prefix=(\S+)/g)].some((m) => new Name(m[1]).equals(name));
    };

    await getBlob(a, "store/evict", digests[0]!);
    await a.proc.waitForLine(new RegExp(`"digest":"${digests[0]}".*"store: blob stored"`));
    await waitUntil("the first blob's route", () => routed(digests[0]!), 10_000, 100).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; routes:\n${await stack.forwarder.routes()}`);
    });
    await getBlob(a, "store/evict", digests[1]!);
    await a.proc.waitForLine(new RegExp(`"digest":"${digests[1]}".*"store: blob stored"`));
    await a.proc.waitForLine(new RegExp(`"digest":"${digests[0]}".*"store: evicted"`));
    await waitUntil("the second blob's route, the first one's withdrawn", async () => await routed(digests[1]!) && !await routed(digests[0]!), 10_000, 100);

    await getBlob(a, "store/evict", digests[0]!); // over NDN again (from the server), then stored, evicting the other
    await a.proc.waitForLine(new RegExp(`"digest":"${digests[1]}".*"store: evicted"`));
    const sources = a.blobLogs().filter((l) => l.digest === digests[0]).map((l) => l.source);
    assert.deepEqual(sources, ["ndn", "ndn"]);
    await getBlob(a, "store/evict", digests[0]!);
    await a.proc.waitForLine(new RegExp(`"digest":"${digests[0]}".*"source":"store"`));
  });
});
