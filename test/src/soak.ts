/**
 * `pnpm soak`: many image pulls through one client (SOAK_PULLS, default 200) against one server,
 * sampling the client's and server's RSS and open file descriptors and the forwarder's face count
 * every SOAK_EVERY pulls. Exits non-zero on any failed pull or wrong byte, or when a resource keeps
 * growing (last sample above the post-warm-up sample by more than the allowed slack).
 * SOAK_HEAP_SNAPSHOTS=1 (see below): the client's heap is sampled after a full collection, and
 * checked too.
 * SOAK_STORE=1: the edge store's soak instead (soak-store.ts).
 */
import { rmSync } from "node:fs";
import path from "node:path";

import { createImage, type ClientHandle, metricSum, openFds, peakRss, pullImage, pushImage, residentBytes, Stack, type TestImage, verifyPulled } from "./bench/index.js";
import { storeSoak } from "./soak-store.js";

const pulls = Number(process.env["SOAK_PULLS"] ?? 200);
const every = Number(process.env["SOAK_EVERY"] ?? 20);
/** Set (with BENCH_CLIENT_NODE_ARGS="--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>"): the client writes a heap snapshot before each sample. */
const snapshots = process.env["SOAK_HEAP_SNAPSHOTS"] === "1";

interface Sample {
  pull: number;
  clientRssMb: number;
  /** The client's V8 heap in use: tells a heap that keeps growing from memory the process has not given back. */
  clientHeapMb: number;
  serverRssMb: number;
  clientFds: number;
  serverFds: number;
  faces: number;
}

function rssMb(pid: number): number {
  return residentBytes(pid) / 2 ** 20;
}

async function sample(stack: Stack, client: ClientHandle, pull: number): Promise<Sample> {
  const faces = (await stack.forwarder.control("face-list")).split("\n").filter((l) => /faceid=/.test(l)).length;
  const c = client.proc.child.pid!;
  const s = stack.server!.child.pid!;
  if (snapshots) {
    // The snapshot is written on the client's main thread: the metrics request below waits for it.
    process.kill(c, "SIGUSR2");
  }
  const clientHeapMb = await metricSum(`${client.url}/metrics`, "ndnreg_client_nodejs_heap_size_used_bytes") / 2 ** 20;
  return { pull, clientRssMb: rssMb(c), clientHeapMb, serverRssMb: rssMb(s), clientFds: openFds(c), serverFds: openFds(s), faces };
}

async function main(): Promise<void> {
  const stack = await Stack.start({ label: "soak", csCapacity: 20_000 });
  let failed = 0;
  const samples: Sample[] = [];
  try {
    // Three images, pulled in turn, so blobs are fetched both cold (first round) and from caches.
    const images: TestImage[] = [];
    for (let i = 0; i < 3; ++i) {
      const image = createImage(path.join(stack.runDir, `image-${i}`), { format: i === 1 ? "docker" : "oci", layers: [1_500_000 + i, 700_000 + i, 20_000 + i] });
      await pushImage(image, stack.registry.host, `soak/image${i}:v1`);
      images.push(image);
    }
    const client = await stack.startClient();
    const t0 = performance.now();
    for (let n = 1; n <= pulls; ++n) {
      const image = images[n % images.length]!;
      const out = path.join(stack.runDir, "out");
      try {
        await pullImage(client.host, `soak/image${n % images.length}:v1`, out);
        await verifyPulled(image, out);
      } catch (err: unknown) {
        ++failed;
        console.error(`pull ${n}: ${String(err).slice(0, 300)}`);
      }
      rmSync(out, { recursive: true, force: true });
      if (n === 1 || n % every === 0) {
        samples.push(await sample(stack, client, n));
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    console.log(`\n${pulls} pulls in ${seconds.toFixed(1)} s, ${failed} failed; client peak RSS ${(peakRss(client.proc.child.pid!) / 2 ** 20).toFixed(0)} MB\n`);
    console.log("| after pull | client RSS MB | client heap used MB | server RSS MB | client fds | server fds | forwarder faces |");
    console.log("|---|---|---|---|---|---|---|");
    for (const s of samples) {
      console.log(`| ${s.pull} | ${s.clientRssMb.toFixed(0)} | ${s.clientHeapMb.toFixed(0)} | ${s.serverRssMb.toFixed(0)} | ${s.clientFds} | ${s.serverFds} | ${s.faces} |`);
    }
    const warm = samples[Math.min(1, samples.length - 1)]!;
    const last = samples.at(-1)!;
    const growth = [
      last.clientRssMb > warm.clientRssMb + 40 && `client RSS ${warm.clientRssMb.toFixed(0)} -> ${last.clientRssMb.toFixed(0)} MB`,
      // Sampled after the snapshot's full collection, the heap in use is what the client holds.
      snapshots && last.clientHeapMb > warm.clientHeapMb + 5 && `client heap after a full collection ${warm.clientHeapMb.toFixed(0)} -> ${last.clientHeapMb.toFixed(0)} MB`,
      last.serverRssMb > warm.serverRssMb + 40 && `server RSS ${warm.serverRssMb.toFixed(0)} -> ${last.serverRssMb.toFixed(0)} MB`,
      last.clientFds > warm.clientFds + 10 && `client fds ${warm.clientFds} -> ${last.clientFds}`,
      last.serverFds > warm.serverFds + 10 && `server fds ${warm.serverFds} -> ${last.serverFds}`,
      last.faces > warm.faces && `faces ${warm.faces} -> ${last.faces}`,
    ].filter(Boolean);
    if (failed > 0 || growth.length > 0) {
      console.error(`soak failed: ${failed} failed pulls; ${growth.join("; ") || "no growth"}`);
      process.exitCode = 1;
    }
  } finally {
    await stack.stop();
  }
}

(process.env["SOAK_STORE"] === "1" ? storeSoak(pulls, every) : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
