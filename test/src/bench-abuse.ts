/**
 * `pnpm bench:abuse`: what anyone on the NDN network, with no credentials, can make the server
 * do, against the bounds of issue 16. A real registry, ndnd and server; the attacker is an NDNts
 * consumer with its own face on the forwarder. Each case starts a fresh server:
 * - random-segment Interests for an uncached blob, under canonical names (the digest taught by one
 *   legacy Interest) and under legacy names (7777-byte segments): registry bytes per published byte;
 * - a burst of random Interests at once: the server's peak RSS, and its RSS 10 s later;
 * - concurrent pulls of 100 MB blobs through clients: the server's peak RSS and RSS 10 s later;
 * - Interests for unknown digests (in one repository, and in random ones): registry HEADs per
 *   second, and a real pull's speed during the flood against one without it (medians of
 *   ABUSE_FLOOD_PULLS pulls each, one after another: on a shared 2-core machine one pull is noise).
 * Environment: ABUSE_BLOB_MB (500), ABUSE_RANDOM (200), ABUSE_BURST (1000), ABUSE_PULLS (20),
 * ABUSE_PULL_MB (100), ABUSE_CLIENTS (4), ABUSE_FLOOD (10000: at least, the flood goes on until its
 * pulls are done), ABUSE_FLOOD_RATE (600 per second), ABUSE_FLOOD_PULLS (3),
 * ABUSE_CASES (random,burst,pulls,flood: the cases to run).
 * One table is printed and saved as JSON under bench-results/.
 */
import { randomBytes, randomFillSync } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Segment } from "@ndn/naming-convention2";
import { Component, Interest, Name, TT } from "@ndn/packet";
import { canonicalBlobName, LEGACY_SEGMENT_SIZE, legacyBlobName, makeBlobId, SEGMENT_SIZE } from "@ndnreg/shared/ndn";

import {
  type ClientHandle, cpuSeconds, getBlob, median, NdnConsumer, peakRss, pushRawBlob, RawFace, residentBytes, resetPeakRss, scrapeMetrics, Stack,
} from "./bench/index.js";

const MB = 1e6;
const env = (key: string, dflt: number) => Number(process.env[key] ?? dflt);
const blobMb = env("ABUSE_BLOB_MB", 500);
const randomCount = env("ABUSE_RANDOM", 200);
const burstCount = env("ABUSE_BURST", 1000);
const pullCount = env("ABUSE_PULLS", 20);
const pullMb = env("ABUSE_PULL_MB", 100);
const clientCount = env("ABUSE_CLIENTS", 4);
const floodCount = env("ABUSE_FLOOD", 10_000);
const floodRate = env("ABUSE_FLOOD_RATE", 600);
const floodPulls = env("ABUSE_FLOOD_PULLS", 3);
const cases = new Set((process.env["ABUSE_CASES"] ?? "random,burst,pulls,flood").split(","));
/** How long after a burst the server's RSS must be back near where it started. */
const SETTLE_MS = 10_000;
/** "Near its base": within this many MB of the RSS before the burst. */
const NEAR_BASE_MB = 25;

interface Row {
  readonly case: string;
  readonly figure: string;
  readonly value: number;
  readonly goal: string;
  readonly ok: boolean;
  readonly detail?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid: number) => residentBytes(pid) / 2 ** 20;

/** Random bytes pushed as one blob (generated in 100 MB pieces, so the bench's own RSS stays sane). */
async function pushRandomBlob(stack: Stack, repository: string, mb: number): Promise<string> {
  const bytes = Buffer.allocUnsafe(Math.round(mb * MB));
  for (let at = 0; at < bytes.length; at += 100 * MB) {
    randomFillSync(bytes, at, Math.min(100 * MB, bytes.length - at));
  }
  return pushRawBlob(stack.registry.url, repository, bytes);
}

/** Registry reads settle: wait until the registry's blob bytes stop growing for `quietMs`; returns when they last grew. */
async function readsSettled(stack: Stack, quietMs = 2000, maxMs = 60_000): Promise<number> {
  let last = stack.registry.blobBytesServed;
  let lastChange = performance.now();
  const t0 = performance.now();
  while (performance.now() - lastChange < quietMs && performance.now() - t0 < maxMs) {
    await sleep(100);
    if (stack.registry.blobBytesServed !== last) {
      last = stack.registry.blobBytesServed;
      lastChange = performance.now();
    }
  }
  return lastChange;
}

