import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, freePort, pullImage, scrapeMetrics, Stack, verifyPulled } from "../bench/index.js";
import { pushTestImage } from "./helpers.js";

/** The Grafana dashboard operators import (docs/operations.md). */
const DASHBOARD = fileURLToPath(new URL("../../../docs/grafana/ndn-registry.json", import.meta.url));
/** Labels Prometheus adds to every series it scrapes, and the histogram buckets' own. */
const SCRAPE_LABELS = new Set(["instance", "job", "le"]);

/** Every PromQL query of the dashboard. */
function dashboardQueries(file: string): string[] {
  const { panels } = JSON.parse(readFileSync(file, "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  return panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** Series name -> the label sets it is exported with. */
function seriesLabels(metrics: Map<string, number>): Map<string, Array<Map<string, string>>> {
  const out = new Map<string, Array<Map<string, string>>>();
  for (const key of metrics.keys()) {
    const [, name, labels] = /^([^{]+)(?:\{(.*)\})?$/.exec(key)!;
    const set = new Map([...(labels ?? "").matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const));
    out.set(name!, [...out.get(name!) ?? [], set]);
  }
  return out;
}

/** Why a query names something the processes do not export, or undefined when all it names exists. */
function unknownInQuery(expr: string, series: Map<string, Array<Map<string, string>>>): string | undefined {
  const used = [...expr.matchAll(/\b(ndnreg_[a-z0-9_]+)(?:\{([^}]*)\})?/g)];
  if (used.length === 0) {
    return "names no ndnreg_ metric";
  }
  for (const [, name, matchers] of used) {
    const sets = series.get(name!);
    if (!sets) {
      return `${name} is not exported`;
    }
    for (const [, label, v] of (matchers ?? "").matchAll(/([a-z_]+)\s*=~?\s*"([^"]*)"/g)) {
      if (!sets.some((s) => s.get(label!) === v)) {
        return `${name} has no series with ${label}="${v}"`;
      }
    }
  }
  for (const [, list] of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of list!.split(",").map((l) => l.trim()).filter((l) => !SCRAPE_LABELS.has(l))) {
      if (!used.some(([, name]) => series.get(name!)!.some((s) => s.has(label)))) {
        return `no metric of the query has the label ${label}`;
      }
    }
  }
  return undefined;
}

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
    assert.ok(value(c, 'ndnreg_client_segments_total{names="canonical"}') >= Math.ceil(blobBytes / 8000));
    assert.ok(value(c, "ndnreg_client_ndn_packet_bytes_total") > blobBytes);
    assert.equal(value(c, "ndnreg_client_uplink_up"), 1);
    assert.ok(value(c, "ndnreg_client_process_resident_memory_bytes") > 0);

    const s = await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`);
    assert.ok(value(s, 'ndnreg_server_interests_total{outcome="data"}') >= Math.ceil(blobBytes / 8000));
    assert.equal(value(s, "ndnreg_server_data_payload_bytes_total"), blobBytes);
    assert.equal(value(s, "ndnreg_server_registry_range_bytes_total"), blobBytes);
    // Every blob byte read once: ranges of up to --upstream-range-segments (512) segments of 8000
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

  test("every query of the Grafana dashboard names metrics and labels the two processes export", async () => {
    await stack.startServer(); // the fallbacks test stopped it; its counters' series exist from the start
    const exported = seriesLabels(new Map([...await scrapeMetrics(`${client.url}/metrics`), ...await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`)]));
    const queries = dashboardQueries(DASHBOARD);
    assert.ok(queries.length >= 15, `only ${queries.length} queries in ${DASHBOARD}`);
    for (const expr of queries) {
      assert.equal(unknownInQuery(expr, exported), undefined, expr);
    }
    // The dashboard shows everything the issue asks an operator to see.
    const all = queries.join("\n");
    for (const name of ["ndnreg_client_blob_bytes_total", "ndnreg_client_segments_total", "ndnreg_client_fallbacks_total", "ndnreg_client_ndn_fetch_seconds_bucket",
      "ndnreg_server_interests_total", "ndnreg_client_uplink_up", "ndnreg_server_uplink_up"]) {
      assert.ok(all.includes(name), `the dashboard does not show ${name}`);
    }
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
