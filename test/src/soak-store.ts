/**
 * `SOAK_STORE=1 pnpm soak`: the edge store at its byte budget under SOAK_PULLS neighbour pulls
 * (issue 20). Client S (the store, budget SOAK_STORE_BUDGET_MB, default 8) on the server's
 * forwarder; client N (the neighbour) on a second forwarder routed to it, both forwarders' caches
 * small. Round n: S pulls blob n of a working set larger than the budget (stored, evicting the
 * least recently used blob and withdrawing its routes), then N pulls the blob S pulled the round
 * before (served by S's store while S holds it). Every GET is checked against its digest; RSS and
 * open descriptors of S and N are printed at start, middle and end. Fails on any wrong or missing
 * byte, a stored file that does not hash to its name, withdrawals that do not follow evictions,
 * or growth from the middle to the end.
 */
import { readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

import { type ClientHandle, Forwarder, getBlob, hashFile, openFds, residentBytes, scrapeMetrics, Stack } from "./bench/index.js";
import { pushRawBlob } from "./tests/helpers.js";

const BLOB_BYTES = 2_000_000;
const WORKING_SET = Number(process.env["SOAK_STORE_BLOBS"] ?? 10);
const BUDGET_MB = Number(process.env["SOAK_STORE_BUDGET_MB"] ?? 8);

interface Sample {
  readonly pull: number;
  readonly storeRssMb: number;
  readonly storeFds: number;
  readonly neighbourRssMb: number;
  readonly neighbourFds: number;
  readonly evictions: number;
  readonly withdrawals: number;
  readonly servedSegments: number;
}

async function sample(pull: number, store: ClientHandle, neighbour: ClientHandle): Promise<Sample> {
  const s = store.proc.child.pid!;
  const n = neighbour.proc.child.pid!;
  // One scrape: the store writes (and evicts) after its GET has ended, so two scrapes could straddle an eviction.
  const series = [...await scrapeMetrics(`${store.url}/metrics`)];
  const metric = (name: string) => series.filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((sum, [, v]) => sum + v, 0);
  return {
    pull, storeRssMb: residentBytes(s) / 2 ** 20, storeFds: openFds(s), neighbourRssMb: residentBytes(n) / 2 ** 20, neighbourFds: openFds(n),
    evictions: metric("ndnreg_client_store_evictions_total"), withdrawals: metric("ndnreg_client_store_withdrawals_total"),
    servedSegments: metric("ndnreg_client_store_segments_total"),
  };
}

export async function storeSoak(pulls: number, every: number): Promise<void> {
  const stack = await Stack.start({ label: "soak-store", csCapacity: 200 });
  const site = await Forwarder.start(stack.runDir, { name: "soak-site", csCapacity: 200 });
  let failed = 0;
  const samples: Sample[] = [];
  try {
    await stack.startServer();
    await site.addRoute(stack.prefix, stack.forwarder.tcpUri);
    const digests: string[] = [];
    for (let i = 0; i < WORKING_SET; ++i) {
      digests.push(await pushRawBlob(stack.registry.url, "soak/store", randomBytes(BLOB_BYTES)));
    }
    const storeDir = path.join(stack.runDir, "store");
    const store = await stack.startClient({ args: ["--store-dir", storeDir, "--store-bytes", String(BUDGET_MB * 1e6)] });
    const neighbour = await stack.startClient({ router: site.uri });
    const get = async (who: ClientHandle, what: string, digest: string) => {
      try {
        await getBlob(who, "soak/store", digest); // rejects unless the bytes hash to the digest
      } catch (err: unknown) {
        ++failed;
        console.error(`${what}: ${String(err).slice(0, 300)}`);
      }
    };
    const t0 = performance.now();
    for (let n = 1; n <= pulls; ++n) {
      await get(store, `round ${n}, store`, digests[n % WORKING_SET]!);
      await get(neighbour, `pull ${n}, neighbour`, digests[(n - 1) % WORKING_SET]!);
      if (n === 1 || n % every === 0 || n === Math.round(pulls / 2)) {
        samples.push(await sample(n, store, neighbour));
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const fromStore = neighbour.blobLogs().filter((l) => l.source === "ndn").length;
    console.log(`\n${pulls} neighbour pulls (${BLOB_BYTES / 1e6} MB blobs, working set ${WORKING_SET}, store budget ${BUDGET_MB} MB) in ${seconds.toFixed(1)} s, ${failed} failed GETs; ${fromStore} neighbour pulls over NDN\n`);
    console.log("| after pull | store RSS MB | store fds | neighbour RSS MB | neighbour fds | evictions | withdrawals | segments served by the store |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const s of samples) {
      console.log(`| ${s.pull} | ${s.storeRssMb.toFixed(0)} | ${s.storeFds} | ${s.neighbourRssMb.toFixed(0)} | ${s.neighbourFds} | ${s.evictions} | ${s.withdrawals} | ${s.servedSegments} |`);
    }
    const problems: string[] = [];
    const blobDir = path.join(storeDir, "blobs", "sha256");
    for (const hex of readdirSync(blobDir)) {
      if (await hashFile(path.join(blobDir, hex)) !== `sha256:${hex}`) {
        problems.push(`stored blob ${hex} does not hash to its name`);
      }
    }
    // The heap settles during the first half (V8 grows its old space to a steady size): flat means the second half adds nothing.
    const warm = samples.find((x) => x.pull >= pulls / 2) ?? samples[0]!;
    const last = samples.at(-1)!;
    if (last.evictions === 0 || last.withdrawals !== last.evictions) {
      problems.push(`${last.evictions} evictions, ${last.withdrawals} withdrawals`);
    }
    if (last.servedSegments === 0) {
      problems.push("the store served no segment: the soak shows nothing");
    }
    if (last.storeRssMb > warm.storeRssMb + 40 || last.neighbourRssMb > warm.neighbourRssMb + 40) {
      problems.push(`RSS grew: store ${warm.storeRssMb.toFixed(0)} -> ${last.storeRssMb.toFixed(0)} MB, neighbour ${warm.neighbourRssMb.toFixed(0)} -> ${last.neighbourRssMb.toFixed(0)} MB`);
    }
    if (last.storeFds > warm.storeFds + 10 || last.neighbourFds > warm.neighbourFds + 10) {
      problems.push(`fds grew: store ${warm.storeFds} -> ${last.storeFds}, neighbour ${warm.neighbourFds} -> ${last.neighbourFds}`);
    }
    if (failed > 0 || problems.length > 0) {
      console.error(`store soak failed: ${failed} failed GETs; ${problems.join("; ") || "no other problem"}`);
      process.exitCode = 1;
    }
  } finally {
    await site.stop();
    await stack.stop();
  }
}
