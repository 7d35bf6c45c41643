import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, freePort, pullImage, scrapeMetrics, Stack, verifyPulled } from "../bench/index.js";
import { pushTestImage } from "./helpers.js";

function value(metrics: Map<string, number>, key: string): number {
  const v = metrics.get(key);
  assert.ok(v !== undefined, `missing ${key}; have ${[...metrics.keys()].filter((k) => k.startsWith(key.split("{")[0]!)).join(", ")}`);
  return v;
}

describe("metrics, health and progress", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "metrics", csCapacity: 40_000 });
    client = await stack.startClient({ args: ["--first-byte-timeout", "600", "--progress-interval", "100"] });
  });
  after(async () => {
    await stack?.stop();
  });

  test("a pull over NDN shows up in the client's and the server's counters", async () => {
    const image = await pushTestImage(stack, "metrics/a:v1", { format: "oci", layers: [40 << 20, 500_000] });
    const blobBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    const out = await pullImage(client.host, "metrics/a:v1", path.join(stack.runDir, "out-a"));
    await verifyPulled(image, out);

    const c = await scrapeMetrics(`${client.url}/metrics`);
    assert.equal(value(c, 'ndnreg_client_blob_bytes_total{path="ndn"}'), blobBytes);
    assert.equal(value(c, 'ndnreg_client_blob_responses_total{source="ndn"}'), image.blobs.length);
    assert.equal(value(c, 'ndnreg_client_ndn_fetch_seconds_count{outcome="ok"}'), image.blobs.length);
    assert.equal(value(c, "ndnreg_client_ndn_fetches_in_flight"), 0);
    assert.ok(value(c, "ndnreg_client_segments_total") >= Math.ceil(blobBytes / 8000));
    assert.equal(value(c, "ndnreg_client_uplink_up"), 1);
    assert.ok(value(c, "ndnreg_client_process_resident_memory_bytes") > 0);

    const s = await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`);
    assert.ok(value(s, 'ndnreg_server_interests_total{outcome="data"}') >= Math.ceil(blobBytes / 8000));
    assert.equal(value(s, "ndnreg_server_data_payload_bytes_total"), blobBytes);
    assert.equal(value(s, "ndnreg_server_registry_range_bytes_total"), blobBytes);
    // Every blob byte read once: ranges of up to REGISTRY_RANGE_SEGMENTS (512) segments of 8000
    // bytes, smaller ones first while each blob earns them (a handful per blob, not one per block).
    const ranges = image.blobs.reduce((n, b) => n + Math.ceil(b.size / (512 * 8000)), 0);
    const reads = value(s, 'ndnreg_server_registry_range_requests_total{result="ok"}');
    assert.ok(reads >= ranges && reads <= ranges + 6 * image.blobs.length, `${reads} registry reads for ${image.blobs.length} blobs`);
    assert.equal(value(s, "ndnreg_server_interests_pending"), 0);
    assert.equal(value(s, "ndnreg_server_registry_reads_in_flight"), 0);
    assert.equal(value(s, 'ndnreg_server_interests_total{outcome="dropped_overload"}'), 0);
    assert.equal(value(s, 'ndnreg_server_registry_stat_requests_total{result="found"}'), image.blobs.length);
    assert.ok(value(s, 'ndnreg_server_range_cache_lookups_total{result="hit"}') > 0);
    assert.equal(value(s, "ndnreg_server_uplink_up"), 1);

    // Progress lines for the 40 MiB layer, ending at 100%.
    const progress = client.proc.grep(/"blob progress"/).map((l) => JSON.parse(l) as { digest: string; percent: number });
    assert.ok(progress.some((p) => p.digest === image.layers[0]!.digest), "no progress line for the large layer");
    assert.ok(progress.every((p) => p.percent >= 0 && p.percent <= 100));
  });

  test("health: both answer /healthz; the server's turns 503 when its forwarder is gone", async () => {
    assert.deepEqual(await (await fetch(`${client.url}/healthz`)).json(), { ok: true, uplink: "up", ndn: "ok" });
    const healthy = await fetch(`${stack.serverMetricsUrl}/healthz`);
    assert.equal(healthy.status, 200);
    await stack.forwarder.stop();
    try {
      await waitForStatus(`${stack.serverMetricsUrl}/healthz`, 503);
      assert.deepEqual(await (await fetch(`${client.url}/healthz`)).json(), { ok: true, uplink: "down", ndn: "skipping" });
    } finally {
      await stack.forwarder.restart();
      await stack.waitForRoute();
    }
    await waitForStatus(`${stack.serverMetricsUrl}/healthz`, 200);
  });

  test("fallbacks are counted by reason, and their bytes by path", async () => {
    await stack.stopServer();
    const image = await pushTestImage(stack, "metrics/b:v1", { format: "oci", layers: [100_000] });
    const before = await scrapeMetrics(`${client.url}/metrics`);
    const out = await pullImage(client.host, "metrics/b:v1", path.join(stack.runDir, "out-b"));
    await verifyPulled(image, out);
    const after = await scrapeMetrics(`${client.url}/metrics`);
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    const blobBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    // The first blob tries NDN and falls back; the gate then sends the others straight to HTTP.
    const tried = delta('ndnreg_client_fallbacks_total{reason="first-byte-timeout"}') + delta('ndnreg_client_fallbacks_total{reason="fetch-error"}');
    const skipped = delta('ndnreg_client_fallbacks_total{reason="ndn-skipped"}');
    assert.ok(tried >= 1, "no blob tried NDN");
    assert.equal(tried + skipped, image.blobs.length);
    assert.equal(delta('ndnreg_client_blob_bytes_total{path="fallback"}') + delta('ndnreg_client_blob_bytes_total{path="http"}'), blobBytes);
    assert.ok(delta('ndnreg_client_blob_bytes_total{path="fallback"}') > 0);
    assert.equal(delta('ndnreg_client_ndn_fetch_seconds_count{outcome="fallback"}'), tried);
  });

  test("--metrics-listen moves /metrics to its own address", async () => {
    const port = await freePort();
    const other = await stack.startClient({ args: ["--metrics-listen", `127.0.0.1:${port}`] });
    const m = await scrapeMetrics(`http://127.0.0.1:${port}/metrics`);
    assert.equal(value(m, "ndnreg_client_ndn_fetches_in_flight"), 0);
    assert.equal((await fetch(`${other.url}/metrics`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  });
});

async function waitForStatus(url: string, status: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await fetch(url).then((r) => r.status, () => 0);
    if (got === status) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`${url}: status ${got}, waited for ${status}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
