/**
 * `pnpm bench`: one table of where time, CPU, memory and registry bytes go for a pull of a
 * ~180 MB image, every case measured in the same run, plus three layers fetched at once against
 * one after another, and a single large layer (peak RSS). Environment: BENCH_MB (180),
 * BENCH_LAYERS (5), BENCH_RUNS (3), BENCH_BIG_MB (1000; 0 skips it), BENCH_PAR_MB (layer
 * sizes of the three-layer rows: 30,2), BENCH_LAYER_RUNS (9), BENCH_SHARED_MB (100: the layer four
 * repositories share; 0 skips it), BENCH_CPU_MB (150: the layer the client's CPU with and without a trust anchor is
 * measured on; 0 skips it). The tables are printed; the main table is saved under bench-results/ as JSON
 * (with the goals) and as an SVG chart.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  anchorCpuGoal, barChartSvg, BlobPuller, CacheHits, type ClientHandle, cpuSeconds, createImage, getBlob, getThreeLayers, type GoalRow,
  type ManagedProcess, median, peakRss, printGoals, pullImage, pushImage, pushLayerRound, rangeGoal, residentBytes, resetPeakRss, roundOrder,
  sharedLayerGoal, Stack, STOCK_UDP_MTU, type TestImage, verifyPulled,
} from "./bench/index.js";

const MB = 1e6;
const UDP_CASE = "client on the forwarder's UDP face";
const imageMb = Number(process.env["BENCH_MB"] ?? 180);
const layerCount = Number(process.env["BENCH_LAYERS"] ?? 5);
const runs = Number(process.env["BENCH_RUNS"] ?? 3);
const bigMb = Number(process.env["BENCH_BIG_MB"] ?? 1000);
/** Layer sizes (MB) of the three-layer rows: a CPU-bound size and a latency-bound one. */
const parSizes = (process.env["BENCH_PAR_MB"] ?? "30,2").split(",").map(Number).filter((n) => n > 0);
const layerRuns = Number(process.env["BENCH_LAYER_RUNS"] ?? 9);
const sharedMb = Number(process.env["BENCH_SHARED_MB"] ?? 100);
const cpuMb = Number(process.env["BENCH_CPU_MB"] ?? 150);

interface Sample {
  seconds: number;
  clientCpu: number;
  serverCpu: number;
  forwarderCpu: number;
  clientRss: number;
  serverRss: number;
  registryBytes: number;
  /** Share of the segments the client received that caches answered (NaN: no NDN). */
  cacheHit: number;
}

interface Row {
  case: string;
  seconds: number;
  mbps: number;
  ratio: number;
  clientCpuPerGb: number | null;
  serverCpuPerGb: number | null;
  forwarderCpuPerGb: number | null;
  clientPeakRssMb: number | null;
  serverPeakRssMb: number | null;
  registryBlobBytes: number;
  cacheHitPercent: number | null;
}

async function measure(stack: Stack, image: TestImage, host: string, client: ClientHandle | undefined, label: string, i: number): Promise<Sample> {
  const server: ManagedProcess | undefined = stack.server?.running ? stack.server : undefined;
  const pids = [client?.proc.child.pid, server?.child.pid, stack.forwarder.pid];
  pids.forEach((pid) => pid && resetPeakRss(pid));
  const cpu0 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
  const reg0 = stack.registry.blobBytesServed;
  const hits = client && new CacheHits(stack, [client]);
  await hits?.start();
  // The push before a cold run and the earlier pulls leave hundreds of MB dirty in the page cache,
  // which the kernel writes back ~30 s later, during some other run: written now, outside all.
  execFileSync("sync");
  const t0 = performance.now();
  const out = await pullImage(host, "bench/image:v1", path.join(stack.runDir, `out-${label}-${i}`), { timeoutMs: 900_000 });
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 200)); // let the registry write its access log lines
  const cpu1 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
  await verifyPulled(image, out);
  rmSync(out, { recursive: true, force: true });
  return {
    seconds,
    clientCpu: cpu1[0]! - cpu0[0]!,
    serverCpu: cpu1[1]! - cpu0[1]!,
    forwarderCpu: cpu1[2]! - cpu0[2]!,
    clientRss: pids[0] ? peakRss(pids[0]) : 0,
    serverRss: pids[1] ? peakRss(pids[1]) : 0,
    registryBytes: stack.registry.blobBytesServed - reg0,
    cacheHit: hits ? (await hits.result()).hit : NaN,
  };
}

