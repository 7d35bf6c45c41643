import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, pullImage, pushImage, metricSum, Stack, verifyPulled } from "../bench/index.js";
import { blobLog, blobSources, pushRawBlob, pushTestImage } from "./helpers.js";

const MB = 1_000_000;

/** Canonical names: one cached copy per layer, whatever repository it is pulled through. */
describe("canonical digest names", () => {
  let stack: Stack;
  before(async () => {
    stack = await Stack.start({ label: "digest-shared", csCapacity: 16_384 });
  });
  after(async () => {
    await stack?.stop();
  });

  test("four repositories sharing a layer, each pulled once: the registry sends the layer once, the router's cache does the rest", async () => {
    const image = await pushTestImage(stack, "shared/one:v1", { format: "oci", layers: [20 * MB, 40_000] });
    const repos = ["shared/one", "shared/two", "team/three", "other/four"];
    for (const repo of repos.slice(1)) {
      await pushImage(image, stack.registry.host, `${repo}:v1`);
    }
    const imageBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    const client = await stack.startClient();
    const served0 = stack.registry.blobBytesServed;
    for (const repo of repos) {
      await verifyPulled(image, await pullImage(client.host, `${repo}:v1`, path.join(stack.runDir, `out-${repo.replace("/", "-")}`)));
      const sources = await blobSources(client, image.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"], repo);
    }
    await new Promise((r) => setTimeout(r, 300)); // access log lines
    const served = stack.registry.blobBytesServed - served0;
    assert.ok(served >= imageBytes, `registry served ${served} bytes, the image has ${imageBytes}: the counter is broken`);
    assert.ok(served <= 1.05 * imageBytes, `registry served ${served} bytes for ${repos.length} pulls of ${imageBytes}`);
    const received = await metricSum(`${client.url}/metrics`, "ndnreg_client_segments_total", { names: "canonical" });
    const produced = await metricSum(`${stack.serverMetricsUrl!}/metrics`, "ndnreg_server_segments_total", { names: "canonical" });
    assert.ok(received >= 4 * produced * 0.95, `clients received ${received} segments, the server produced ${produced}: caches answered too few`);
  });
});

/** With a trust anchor: per-segment checks against the signed manifest, ranges without refetching. */
describe("ranges with a trust anchor", () => {
  let stack: Stack;
  let anchored: ClientHandle;
  let plain: ClientHandle;
  const bytes = randomBytes(30 * MB);
  let digest: string;
  before(async () => {
    stack = await Stack.start({ label: "digest-ranges", csCapacity: 16_384 });
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    anchored = await stack.startClient({ args: ["--trust-anchor", key.certFile] });
    plain = await stack.startClient();
    digest = await pushRawBlob(stack.registry.url, "ranges/blob", bytes);
  });
  after(async () => {
    await stack?.stop();
  });

  const get = async (client: ClientHandle, start: number, end: number) => {
    const res = await fetch(`${client.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: `bytes=${start}-${end}` } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/${bytes.length}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end} differ`);
  };

  test("1 MB at offset 25 MB: only the covering segments and their manifest nodes travel (<= 1.2 MB), checked one by one", async () => {
    await get(anchored, 25 * MB, 26 * MB - 1);
    const log = await blobLog(anchored, digest);
    assert.equal(log.source, "ndn");
    assert.equal(log.names, "canonical");
    assert.ok(log.ndnPacketBytes! <= 1.2 * MB, `${log.ndnPacketBytes} bytes over NDN for a 1 MB range`);
    // Without an anchor the same range is verified by hashing the blob from byte 0.
    await get(plain, 25 * MB, 26 * MB - 1);
    const plainLog = await blobLog(plain, digest);
    assert.ok(plainLog.ndnPacketBytes! > 25 * MB, `${plainLog.ndnPacketBytes} bytes: the control fetched less than the range's offset`);
  });

  test("many concurrent ranges (as containerd 2.x splits a layer), and the whole blob, all with the right bytes", async () => {
    const step = 3 * MB;
    const ranges = Array.from({ length: 10 }, (_, i) => [i * step, Math.min(bytes.length, (i + 1) * step) - 1] as const);
    ranges.push([123, 456_789], [7 * MB - 5, 7 * MB + 5], [bytes.length - 100, bytes.length - 1]);
    const before = await metricSum(`${anchored.url}/metrics`, "ndnreg_client_ndn_packet_bytes_total");
    const logs0 = anchored.blobLogs().length;
    await Promise.all(ranges.map(([s, e]) => get(anchored, s, e)));
    await anchored.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob done"`), 5000);
    await new Promise((r) => setTimeout(r, 200));
    const sources = anchored.blobLogs().slice(logs0).map((l) => l.source);
    assert.equal(sources.length, ranges.length);
    assert.deepEqual([...new Set(sources)], ["ndn"], "every range over NDN, none falling back");
    const after = await metricSum(`${anchored.url}/metrics`, "ndnreg_client_ndn_packet_bytes_total");
    assert.ok(after - before < 1.1 * (bytes.length + 2 * MB), `${after - before} bytes over NDN for ranges covering the blob about once`);
    const whole = await fetch(`${anchored.url}/v2/ranges/blob/blobs/${digest}`);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));
    assert.equal((await blobLog(anchored, digest)).source, "ndn");
  });
});
