/**
 * `pnpm bench:layers`: the three-layer comparison of `pnpm bench`, alone and per round, for
 * profiling. Each round pushes seven new layers, fetches one to warm the path up, then three one
 * after another and three others at once (the order alternating), and prints wall time, each
 * blob's time to first byte, the machine's idle share and CPU seconds of client / server / ndnd /
 * registry / the blob puller (the HTTP client, its own process). Environment: BENCH_LAYER_RUNS (10), BENCH_PAR_MB (30), BENCH_FILL
 * (content store filled to this fraction first: 1.1), BENCH_MODE (seq or par: only that case),
 * BENCH_NODE_ARGS and NDND_CPU_PROFILE as for `pnpm bench`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { BlobPuller, cpuSeconds, createImage, getBlob, getThreeLayers, median, pushImage, pushLayerRound, roundOrder, Stack } from "./bench/index.js";

const CS_CAPACITY = 34_000;
const rounds = Number(process.env["BENCH_LAYER_RUNS"] ?? 10);
const layerMb = Number(process.env["BENCH_PAR_MB"] ?? 30);
const fill = Number(process.env["BENCH_FILL"] ?? 1.1);
const mode = process.env["BENCH_MODE"];

/** Idle and total jiffies of the whole machine. */
function machineTicks(): { idle: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

const stack = await Stack.start({ label: "bench-layers", csCapacity: CS_CAPACITY });
const puller = BlobPuller.start();
try {
  const client = await stack.startClient();
  if (fill > 0) {
    const filler = createImage(path.join(stack.runDir, "fill"), { format: "oci", layers: [Math.round(CS_CAPACITY * 8000 * fill)] });
    await pushImage(filler, stack.registry.host, "bench/fill:v1", 900_000);
    await getBlob(client, "bench/fill", filler.layers[0]!.digest);
  }
  const times: Record<"seq" | "par", number[]> = { seq: [], par: [] };
  console.log("round case seconds first-byte-ms idle% cpu-s client/server/ndnd/registry/puller");
  for (let i = 0; i < rounds; ++i) {
    const repository = `bench/layers-${i}`;
    const image = await pushLayerRound(stack, puller, client, repository, layerMb);
    const order = mode === "seq" ? [false] : mode === "par" ? [true] : roundOrder(i);
    for (const parallel of order) {
      const pids = [client.proc.child.pid!, stack.server!.child.pid!, stack.forwarder.pid!, stack.registry.pid!, puller.pid];
      const cpu0 = pids.map(cpuSeconds);
      const ticks0 = machineTicks();
      const t0 = performance.now();
      const firstBytes = (await getThreeLayers(puller, client, repository, image, parallel)).map((r) => r.firstByteMs);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = pids.map((pid, k) => (cpuSeconds(pid) - cpu0[k]!).toFixed(2));
      const ticks1 = machineTicks();
      const idle = (100 * (ticks1.idle - ticks0.idle)) / (ticks1.total - ticks0.total);
      const kind = parallel ? "par" : "seq";
      times[kind].push(seconds);
      console.log(`${i} ${kind} ${seconds.toFixed(3)} ${firstBytes.map((t) => t.toFixed(0)).join(",")} ${idle.toFixed(0)} ${cpu.join("/")}`);
    }
  }
  if (times.seq.length > 0 && times.par.length > 0) {
    const wins = times.par.filter((t, k) => t < times.seq[k]!).length;
    console.log(`median: one after another ${median(times.seq).toFixed(3)} s, at once ${median(times.par).toFixed(3)} s; at once faster in ${wins} of ${rounds} rounds`);
  }
} finally {
  puller.stop();
  await stack.stop();
}