/** Give `client`'s UDP face on the forwarder ndnd's stock MTU, so that Data reach it in NDNLPv2 fragments. */
async function stockUdpMtu(stack: Stack, client: ClientHandle): Promise<void> {
  await stack.forwarder.setFaceMtu(await stack.forwarder.udpFaceOf(client.proc.child.pid!), STOCK_UDP_MTU);
}

/** Three layers never fetched before (so the path is cold): at once, or one after another. */
async function layerConcurrency(
  stack: Stack, puller: BlobPuller, client: ClientHandle, image: TestImage, repository: string, parallel: boolean, parMb: number,
): Promise<Row> {
  const pids = [client.proc.child.pid, stack.server?.child.pid, stack.forwarder.pid];
  const cpu0 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
  const t0 = performance.now();
  const results = await getThreeLayers(puller, client, repository, image, parallel);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
  const bytes = results.reduce((n, r) => n + r.bytes, 0);
  return {
    case: `3 layers of ${parMb} MB ${parallel ? "at once" : "one after another"}, cold`, seconds, mbps: bytes / MB / seconds, ratio: NaN,
    clientCpuPerGb: (cpu1[0]! - cpu0[0]!) / (bytes / 1e9), serverCpuPerGb: (cpu1[1]! - cpu0[1]!) / (bytes / 1e9),
    forwarderCpuPerGb: (cpu1[2]! - cpu0[2]!) / (bytes / 1e9), clientPeakRssMb: null, serverPeakRssMb: null, registryBlobBytes: NaN, cacheHitPercent: null,
  };
}

