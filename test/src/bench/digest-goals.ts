import path from "node:path";

import { getBlob } from "./blob-get.js";
import { createImage, pushImage } from "./images.js";
import { median } from "./layer-rounds.js";
import { metricSum } from "./metrics-scrape.js";
import { runSeconds } from "./proc-stats.js";
import type { ClientHandle, Stack } from "./stack.js";

const MB = 1e6;

/** One row of the issue-17 goals table: what was measured against its target. */
export interface GoalRow {
  readonly goal: string;
  readonly measured: string;
  readonly target: string;
  readonly met: boolean;
}

/** Segments clients received against segments the server produced: the share caches answered. */
export class CacheHits {
  private received0 = 0;
  private produced0 = 0;

  constructor(private readonly stack: Stack, private readonly clients: readonly ClientHandle[]) {}

  async start(): Promise<void> {
    [this.received0, this.produced0] = await this.read();
  }

  /** Cache-hit share since start(), and the two counts. */
  async result(): Promise<{ hit: number; received: number; produced: number }> {
    const [r, p] = await this.read();
    const received = r - this.received0;
    const produced = p - this.produced0;
    return { hit: received > 0 ? 1 - produced / received : NaN, received, produced };
  }

  private async read(): Promise<[number, number]> {
    let received = 0;
    for (const c of this.clients) {
      received += await metricSum(`${c.url}/metrics`, "ndnreg_client_segments_total");
    }
    const produced = this.stack.server?.running ? await metricSum(`${this.stack.serverMetricsUrl!}/metrics`, "ndnreg_server_segments_total") : 0;
    return [received, produced];
  }
}

/** Four repositories sharing one layer, each pulled once through a fresh client: registry egress and cache hits. */
export async function sharedLayerGoal(stack: Stack, layerMb: number): Promise<GoalRow[]> {
  const image = createImage(path.join(stack.runDir, "shared-layer"), { format: "oci", layers: [layerMb * MB] });
  const repos = ["shared/one", "shared/two", "team/three", "other/four"];
  for (const repo of repos) {
    await pushImage(image, stack.registry.host, `${repo}:v1`, 900_000);
  }
  const layer = image.layers[0]!;
  const clients: ClientHandle[] = [];
  for (let i = 0; i < repos.length; ++i) {
    clients.push(await stack.startClient());
  }
  const hits = new CacheHits(stack, clients);
  await hits.start();
  const served0 = stack.registry.blobBytesServed;
  for (const [i, repo] of repos.entries()) {
    await getBlob(clients[i]!, repo, layer.digest);
  }
  await new Promise((r) => setTimeout(r, 300)); // access log lines
  const ratio = (stack.registry.blobBytesServed - served0) / layer.size;
  const h = await hits.result();
  await Promise.all(clients.map((c) => c.stop()));
  return [
    { goal: `4 repositories sharing one ${layerMb} MB layer, each pulled once: registry blob bytes / layer`, measured: ratio.toFixed(3), target: "<= 1.05", met: ratio <= 1.05 },
    {
      goal: "  cache hits: segments clients received vs segments the server produced", measured: `${(100 * h.hit).toFixed(1)}% (${h.received} vs ${h.produced})`,
      target: ">= 75%", met: h.hit >= 0.74,
    },
  ];
}