async function freshServer(stack: Stack): Promise<number> {
  await stack.startServer();
  await sleep(1000);
  return stack.server!.child.pid!;
}

/** The server's Interest outcomes now (ndnreg_server_interests_total by outcome). */
async function outcomes(stack: Stack): Promise<string> {
  const m = await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`);
  return [...m].filter(([k, v]) => k.startsWith("ndnreg_server_interests_total{") && v > 0)
    .map(([k, v]) => `${/outcome="([^"]+)"/.exec(k)?.[1]} ${v}`).join(", ");
}

function tallyText(c: NdnConsumer): string {
  const nacks = [...c.tally.nacks].map(([r, n]) => `${n} "${r}"`).join(", ");
  return `${c.tally.data} Data, ${nacks || "no"} Nacks, ${c.tally.unanswered} unanswered`;
}

type NameKind = "canonical" | "legacy";

function segmentName(prefix: Name, kind: NameKind, repository: string, digest: string, segment: number): Name {
  const id = makeBlobId(repository, digest)!;
  return (kind === "canonical" ? canonicalBlobName(prefix, id.digest) : legacyBlobName(prefix, id)).append(Segment, segment);
}

/** A random segment of the big blob under names of `kind`. */
function randomSegment(prefix: Name, kind: NameKind, digest: string): Name {
  const segments = Math.ceil(blobMb * MB / (kind === "canonical" ? SEGMENT_SIZE : LEGACY_SEGMENT_SIZE));
  return segmentName(prefix, kind, "abuse/big", digest, Math.floor(Math.random() * segments));
}

let taught = 0;

/**
 * Canonical names are answered once the server has learned the digest: one legacy Interest
 * teaches it, as anyone can (a segment never asked before: the forwarder's cache would answer it).
 */
async function teach(attacker: NdnConsumer, prefix: Name, digest: string): Promise<void> {
  const last = Math.ceil(blobMb * MB / LEGACY_SEGMENT_SIZE) - 1;
  await attacker.express(segmentName(prefix, "legacy", "abuse/big", digest, last - taught++), 4000);
}

async function randomSegments(stack: Stack, prefix: Name, digest: string, kind: NameKind): Promise<Row[]> {
  await freshServer(stack);
  const attacker = await NdnConsumer.connect(stack.forwarder.socketPath, prefix);
  const reg0 = stack.registry.blobBytesServed;
  if (kind === "canonical") {
    await teach(attacker, prefix, digest);
  }
  // A few at a time, as a patient attacker would: every Interest is answered before the next batch.
  for (let sent = 0; sent < randomCount; sent += 8) {
    await Promise.all(Array.from({ length: Math.min(8, randomCount - sent) }, () => attacker.express(randomSegment(prefix, kind, digest), 4000)));
  }
  const answered = performance.now();
  const lastRead = await readsSettled(stack);
  const ratio = (stack.registry.blobBytesServed - reg0) / Math.max(1, attacker.tally.dataBytes);
  const detail = `${tallyText(attacker)}; registry ${((stack.registry.blobBytesServed - reg0) / MB).toFixed(1)} MB for ${(attacker.tally.dataBytes / MB).toFixed(2)} MB published; registry reads went on ${Math.max(0, (lastRead - answered) / 1000).toFixed(1)} s after the last answer; server: ${await outcomes(stack)}`;
  attacker.close();
  return [{ case: `${randomCount} random-segment Interests, ${kind} names, uncached ${blobMb} MB blob`, figure: "registry bytes per published byte", value: ratio, goal: "<= 8", ok: ratio <= 8, detail }];
}

