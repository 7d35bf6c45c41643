import assert from "node:assert/strict";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { after, describe, test } from "node:test";

import { ECDSA, generateSigningKey } from "@ndn/keychain";
import { Name } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { makeTagRecordData, parseSha256Digest, TAG_RECORD_FRESHNESS_MS } from "@ndnreg/shared/ndn";

import { freePort, hashFile, pullImage, Stack, type TestImage, verifyPulled, waitUntil } from "../bench/index.js";

import { blobSources, metric, pushTestImage } from "./helpers.js";

interface RegistryErrors {
  errors: Array<{ code: string; message: string }>;
}

/** Outage mode: the upstream unreachable, pulls by digest still complete from the site's stores over NDN. */
describe("outage mode", () => {
  const stacks: Stack[] = [];
  after(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
  });

  test("registry and server gone, upstream a closed port: a pull by digest completes from a neighbour's store over NDN; by tag it is refused with a clear 503", async () => {
    const stack = await Stack.start({ label: "outage-site", csCapacity: 8192 });
    stacks.push(stack);
    const image = await pushTestImage(stack, "outage/site:v1", { format: "oci", layers: [2_000_000, 300_000, 20_000] });
    const digests = image.blobs.map((b) => b.digest);
    const stored = [...digests, image.manifestDigest];

    // A pulls by tag through the registry: its store keeps the blobs and, fetched over NDN, the manifest.
    const a = await stack.startClient({ args: ["--store-dir", path.join(stack.runDir, "store-a")] });
    await verifyPulled(image, await pullImage(a.host, "outage/site:v1", path.join(stack.runDir, "out-a")));
    await a.proc.waitUntil("blobs and manifest stored", () => Promise.resolve(a.proc.grep(/"store: blob stored"/).length === stored.length), 15_000);
    for (const d of stored) {
      assert.equal(a.proc.grep(new RegExp(`"digest":"${d}".*"store: blob stored"`)).length, 1, `${d} stored`);
    }

    // The WAN is cut: no registry, no server, caches empty; B's upstream is a port nobody listens on.
    await stack.registry.stop();
    await stack.stopServer();
    await stack.forwarder.restart();
    await waitUntil("A's store registered again", async () => ((await stack.forwarder.routes()).match(/cost=10\b/g) ?? []).length >= 2 * stored.length, 15_000, 200);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const b = await stack.startClient({ upstream: closed, args: ["--upstream-timeout", "1000"] });

    const out = path.join(stack.runDir, "out-b");
    await pullImage(b.host, `outage/site@${image.manifestDigest}`, out);
    await verifyPulled(image, out);
    assert.equal(await hashFile(path.join(out, "manifest.json")), image.manifestDigest, "the manifest's bytes are the digest's");
    assert.deepEqual([...new Set((await blobSources(b, stored)).values())], ["ndn"]);
    assert.equal(b.proc.grep(/"upstream unreachable: outage mode/).length, 1, "the outage is logged once");
    assert.equal(await metric(b.url, "ndnreg_client_outage"), 1);
    assert.ok(await metric(b.url, 'ndnreg_client_outage_responses_total{kind="manifest"}') >= 1);
    assert.ok(await metric(b.url, 'ndnreg_client_outage_responses_total{kind="blob"}') >= digests.length);

    const ping = await fetch(`${b.url}/v2/`);
    assert.equal(ping.status, 200);
    assert.equal(ping.headers.get("docker-distribution-api-version"), "registry/2.0");
    const layer = image.layers[0]!;
    const head = await fetch(`${b.url}/v2/outage/site/blobs/${layer.digest}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(layer.size));
    assert.equal(head.headers.get("docker-content-digest"), layer.digest);
    const manifestHead = await fetch(`${b.url}/v2/outage/site/manifests/${image.manifestDigest}`, { method: "HEAD" });
    assert.equal(manifestHead.status, 200);
    assert.equal(manifestHead.headers.get("content-type"), "application/vnd.oci.image.manifest.v1+json");

    // A repository the server never published the digest under: nothing answers for it.
    const other = await fetch(`${b.url}/v2/outage/other/blobs/${layer.digest}`);
    assert.equal(other.status, 503);

    const byTag = await fetch(`${b.url}/v2/outage/site/manifests/v1`);
    assert.equal(byTag.status, 503);
    const body = await byTag.json() as RegistryErrors;
    assert.equal(body.errors[0]?.code, "UNAVAILABLE");
    assert.match(body.errors[0]?.message ?? "", /by digest/);
    await assert.rejects(pullImage(b.host, "outage/site:v1", path.join(stack.runDir, "out-tag"), { timeoutMs: 60_000 }));
  });

  test("with the server's certificate, a pull by tag completes in outage mode by the newest signed tag record a neighbour's store kept; a forged record is refused; a tag never resolved at the site gets the 503", async () => {
    const stack = await Stack.start({ label: "outage-tags", csCapacity: 8192 });
    stacks.push(stack);
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    const anchor = ["--trust-anchor", key.certFile];
    const first = await pushTestImage(stack, "outage/tags:v1", { format: "oci", layers: [1_000_000, 20_000] });

    // A pulls by tag through the registry: its store keeps the blobs, the manifest and the tag's record, all fetched over NDN.
    const a = await stack.startClient({ args: ["--store-dir", path.join(stack.runDir, "store-a"), ...anchor] });
    const outA = path.join(stack.runDir, "out-a");
    const kept = (image: TestImage) => new RegExp(`"tag":"v1","digest":"${image.manifestDigest}".*"store: tag record kept"`);
    await verifyPulled(first, await pullImage(a.host, "outage/tags:v1", outA));
    await a.proc.waitUntil("the first tag record kept", () => Promise.resolve(a.proc.grep(kept(first)).length === 1), 15_000);
    // The tag moves, after the first record's FreshnessPeriod (within it the server answers that
    // record again): A's next pull keeps the new record (its own store never answers for the server).
    await sleep(TAG_RECORD_FRESHNESS_MS + 100);
    const image = await pushTestImage(stack, "outage/tags:v1", { format: "oci", layers: [300_000, 20_000] });
    await verifyPulled(image, await pullImage(a.host, "outage/tags:v1", path.join(stack.runDir, "out-a2")));
    const stored = [first, image].flatMap((i) => [...i.blobs.map((b) => b.digest), i.manifestDigest]);
    await a.proc.waitUntil("blobs, manifests and the new tag record stored", () => Promise.resolve(
      a.proc.grep(/"store: blob stored"/).length === stored.length && a.proc.grep(kept(image)).length === 1), 15_000);

    // A rogue store on the site holds a record of another tag for the same manifest, signed by a key of the server's identity that is not its key.
    const prefix = new Name(stack.prefix);
    const [stranger] = await generateSigningKey(prefix.append("server"), ECDSA);
    const forged = makeTagRecordData(prefix, { repository: "outage/tags", tag: "forged" }, {
      digest: parseSha256Digest(first.manifestDigest)!, size: statSync(path.join(outA, "manifest.json")).size,
      mediaType: "application/vnd.oci.image.manifest.v1+json", madeAt: Date.now(),
    });
    await stranger.sign(forged);
    const rogueDir = path.join(stack.runDir, "store-rogue");
    mkdirSync(path.join(rogueDir, "tags"), { recursive: true });
    writeFileSync(path.join(rogueDir, "tags", "forged"), Encoder.encode(forged));

    // The WAN is cut: no registry, no server, caches empty; B's upstream is a port nobody listens on.
    await stack.registry.stop();
    await stack.stopServer();
    await stack.forwarder.restart();
    const rogue = await stack.startClient({ args: ["--store-dir", rogueDir] });
    assert.equal(rogue.proc.grep(/"records":1,.*"store: tag records opened"/).length, 1);
    // Two routes per stored blob, one per tag record (A's and the rogue's).
    await waitUntil("A's store and the rogue's record registered", async () => ((await stack.forwarder.routes()).match(/cost=10\b/g) ?? []).length >= 2 * stored.length + 2, 15_000, 200);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const b = await stack.startClient({ upstream: closed, args: ["--upstream-timeout", "1000", ...anchor] });

    const out = path.join(stack.runDir, "out-b");
    await pullImage(b.host, "outage/tags:v1", out);
    await verifyPulled(image, out);
    assert.equal(await hashFile(path.join(out, "manifest.json")), image.manifestDigest, "the tag's newest manifest, its bytes the digest's");
    assert.deepEqual([...new Set((await blobSources(b, [...image.blobs.map((x) => x.digest), image.manifestDigest])).values())], ["ndn"]);
    assert.ok(b.proc.grep(/"from":"neighbour".*"outage mode: tag resolved by a stale tag record signed by the server"/).length >= 1);
    const byTag = await fetch(`${b.url}/v2/outage/tags/manifests/v1`, { method: "HEAD" });
    assert.equal(byTag.status, 200);
    assert.equal(byTag.headers.get("docker-content-digest"), image.manifestDigest);
    assert.match(byTag.headers.get("ndnreg-tag-record") ?? "", new RegExp(`^${image.manifestDigest}; made=.*; stale$`));

    const forgedRes = await fetch(`${b.url}/v2/outage/tags/manifests/forged`);
    assert.equal(forgedRes.status, 503);
    assert.match(((await forgedRes.json()) as RegistryErrors).errors[0]?.message ?? "", /not signed by the trust anchor's key/);
    const never = await fetch(`${b.url}/v2/outage/tags/manifests/never`);
    assert.equal(never.status, 503);
    const body = await never.json() as RegistryErrors;
    assert.equal(body.errors[0]?.code, "UNAVAILABLE");
    assert.match(body.errors[0]?.message ?? "", /no tag record signed by the server was found/);
  });

  test("an upstream that answers is never an outage: its 404 is passed on as it is", async () => {
    const stack = await Stack.start({ label: "outage-404", csCapacity: 8192 });
    stacks.push(stack);
    const image = await pushTestImage(stack, "outage/answers:v1", { format: "oci", layers: [20_000] });
    const client = await stack.startClient({ args: ["--upstream-timeout", "1000"] });
    const missing = `sha256:${"0".repeat(64)}`;
    for (const what of ["manifests", "blobs"]) {
      const res = await fetch(`${client.url}/v2/outage/answers/${what}/${missing}`);
      assert.equal(res.status, 404, what);
      const body = await res.json() as RegistryErrors;
      assert.equal(body.errors[0]?.code, what === "blobs" ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN");
    }
    assert.equal((await fetch(`${client.url}/v2/outage/answers/manifests/v2`)).status, 404);
    const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
    assert.equal((await fetch(`${client.url}/v2/outage/answers/manifests/${image.manifestDigest}`, { headers: accept })).status, 200);
    assert.equal(await metric(client.url, "ndnreg_client_outages_total"), 0);
    assert.equal(client.proc.grep(/outage mode/).length, 0);
  });
});