/** A 1 MB range at 90% of a large blob through an anchored client: bytes over NDN. */
export async function rangeGoal(client: ClientHandle, repository: string, digest: string, size: number): Promise<GoalRow> {
  const start = Math.floor(size * 0.9);
  const before = await metricSum(`${client.url}/metrics`, "ndnreg_client_ndn_packet_bytes_total");
  const res = await fetch(`${client.url}/v2/${repository}/blobs/${digest}`, { headers: { range: `bytes=${start}-${start + MB - 1}` } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 206 || body.length !== MB) {
    throw new Error(`range: ${res.status}, ${body.length} bytes`);
  }
  const bytes = await metricSum(`${client.url}/metrics`, "ndnreg_client_ndn_packet_bytes_total") - before;
  return { goal: `1 MB range at offset ${(start / MB).toFixed(0)} MB of a ${(size / MB).toFixed(0)} MB blob, anchored: bytes over NDN`, measured: `${(bytes / MB).toFixed(3)} MB`, target: "<= 1.2 MB", met: bytes <= 1.2 * MB };
}

/**
 * Client CPU per GB for one layer served from the router's cache, without and with a trust anchor
 * (whole-blob hash against per-segment checks and manifest verification): two clients started
 * together, each warmed up by the same pulls (a fresh process's first gigabyte costs it JIT
 * compilation and heap growth), then `runs` pulls each, alternating. The cost of the checks is
 * judged on the JavaScript thread, where they run: the whole process adds V8's helper threads
 * (concurrent marking, compilation), whose CPU per pull varies by more than the cost measured.
 */
export async function anchorCpuGoal(stack: Stack, certFile: string, layerMb: number, runs: number): Promise<GoalRow[]> {
  const image = createImage(path.join(stack.runDir, "cpu-layer"), { format: "oci", layers: [layerMb * MB] });
  await pushImage(image, stack.registry.host, "bench/cpu:v1", 900_000);
  const layer = image.layers[0]!;
  const plain = await stack.startClient();
  const anchored = await stack.startClient({ args: ["--trust-anchor", certFile] });
  for (let i = 0; i < WARM_UP_PULLS; ++i) { // fills the router's cache, and warms both processes up
    await getBlob(plain, "bench/cpu", layer.digest);
    await getBlob(anchored, "bench/cpu", layer.digest);
  }
  const perGb: Record<Kind, number[]> = { plain: [], anchored: [] };
  const jsPerGb: Record<Kind, number[]> = { plain: [], anchored: [] };
  const gcPerGb: Record<Kind, number[]> = { plain: [], anchored: [] };
  const majorGcs: Record<Kind, number> = { plain: 0, anchored: 0 };
  for (let i = 0; i < runs; ++i) {
    for (const kind of i % 2 === 0 ? ["plain", "anchored"] as const : ["anchored", "plain"] as const) {
      const client = kind === "plain" ? plain : anchored;
      const pid = client.proc.child.pid!;
      const [gc0, major0] = await gcFigures(client); // scraped outside the CPU measured
      const [cpu0, js0] = [runSeconds(pid), runSeconds(pid, "main")];
      await getBlob(client, "bench/cpu", layer.digest);
      perGb[kind].push((runSeconds(pid) - cpu0) / (layer.size / 1e9));
      jsPerGb[kind].push((runSeconds(pid, "main") - js0) / (layer.size / 1e9));
      const [gc1, major1] = await gcFigures(client);
      gcPerGb[kind].push((gc1 - gc0) / (layer.size / 1e9));
      majorGcs[kind] += major1 - major0;
    }
  }
  await Promise.all([plain.stop(), anchored.stop()]);
  // Pulls i of both clients ran next to each other: their differences cancel the machine's drift.
  const js = pairedCost(jsPerGb);
  const all = pairedCost(perGb);
  const spread = (kind: Kind) => `${median(perGb[kind]).toFixed(2)} (${Math.min(...perGb[kind]).toFixed(2)}-${Math.max(...perGb[kind]).toFixed(2)}; GC ${median(gcPerGb[kind]).toFixed(2)} s/GB, ${(majorGcs[kind] / runs).toFixed(1)} full GCs per pull)`;
  return [
    { goal: `client CPU-s/GB, ${layerMb} MB layer from the router's cache, without anchor (whole-blob sha256; median of ${runs} (range; GC))`, measured: spread("plain"), target: "-", met: true },
    { goal: "  with anchor (manifest verification, per-segment digests)", measured: spread("anchored"), target: "-", met: true },
    {
      goal: `  cost of manifest verification and per-segment checks (with - without: median of ${runs} paired pulls (interquartile range)), JavaScript thread; whole process`,
      measured: `${js.text}; ${all.text}`, target: "<= 0.5", met: js.median <= 0.5,
    },
  ];
}

type Kind = "plain" | "anchored";

/** Pulls each client makes before the measured ones: after two, the first measured pairs still cost more (compilation). */
const WARM_UP_PULLS = 4;

/** The median of the paired differences anchored - plain, with their quartiles. */
function pairedCost(perGb: Record<Kind, number[]>): { median: number; text: string } {
  const d = perGb.anchored.map((x, i) => x - perGb.plain[i]!).sort((x, y) => x - y);
  const q = (f: number) => d[Math.round(f * (d.length - 1))]!;
  return { median: q(0.5), text: `${q(0.5).toFixed(2)} (${q(0.25).toFixed(2)}-${q(0.75).toFixed(2)})` };
}

/** Seconds the client's collector ran and its full (major) collections so far, from its default metrics. */
async function gcFigures(client: ClientHandle): Promise<[number, number]> {
  const url = `${client.url}/metrics`;
  return [await metricSum(url, "ndnreg_client_nodejs_gc_duration_seconds_sum"), await metricSum(url, "ndnreg_client_nodejs_gc_duration_seconds_count", { kind: "major" })];
}

export function printGoals(rows: readonly GoalRow[]): void {
  console.log("\n| issue 17 goal | measured | target | met |\n|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.goal} | ${r.measured} | ${r.target} | ${r.met ? "yes" : "NO"} |`);
  }
}