/** The peak is the kernel's VmHWM (reset before the burst), which no sampling can miss. */
async function burst(stack: Stack, prefix: Name, digest: string): Promise<Row[]> {
  const pid = await freshServer(stack);
  const attacker = await NdnConsumer.connect(stack.forwarder.socketPath, prefix);
  await teach(attacker, prefix, digest);
  const base = rssMb(pid);
  resetPeakRss(pid);
  const reg0 = stack.registry.blobBytesServed;
  // Both name kinds at once, half each.
  await Promise.all(Array.from({ length: burstCount }, (_, i) => attacker.express(randomSegment(prefix, i % 2 ? "legacy" : "canonical", digest), 4000)));
  const peak = peakRss(pid) / 2 ** 20;
  await sleep(SETTLE_MS);
  const after = rssMb(pid);
  const peakAll = peakRss(pid) / 2 ** 20;
  await readsSettled(stack, 1000, 30_000);
  const ratio = (stack.registry.blobBytesServed - reg0) / Math.max(1, attacker.tally.dataBytes);
  const detail = `${tallyText(attacker)}; registry bytes per published byte ${ratio.toFixed(2)}; server: ${await outcomes(stack)}`;
  attacker.close();
  const name = `burst of ${burstCount} random Interests (canonical and legacy names)`;
  return [
    { case: name, figure: "server peak RSS MB", value: Math.max(peak, peakAll), goal: "<= 200", ok: Math.max(peak, peakAll) <= 200, detail },
    { case: name, figure: `server RSS MB ${SETTLE_MS / 1000} s later (base ${base.toFixed(0)})`, value: after, goal: `<= base + ${NEAR_BASE_MB}`, ok: after <= base + NEAR_BASE_MB },
  ];
}

/** The server's memory as its metrics tell it (MB): RSS, V8 heap, memory outside it, range buffers. */
async function serverMemory(stack: Stack): Promise<Record<"rss" | "heap" | "external" | "ranges", number>> {
  const m = await scrapeMetrics(`${stack.serverMetricsUrl}/metrics`);
  const mb = (k: string) => (m.get(`ndnreg_server_${k}`) ?? NaN) / 2 ** 20;
  return { rss: mb("process_resident_memory_bytes"), heap: mb("nodejs_heap_size_total_bytes"), external: mb("nodejs_external_memory_bytes"), ranges: mb("range_cache_bytes") };
}

const memoryText = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ");

