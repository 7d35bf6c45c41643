import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";

import { Forwarder, getBlob, hashFile, pullImage, RawFace, type RawPacket, scrapeMetrics, Stack, verifyPulled, waitUntil } from "../bench/index.js";
import { Segment } from "@ndn/naming-convention2";
import { Interest, Name } from "@ndn/packet";
import { canonicalBlobName, MANIFEST_FANOUT, ManifestKeyword, parseSha256Digest, SEGMENT_SIZE } from "@ndnreg/shared/ndn";

import { blobLog, blobSources, metric, pushRawBlob, pushTestImage } from "./helpers.js";

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

/**
 * Segments `segments` of a stored blob, fetched through `fw` (no cache holds them) and decoded by
 * NDNts: each is the blob's bytes and its implicit digest is its entry in the server's signed
 * manifest (whose nodes the store serves as the server signed them).
 */
async function assertServedSegments(fw: Forwarder, prefix: string, digest: string, blobFile: string, segments: readonly number[]): Promise<void> {
  const face = await RawFace.connect(fw.socketPath);
  try {
    const base = canonicalBlobName(new Name(prefix), parseSha256Digest(digest)!);
    const fetchOne = async (name: Name): Promise<RawPacket> => {
      face.send(new Interest(name, Interest.Lifetime(2000)));
      const p = await face.receive(3000);
      assert.ok(p?.data, `${name.toString()}: a Data`);
      return p;
    };
    const nodes = new Map<number, Uint8Array>();
    const bytes = readFileSync(blobFile);
    for (const seg of segments) {
      const got = await fetchOne(base.append(Segment, seg));
      assert.ok(got.data!.name.equals(base.append(Segment, seg)));
      assert.deepEqual(Buffer.from(got.data!.content), bytes.subarray(seg * SEGMENT_SIZE, (seg + 1) * SEGMENT_SIZE), `segment ${seg}: the blob's bytes`);
      const n = Math.floor(seg / MANIFEST_FANOUT);
      if (!nodes.has(n)) {
        nodes.set(n, (await fetchOne(base.append(ManifestKeyword).append(Segment, n))).data!.content);
      }
      const at = (seg % MANIFEST_FANOUT) * 32;
      assert.deepEqual(Buffer.from(await got.data!.computeImplicitDigest()), Buffer.from(nodes.get(n)!.subarray(at, at + 32)),
        `segment ${seg}: implicit digest is the server's manifest entry`);
    }
  } finally {
    face.close();
  }
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
    const pending = getBlob(first, "store/kill", big.digest).catch(() => undefined); // settles either way: see below
    // Killed once a file of the store (wherever the write puts it) holds part of the blob.
    const partial = () => [tmpDir, path.join(storeDir, "blobs", "sha256")].flatMap((d) => readdirSync(d).map((f) => statSync(path.join(d, f)).size))
      .find((n) => n >= 8_000_000 && n < big.size);
    await waitUntil("a store write under way", () => Promise.resolve(partial() !== undefined), 30_000, 2);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    // The response never waits for the store (up to 64 MiB may be queued for the disk), so the GET
    // may have completed before the kill; what matters is what the kill leaves on disk.
    await pending;
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
      const layer = image.layers.find((l) => l.size > 2_000_000)!;
      // Sequential (read-ahead chunks), then back to one no chunk holds (a single-segment read), and the last, short one.
      await assertServedSegments(site, stack.prefix, layer.digest, path.join(image.dir, layer.digest.slice(7)), [0, 1, 2, 40, 3, 200, 374]);
      const b = await stack.startClient({ upstream: refusing.url, router: site.uri, args: anchor });
      await verifyPulled(image, await pullImage(b.host, "store/ndn:v1", path.join(stack.runDir, "out-b")));
      assert.deepEqual([...new Set((await blobSources(b, digests)).values())], ["ndn"]);
      for (const l of b.blobLogs()) {
        assert.equal(l.names, "canonical");
        assert.equal(l.badSegments ?? 0, 0, `${l.digest}: every segment matched the server's signed manifest`);
      }
      assert.equal(refusing.counters.blobBytes, 0);
      // Every segment left A on its uplink's hot path (a Unix socket), none through NDNts.
      const served = await scrapeMetrics(`${a.url}/metrics`);
      assert.ok((served.get('ndnreg_client_store_segments_total{path="wire"}') ?? 0) >= 375, "the store answered on the wire path");
      assert.equal(served.get('ndnreg_client_store_segments_total{path="ndnts"}') ?? 0, 0);
      assert.ok((served.get('ndnreg_client_store_reads_total{kind="chunk"}') ?? 0) > 0);
    } finally {
      await site.stop();
    }
  });

  test("a neighbour's store that answers badly is caught and routed around: with an anchor each wrong segment is fetched again by digest from the honest path; without, the blob comes over HTTP", async () => {
    const stack = await Stack.start({ label: "store-rogue", csCapacity: 8192 });
    stacks.push(stack);
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    const bytes = randomBytes(3_000_000); // 375 segments, two manifest nodes
    const digest = await pushRawBlob(stack.registry.url, "store/rogue", bytes);
    const site = await Forwarder.start(stack.runDir, { name: "rogue-site", csCapacity: 8192 });
    try {
      const siteRoutes = async () => {
        await site.addRoute(stack.prefix, stack.forwarder.tcpUri);
        // The honest path for the blob's own name, dearer than the store's registration (cost 10).
        await site.addRoute(canonicalBlobName(new Name(stack.prefix), parseSha256Digest(digest)!).toString(), stack.forwarder.tcpUri, 100);
      };
      await siteRoutes();
      // The rogue: a real store on the site's forwarder whose file went bad after it was verified
      // (a broken disk, or a host that lies): it serves the stored, server-signed manifest and
      // metadata, and wrong bytes in three segments.
      const storeDir = path.join(stack.runDir, "store-rogue");
      const rogueArgs = ["--store-dir", storeDir];
      let rogue = await stack.startClient({ router: site.uri, args: rogueArgs });
      await getBlob(rogue, "store/rogue", digest);
      await rogue.proc.waitForLine(/"store: blob stored"/);
      await rogue.stop();
      const wrong = [5, 100, 300];
      const file = path.join(storeDir, "blobs", "sha256", digest.slice(7));
      const stored = readFileSync(file);
      for (const seg of wrong) {
        stored[seg * SEGMENT_SIZE + 17]! ^= 0x40;
      }
      writeFileSync(file, stored);
      const freshSite = async () => {
        await site.restart(); // its cache empty: Interests reach the rogue
        await siteRoutes();
        await waitUntil("the rogue's routes", async () => ((await site.routes()).match(/cost=10\b/g) ?? []).length >= 2, 15_000, 200);
      };
      rogue = await stack.startClient({ router: site.uri, args: rogueArgs });
      await freshSite();

      const anchored = await stack.startClient({ router: site.uri, args: ["--trust-anchor", key.certFile] });
      assert.equal((await getBlob(anchored, "store/rogue", digest)).bytes, bytes.length); // getBlob checks the digest
      const log = await blobLog(anchored, digest);
      assert.equal(log.source, "ndn");
      assert.equal(log.badSegments, wrong.length, "every wrong segment met was dropped");
      assert.equal(log.refetched, wrong.length, "and fetched again by its implicit digest, over NDN");
      assert.equal(await metric(anchored.url, 'ndnreg_client_bad_segments_total{replaced_by="exact-name"}'), wrong.length);
      assert.ok(await metric(rogue.url, 'ndnreg_client_store_segments_total{path="wire"}') > 300, "the rogue answered the pull");

      await freshSite();
      const plain = await stack.startClient({ router: site.uri });
      assert.equal((await getBlob(plain, "store/rogue", digest)).bytes, bytes.length, "right bytes without an anchor too");
      await plain.proc.waitForLine(new RegExp(`"digest":"${digest}".*"digest mismatch: blob served over http instead"`));
      assert.equal((await blobSources(plain, [digest])).get(digest), "http");
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