async function main(): Promise<void> {
  // Room for an image and a half: the warm cases find the last cold image whole in the router.
  const csCapacity = Math.ceil((imageMb * MB * 1.5) / 8000);
  const stack = await Stack.start({ label: "bench", csCapacity });
  // The server signs metadata and manifests with a keychain key; anchored clients are given its certificate.
  const key = await stack.serverKey();
  await stack.startServer(key.env);
  const puller = BlobPuller.start();
  const rows: Row[] = [];
  const goals: GoalRow[] = [];
  try {
    const layerBytes = Math.round((imageMb * MB) / layerCount);
    // Each cold run pulls an image never pulled before (fresh random layers under the same tag):
    // no router or server cache has its bytes, while the server and clients keep running as they
    // would in production (a restarted process would add its JIT warm-up to every cold run).
    let images = 0;
    const newImage = async (): Promise<TestImage> => {
      const img = createImage(path.join(stack.runDir, `image-${++images}`), { format: "oci", layers: Array(layerCount).fill(layerBytes) });
      await pushImage(img, stack.registry.host, "bench/image:v1");
      return img;
    };
    let image = await newImage();
    const imageBytes = image.blobs.reduce((n, b) => n + b.size, 0);
    const cold = await stack.startClient();
    const warm = await stack.startClient();
    // The same as `cold`, on the forwarder's UDP face: with the MTU its configuration fits to
    // loopback (a segment per datagram), and a face given ndnd's stock MTU (NDNLPv2 fragments).
    const udp = await stack.startClient({ router: stack.forwarder.udpUri });
    const udpStock = await stack.startClient({ router: stack.forwarder.udpUri });
    // Steady state first, as on a router and proxies that have been running for a while: JIT
    // compiled, and the forwarder's content store full of other layers. A store still growing
    // costs ndnd twice the CPU per packet (its profile: memmove into fresh memory, page faults in
    // this VM; measured 16-17 vs 7-8 CPU-s/GB). ndnd 1.5.3 never quite gets there: its name tree
    // keeps a node for every Data its content store evicted, so its heap grows with the traffic
    // (hence the resident-memory line after the table).
    const fill = createImage(path.join(stack.runDir, "fill"), { format: "oci", layers: [Math.round(csCapacity * 8000 * 1.1), 20 * MB] });
    await pushImage(fill, stack.registry.host, "bench/fill:v1", 900_000);
    await getBlob(cold, "bench/fill", fill.layers[0]!.digest);
    await getBlob(warm, "bench/fill", fill.layers[1]!.digest);
    await getBlob(udp, "bench/fill", fill.layers[1]!.digest);
    await getBlob(udpStock, "bench/fill", fill.layers[1]!.digest);
    await stockUdpMtu(stack, udpStock);
    await getBlob(udpStock, "bench/fill", fill.layers[1]!.digest);
    const forwarderRssAfterFill = residentBytes(stack.forwarder.pid!);
    console.error(`image: ${(imageBytes / MB).toFixed(1)} MB in ${layerCount} layers; ${runs} runs per case`);

    // Three never-fetched layers one after another, and three others at once, through the
    // long-running client and server; median of BENCH_LAYER_RUNS rounds, each with new layers (and
    // a seventh to warm the path up), the two orders alternating, so neither always inherits the
    // forwarder's state from the other (ndnd's growing heap costs whichever round faults in new
    // memory 0.3-0.7 CPU-s, a third of a case). Run before the image cases so they do not evict
    // that image from the router's cache.
    const layerRows: Row[] = [];
    for (const parMb of parSizes) {
      const rounds: Row[][] = [[], []];
      for (let i = 0; i < layerRuns; ++i) {
        const repository = `bench/layers${parMb}-${i}`;
        const layersImage = await pushLayerRound(stack, puller, cold, repository, parMb);
        for (const parallel of roundOrder(i)) {
          const row = await layerConcurrency(stack, puller, cold, layersImage, repository, parallel, parMb);
          rounds[parallel ? 1 : 0]!.push(row);
          console.error(`  ${row.case} run ${i + 1}: ${row.seconds.toFixed(2)} s`);
        }
      }
      for (const rs of rounds) {
        const mid = median(rs.map((r) => r.seconds));
        layerRows.push(rs.find((r) => r.seconds === mid)!);
      }
    }
    // Cases marked `inTurns` next to each other run in turns, one run of each in a round, so that
    // the UDP faces are compared with the Unix socket over the same stretch of the forwarder's life
    // (its heap grows with every segment forwarded; a case run after the others pays more for it).
    const cases: Array<{ name: string; host: string; client?: ClientHandle; ndn: boolean; inTurns?: true; before?: () => Promise<void> }> = [
      { name: "direct skopeo pull from the registry", host: stack.registry.host, ndn: false },
      {
        name: "through client, cold caches", host: cold.host, client: cold, ndn: true, inTurns: true,
        before: async () => {
          image = await newImage();
        },
      },
      {
        name: `${UDP_CASE} (MTU ${stack.forwarder.udpMtu}), cold caches`, host: udp.host, client: udp, ndn: true, inTurns: true,
        before: async () => {
          image = await newImage();
        },
      },
      {
        name: `${UDP_CASE} (stock ndnd MTU ${STOCK_UDP_MTU}), cold caches`, host: udpStock.host, client: udpStock, ndn: true, inTurns: true,
        before: async () => {
          image = await newImage();
          await stockUdpMtu(stack, udpStock); // again: ndnd replaces a face idle past its lifetime
        },
      },
      { name: "second client, router cache warm", host: warm.host, client: warm, ndn: true },
      { name: "router cache warm, server stopped", host: warm.host, client: warm, ndn: true, before: async () => { await stack.stopServer(); } },
    ];
    let directMbps = 0;
    const samplesOf = cases.map((): Sample[] => []);
    for (let first = 0; first < cases.length;) {
      let end = first + 1;
      while (cases[first]!.inTurns && end < cases.length && cases[end]!.inTurns) {
        ++end;
      }
      // One round unmeasured first: the first cold pull after the direct case's idle stretch was
      // slower than the next in 10 of 11 runs (docs/performance.md, "fourth round").
      for (let i = cases[first]!.inTurns ? -1 : 0; i < runs; ++i) {
        for (let k = first; k < end; ++k) {
          const c = cases[k]!;
          await c.before?.();
          const sample = await measure(stack, image, c.host, c.client, `case${k}`, i);
          if (i < 0) {
            console.error(`  ${c.name} warm-up round: ${sample.seconds.toFixed(2)} s`);
            continue;
          }
          samplesOf[k]!.push(sample);
          console.error(`  ${c.name} run ${i + 1}: ${samplesOf[k]!.at(-1)!.seconds.toFixed(2)} s`);
        }
      }
      first = end;
    }
    for (const [k, c] of cases.entries()) {
      const samples = samplesOf[k]!;
      const seconds = median(samples.map((s) => s.seconds));
      const mbps = imageBytes / MB / seconds;
      if (!c.ndn) {
        directMbps = mbps;
      }
      const gb = imageBytes / 1e9;
      const serverUsed = samples.some((s) => s.serverCpu > 0);
      rows.push({
        case: c.name, seconds, mbps, ratio: mbps / directMbps,
        clientCpuPerGb: c.client ? median(samples.map((s) => s.clientCpu)) / gb : null,
        serverCpuPerGb: c.ndn && serverUsed ? median(samples.map((s) => s.serverCpu)) / gb : null,
        clientPeakRssMb: c.client ? median(samples.map((s) => s.clientRss)) / 2 ** 20 : null,
        forwarderCpuPerGb: c.ndn ? median(samples.map((s) => s.forwarderCpu)) / gb : null,
        serverPeakRssMb: c.ndn && serverUsed ? median(samples.map((s) => s.serverRss)) / 2 ** 20 : null,
        registryBlobBytes: median(samples.map((s) => s.registryBytes)),
        cacheHitPercent: c.client ? 100 * median(samples.map((s) => s.cacheHit)) : null,
      });
    }
    // Issue 17's goals, through the same forwarder and a running server.
    await stack.startServer(key.env);
    if (sharedMb > 0) {
      goals.push(...await sharedLayerGoal(stack, sharedMb));
    }
    if (cpuMb > 0) {
      goals.push(...await anchorCpuGoal(stack, key.certFile, cpuMb, 5));
    }
    // The layer rows go in the table after the warm case (their ratio needs the direct pull's).
    layerRows.forEach((r) => { r.ratio = r.mbps / directMbps; });
    rows.splice(rows.findIndex((r) => r.case.startsWith("second client")) + 1, 0, ...layerRows);
    if (bigMb > 0) {
      // One large layer through a fresh client and server: what memory does a long blob cost?
      const big = createImage(path.join(stack.runDir, "big"), { format: "oci", layers: [bigMb * MB] });
      await pushImage(big, stack.registry.host, "bench/big:v1", 900_000);
      await stack.stopServer();
      await stack.startServer(key.env);
      const client = await stack.startClient();
      const pids = [client.proc.child.pid, stack.server!.child.pid, stack.forwarder.pid];
      pids.forEach((pid) => pid && resetPeakRss(pid));
      const cpu0 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
      const t0 = performance.now();
      const out = await pullImage(client.host, "bench/big:v1", path.join(stack.runDir, "out-big"), { timeoutMs: 900_000 });
      const seconds = (performance.now() - t0) / 1000;
      const cpu1 = pids.map((pid) => (pid ? cpuSeconds(pid) : 0));
      await verifyPulled(big, out);
      rmSync(out, { recursive: true, force: true });
      const gb = bigMb * MB / 1e9;
      const mbps = bigMb / seconds;
      rows.push({
        case: `one ${bigMb} MB layer, cold`, seconds, mbps, ratio: mbps / directMbps,
        clientCpuPerGb: (cpu1[0]! - cpu0[0]!) / gb, serverCpuPerGb: (cpu1[1]! - cpu0[1]!) / gb, forwarderCpuPerGb: (cpu1[2]! - cpu0[2]!) / gb,
        clientPeakRssMb: peakRss(pids[0]!) / 2 ** 20, serverPeakRssMb: peakRss(pids[1]!) / 2 ** 20, registryBlobBytes: NaN, cacheHitPercent: null,
      });
      console.error(`  one ${bigMb} MB layer: ${seconds.toFixed(2)} s`);
      const anchoredClient = await stack.startClient({ args: ["--trust-anchor", key.certFile] });
      goals.push(await rangeGoal(anchoredClient, "bench/big", big.layers[0]!.digest, big.layers[0]!.size));
    }
    printTable(rows, imageBytes);
    const udpRatios = pairedRatios(cases.map((c) => c.name), samplesOf);
    for (const r of udpRatios) {
      console.log(`\nUDP face (${r.mtu}) against the Unix socket, cold: ${r.median.toFixed(2)}x (median of the rounds' ratios: ${r.rounds.map((x) => x.toFixed(2)).join(", ")})`);
    }
    printGoals(goals);
    console.log(`\nndnd resident memory: ${(forwarderRssAfterFill / MB).toFixed(0)} MB once its content store was full, ${(residentBytes(stack.forwarder.pid!) / MB).toFixed(0)} MB at the end (capacity ${csCapacity} packets, ~${(csCapacity * 8200 / MB).toFixed(0)} MB)`);
    const dir = fileURLToPath(new URL("../../bench-results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, JSON.stringify({ imageBytes, layerCount, runs, rows, udpRatios, goals }, null, 2));
    const chart = file.replace(/\.json$/, ".svg");
    writeFileSync(chart, benchChart(rows, imageBytes, path.basename(file, ".json")));
    console.log(`\nsaved ${file} and ${chart}`);
  } finally {
    puller.stop();
    await stack.stop();
  }
}

/**
 * Each UDP case's throughput against the Unix socket's in the same round (the cases run in turns),
 * and the median of those: a round's two pulls share the machine's state (other load, ndnd's heap),
 * which a ratio of the two columns' medians, taken from different rounds, does not cancel.
 */
function pairedRatios(names: readonly string[], samplesOf: readonly Sample[][]): Array<{ mtu: string; median: number; rounds: number[] }> {
  const unix = samplesOf[names.findIndex((n) => n.startsWith("through client, cold"))];
  if (!unix) {
    return [];
  }
  return names.flatMap((name, k) => {
    if (!name.startsWith(UDP_CASE)) {
      return [];
    }
    const rounds = samplesOf[k]!.map((s, i) => unix[i]!.seconds / s.seconds);
    return [{ mtu: /\((.*MTU \d+)\)/.exec(name)![1]!, median: median(rounds), rounds }];
  });
}

/** The table as bars: throughput, CPU per GB of each process, peak memory. */
function benchChart(rows: readonly Row[], imageBytes: number, name: string): string {
  const col = (pick: (r: Row) => number | null) => rows.map((r) => {
    const v = pick(r);
    return v === null || Number.isNaN(v) ? null : v;
  });
  return barChartSvg(`${name}: image ${(imageBytes / MB).toFixed(0)} MB in ${layerCount} layers, median of ${runs} runs (3-layer rows: of ${layerRuns})`,
    rows.map((r) => r.case), [
      { title: "MB/s", series: [{ name: "MB/s", color: "#3b7dd8", values: col((r) => r.mbps) }] },
      {
        title: "CPU-s per GB", stacked: true, series: [
          { name: "client", color: "#e07b39", values: col((r) => r.clientCpuPerGb) },
          { name: "server", color: "#5aa55a", values: col((r) => r.serverCpuPerGb) },
          { name: "ndnd", color: "#9467bd", values: col((r) => r.forwarderCpuPerGb) },
        ],
      },
      {
        title: "peak RSS, MB", decimals: 0, series: [
          { name: "client", color: "#e07b39", values: col((r) => r.clientPeakRssMb) },
          { name: "server", color: "#5aa55a", values: col((r) => r.serverPeakRssMb) },
        ],
      },
    ]);
}

function printTable(rows: Row[], imageBytes: number): void {
  const f = (v: number | null, d = 1) => (v === null ? "-" : v.toFixed(d));
  console.log(`\nimage ${(imageBytes / MB).toFixed(1)} MB, ${layerCount} layers, median of ${runs} runs (the 3-layer rows: of ${layerRuns}; the last row: one run)\n`);
  console.log("| case | seconds | MB/s | ratio to direct | client CPU-s/GB | server CPU-s/GB | ndnd CPU-s/GB | client peak RSS MB | server peak RSS MB | registry blob bytes | cache hit % |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.case} | ${f(r.seconds, 2)} | ${f(r.mbps)} | ${f(r.ratio, 2)} | ${f(r.clientCpuPerGb)} | ${f(r.serverCpuPerGb)} | ${f(r.forwarderCpuPerGb)} | ${f(r.clientPeakRssMb, 0)} | ${f(r.serverPeakRssMb, 0)} | ${Number.isNaN(r.registryBlobBytes) ? "-" : r.registryBlobBytes} | ${r.cacheHitPercent === null || Number.isNaN(r.cacheHitPercent) ? "-" : r.cacheHitPercent.toFixed(1)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