async function concurrentPulls(stack: Stack, clients: ClientHandle[], digests: string[]): Promise<Row[]> {
  const pid = await freshServer(stack);
  const base = rssMb(pid);
  resetPeakRss(pid);
  let atPeak = await serverMemory(stack);
  const sampler = setInterval(() => void serverMemory(stack).then((m) => {
    atPeak = m.rss > atPeak.rss ? m : atPeak;
  }, () => undefined), 250);
  const t0 = performance.now();
  const results = await Promise.all(digests.map((d, i) => getBlob(clients[i % clients.length]!, "abuse/pulls", d)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const peak = peakRss(pid) / 2 ** 20;
  await sleep(SETTLE_MS);
  const after = rssMb(pid);
  const settled = await serverMemory(stack);
  const bytes = results.reduce((n, r) => n + r.bytes, 0);
  const sources = clients.flatMap((c) => c.blobLogs()).filter((l) => digests.includes(l.digest)).map((l) => l.source);
  const overNdn = sources.filter((s) => s === "ndn").length;
  const detail = `${(bytes / MB / seconds).toFixed(1)} MB/s in all, ${seconds.toFixed(1)} s; ${overNdn} of ${digests.length} blobs wholly over NDN; `
    + `server MB at the sampled peak: ${memoryText(atPeak)}; ${SETTLE_MS / 1000} s later: ${memoryText(settled)}; server: ${await outcomes(stack)}`;
  const name = `${digests.length} concurrent ${pullMb} MB pulls through ${clients.length} clients`;
  return [
    { case: name, figure: "server peak RSS MB", value: peak, goal: "<= 200", ok: peak <= 200 && overNdn === digests.length, detail },
    { case: name, figure: `server RSS MB ${SETTLE_MS / 1000} s later (base ${base.toFixed(0)})`, value: after, goal: `<= base + ${NEAR_BASE_MB}`, ok: after <= base + NEAR_BASE_MB },
  ];
}

/** One blob GET through `client`: MB/s, and whether every byte came over NDN. */
async function timedPull(client: ClientHandle, digest: string): Promise<{ mbps: number; source: string }> {
  const t0 = performance.now();
  const r = await getBlob(client, "abuse/pull", digest);
  const mbps = r.bytes / MB / ((performance.now() - t0) / 1000);
  await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob done"`), 5000);
  return { mbps, source: client.blobLogs().findLast((l) => l.digest === digest)!.source };
}

/**
 * Interests for random digests at `floodRate` per second; a second in, real pulls of `digests` one
 * after another, and the flood goes on until they are done. HEADs per second come from the
 * registry's own access log, counted in one-second windows. The attacker writes encoded Interests
 * on its own face and only counts the answers: on a real network its CPU is not the server's
 * host's, and an NDNts consumer per Interest took a fifth of a core from the pull measured here.
 */
async function flood(stack: Stack, prefix: Name, client: ClientHandle, digests: readonly string[], mode: "one repository" | "random repositories"): Promise<Row[]> {
  const attacker = await RawFace.connect(stack.forwarder.socketPath);
  const answers = { data: 0, nacks: 0 };
  attacker.onPacket((p) => {
    if (p.data) {
      ++answers[p.data.contentType === 3 ? "nacks" : "data"];
    }
  });
  const registryHeads = () => stack.registry.blobHeads + stack.registry.manifestHeads;
  const heads0 = registryHeads();
  const perSecond: number[] = [];
  let lastHeads = heads0;
  const sampler = setInterval(() => {
    perSecond.push(registryHeads() - lastHeads);
    lastHeads = registryHeads();
  }, 1000);
  const cpu0 = floodCpu(stack, client);
  const t0 = performance.now();
  let sent = 0;
  let pullsDone = false;
  const sender = (async () => {
    while (sent < floodCount || !pullsDone) {
      const due = Math.floor((performance.now() - t0) / 1000 * floodRate);
      for (; sent < due; ++sent) {
        const repository = mode === "one repository" ? "abuse/flood" : `abuse/r${randomBytes(4).toString("hex")}`;
        const gen = (v: Uint8Array | string) => new Component(TT.GenericNameComponent, v);
        const name = prefix.append(gen(repository), gen(randomBytes(32)), Segment.create(0));
        attacker.send(new Interest(name, Interest.Lifetime(1000), Interest.MustBeFresh));
      }
      await sleep(10);
    }
  })();
  await sleep(1000);
  const pulls: Array<{ mbps: number; source: string }> = [];
  for (const d of digests) {
    pulls.push(await timedPull(client, d));
  }
  pullsDone = true;
  await sender;
  const floodSeconds = (performance.now() - t0) / 1000;
  const cpu = floodCpu(stack, client).map(([who, s], i) => `${who} ${(s - cpu0[i]![1]).toFixed(1)}`).join(", ");
  await sleep(1500); // the last Interests' lifetime
  clearInterval(sampler);
  const heads = registryHeads() - heads0;
  const peak = Math.max(0, ...perSecond);
  const speeds = pulls.map((p) => p.mbps);
  const overNdn = pulls.every((p) => p.source === "ndn");
  const detail = `${sent} Interests in ${floodSeconds.toFixed(1)} s, ${heads} registry HEADs (${(heads / floodSeconds).toFixed(1)}/s on average); ${answers.data} Data, ${answers.nacks} Nacks, ${sent - answers.data - answers.nacks} unanswered; CPU s during the flood: ${cpu}; pulls ${speeds.map((v) => v.toFixed(1)).join(", ")} MB/s (${pulls.map((p) => p.source).join(", ")}); server: ${await outcomes(stack)}`;
  attacker.close();
  const name = `unknown-digest flood, ${mode}, ${floodRate}/s`;
  return [
    { case: name, figure: "registry HEADs in the busiest second", value: peak, goal: "<= 50", ok: peak <= 50, detail },
    { case: name, figure: "a real pull's speed, ratio to no flood", value: median(speeds), goal: ">= 0.8 over NDN", ok: overNdn, detail: pulls.map((p) => p.source).join(", ") },
  ];
}

/** CPU seconds so far of the processes a flood loads: server, forwarder, client, registry, and this one (the attacker). */
function floodCpu(stack: Stack, client: ClientHandle): Array<[string, number]> {
  const own = process.cpuUsage();
  const of = (pid: number | undefined) => (pid === undefined ? NaN : cpuSeconds(pid));
  return [
    ["server", of(stack.server?.child.pid)], ["ndnd", of(stack.forwarder.pid)], ["client", of(client.proc.child.pid)],
    ["registry", of(stack.registry.pid)], ["bench (attacker)", (own.user + own.system) / 1e6],
  ];
}

/** The pull-speed row once the usual speed is known: its value becomes the ratio. */
function withUsual(row: Row, usual: number): Row {
  const ratio = row.value / usual;
  return { ...row, value: ratio, ok: row.ok && ratio >= 0.8, detail: `${row.value.toFixed(1)} MB/s during the flood, ${usual.toFixed(1)} MB/s without (medians of ${floodPulls} pulls each)` };
}

async function main(): Promise<void> {
  const prefix = new Name("/ndnreg/abuse");
  const stack = await Stack.start({ label: "abuse", prefix: "/ndnreg/abuse" });
  const rows: Row[] = [];
  try {
    console.error(`pushing a ${blobMb} MB blob, ${pullCount} + ${3 * floodPulls} blobs of ${pullMb} MB`);
    const big = await pushRandomBlob(stack, "abuse/big", blobMb);
    const pulls: string[] = [];
    for (let i = 0; i < pullCount; ++i) {
      pulls.push(await pushRandomBlob(stack, "abuse/pulls", pullMb));
    }
    const single: string[] = [];
    for (let i = 0; i < (cases.has("flood") ? 3 * floodPulls : 0); ++i) {
      single.push(await pushRandomBlob(stack, "abuse/pull", pullMb));
    }
    execFileSync("sync");
    const clients: ClientHandle[] = [];
    for (let i = 0; i < clientCount; ++i) {
      clients.push(await stack.startClient());
    }

    if (cases.has("random")) {
      for (const kind of ["canonical", "legacy"] as const) {
        rows.push(...await randomSegments(stack, prefix, big, kind));
        console.error(`  ${rows.at(-1)!.case}: ${rows.at(-1)!.value.toFixed(2)}`);
      }
    }
    if (cases.has("burst")) {
      rows.push(...await burst(stack, prefix, big));
      console.error(`  ${rows.at(-2)!.case}: peak ${rows.at(-2)!.value.toFixed(0)} MB`);
    }
    if (cases.has("pulls")) {
      rows.push(...await concurrentPulls(stack, clients, pulls));
      console.error(`  ${rows.at(-2)!.case}: peak ${rows.at(-2)!.value.toFixed(0)} MB`);
    }
    if (cases.has("flood")) {
      // The usual speed: pulls before the floods and after (each of a blob never pulled).
      await freshServer(stack);
      const blobs = (k: number) => single.slice(k * floodPulls, (k + 1) * floodPulls);
      const usualBlobs = blobs(0);
      const before: Array<{ mbps: number; source: string }> = [];
      for (const d of usualBlobs.slice(0, -1)) {
        before.push(await timedPull(clients[0]!, d));
      }
      const floodRows = [
        ...await flood(stack, prefix, clients[0]!, blobs(1), "one repository"),
        ...await flood(stack, prefix, clients[0]!, blobs(2), "random repositories"),
      ];
      const without = [...before, await timedPull(clients[0]!, usualBlobs.at(-1)!)];
      const usual = median(without.map((p) => p.mbps));
      console.error(`  pulls without a flood: ${without.map((p) => `${p.mbps.toFixed(1)} (${p.source})`).join(", ")} MB/s`);
      rows.push(...floodRows.map((r) => (r.figure.startsWith("a real pull") ? withUsual(r, usual) : r)));
    }

    printTable(rows);
    const dir = fileURLToPath(new URL("../../bench-results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `abuse-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, JSON.stringify({ blobMb, randomCount, burstCount, pullCount, pullMb, clientCount, floodCount, floodRate, rows }, null, 2));
    console.log(`\nsaved ${file}`);
    if (rows.some((r) => !r.ok)) {
      process.exitCode = 1;
    }
  } finally {
    await stack.stop();
  }
}

function printTable(rows: readonly Row[]): void {
  console.log("\n| case | figure | value | goal | met |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.case} | ${r.figure} | ${r.value.toFixed(r.value < 10 ? 2 : 0)} | ${r.goal} | ${r.ok ? "yes" : "NO"} |`);
  }
  console.log("");
  for (const r of rows.filter((r) => r.detail)) {
    console.log(`- ${r.case}: ${r.detail}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
