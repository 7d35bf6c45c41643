import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, pullImage, Stack, verifyPulled, waitUntil } from "../bench/index.js";
import { blobSources, pushRawBlob, pushTestImage, sha256Text } from "./helpers.js";

describe("HTTP fallback when NDN fails", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "fallback", csCapacity: 4096 });
    // Short deadlines keep the test quick; the defaults are seconds.
    client = await stack.startClient({ args: ["--first-byte-timeout", "800", "--idle-timeout", "800"] });
  });
  after(async () => {
    await stack?.stop();
  });

  test("server stopped: the pull still succeeds, over HTTP", async () => {
    const image = await pushTestImage(stack, "fallback/stopped:v1", { format: "docker", layers: [30_000, 500_000] });
    await stack.stopServer();
    const out = await pullImage(client.host, "fallback/stopped:v1", path.join(stack.runDir, "out-stopped"));
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["http"]);
    // ndnd sends no Nack without a route: only the first blob waits out the first-byte deadline,
    // the others skip NDN (see NdnGate).
    assert.equal(client.proc.grep(/"reason":"first-byte-timeout"/).length, 1);
    assert.match(await (await fetch(`${client.url}/metrics`)).text(), /ndnreg_client_fallbacks_total\{reason="ndn-skipped"\} [1-9]/);
    assert.deepEqual(await (await fetch(`${client.url}/healthz`)).json(), { ok: true, uplink: "up", ndn: "skipping" });
  });

  test("server back: blobs travel over NDN again", async () => {
    await stack.startServer();
    // The client skipped NDN after the failures above and tries it again after a pause (1 s,
    // doubling, at most 30 s): small blobs until one comes over NDN, then the whole pull does.
    const probe = await pushRawBlob(stack.registry.url, "fallback/probe", randomBytes(20_000));
    const t0 = Date.now();
    await waitUntil("a blob over NDN again", async () => {
      await (await fetch(`${client.url}/v2/fallback/probe/blobs/${probe}`)).arrayBuffer();
      return client.blobLogs().at(-1)?.source === "ndn";
    }, 35_000, 250);
    assert.ok(Date.now() - t0 < 32_000);
    const image = await pushTestImage(stack, "fallback/back:v1", { format: "oci", layers: [40_000] });
    const out = await pullImage(client.host, "fallback/back:v1", path.join(stack.runDir, "out-back"));
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
  });

  test("forwarder restarted: server registers its prefix again, client reconnects, blobs over NDN", async () => {
    await stack.forwarder.restart(300);
    const t0 = Date.now();
    await stack.waitForRoute(stack.forwarder, 15_000);
    const reRegisteredMs = Date.now() - t0;
    await client.proc.waitForLine(/"uplink down, reconnecting"/);
    await waitUntil("client reconnected", async () => client.proc.grep(/"uplink up"/).length >= 2, 10_000);
    const image = await pushTestImage(stack, "fallback/restarted:v1", { format: "oci", layers: [60_000] });
    const out = await pullImage(client.host, "fallback/restarted:v1", path.join(stack.runDir, "out-restarted"));
    await verifyPulled(image, out);
    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], `prefix re-registered after ${reRegisteredMs} ms`);
  });

  test("forwarder restarted during a pull: the blob completes with the right bytes, then blobs travel over NDN again", async () => {
    const bytes = randomBytes(48 << 20);
    const digest = await pushRawBlob(stack.registry.url, "fallback/fw-midway", bytes);
    const ups = client.proc.grep(/"uplink up"/).length;
    const res = await fetch(`${client.url}/v2/fallback/fw-midway/blobs/${digest}`);
    assert.equal(res.status, 200);
    const hash = createHash("sha256");
    let received = 0;
    let restarted: Promise<void> | undefined;
    for await (const chunk of Readable.fromWeb(res.body! as WebReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      received += chunk.length;
      if (!restarted && received > 4 << 20) {
        restarted = stack.forwarder.restart(300);
      }
    }
    await restarted;
    assert.equal(received, bytes.length);
    assert.equal(`sha256:${hash.digest("hex")}`, digest);
    // NDN may resume on the new faces before the idle deadline, or HTTP finishes the blob.
    assert.ok(["ndn", "ndn+http"].includes((await blobSources(client, [digest])).get(digest)!));
    await stack.waitForRoute(stack.forwarder, 15_000);
    await waitUntil("client reconnected", async () => client.proc.grep(/"uplink up"/).length > ups, 10_000);
    const after = await pushRawBlob(stack.registry.url, "fallback/fw-after", randomBytes(300_000));
    const again = await fetch(`${client.url}/v2/fallback/fw-after/blobs/${after}`);
    assert.equal(sha256Text(Buffer.from(await again.arrayBuffer())), after);
    assert.equal((await blobSources(client, [after])).get(after), "ndn");
  });

  test("server killed mid-blob: the rest comes over HTTP from the byte reached", async () => {
    // Larger than the content store (4096 segments) so the tail cannot come from the router.
    const bytes = randomBytes(48 << 20);
    const digest = await pushRawBlob(stack.registry.url, "fallback/midway", bytes);
    const res = await fetch(`${client.url}/v2/fallback/midway/blobs/${digest}`);
    assert.equal(res.status, 200);
    const hash = createHash("sha256");
    let received = 0;
    let killed = false;
    for await (const chunk of Readable.fromWeb(res.body! as WebReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      received += chunk.length;
      if (!killed && received > 4 << 20) {
        killed = true;
        await stack.stopServer("SIGKILL");
      }
    }
    assert.equal(received, bytes.length);
    assert.equal(`sha256:${hash.digest("hex")}`, digest);
    assert.equal((await blobSources(client, [digest])).get(digest), "ndn+http");
  });
});
