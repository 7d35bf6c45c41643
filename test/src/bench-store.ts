/**
 * `pnpm bench:store`: what the edge store serves, on loopback (no WAN shaping; issue 20's site
 * bench is still to come). One blob of BENCH_STORE_MB (200) is fetched by client A from the server
 * into A's store; then the server is stopped and A's forwarder restarted (caches empty), and it is
 * pulled by B, on a second forwarder routed to A's (a static route), from A's store over NDN, with
 * and without a trust anchor; and by A from its own store. For the ratio, B first pulls a second
 * blob of the same size from the server over the same path (caches empty, with and without the
 * anchor). Prints MB/s per row.
 */
import path from "node:path";

import { createImage, Forwarder, getBlob, pushImage, scrapeMetrics, Stack, waitUntil } from "./bench/index.js";

const mb = Number(process.env["BENCH_STORE_MB"] ?? 200);

async function main(): Promise<void> {
  const stack = await Stack.start({ label: "bench-store", csCapacity: Math.ceil(mb * 1e6 * 1.2 / 8000) });
  const rows: Array<[string, number]> = [];
  const neighbour = await Forwarder.start(stack.runDir, { name: "neighbour", csCapacity: 1000 });
  try {
    const key = await stack.serverKey();
    await stack.startServer(key.env);
    const image = createImage(path.join(stack.runDir, "image"), { format: "oci", layers: [mb * 1e6, mb * 1e6 + 1] });
    await pushImage(image, stack.registry.host, "bench/store:v1", 900_000);
    const [digest, serverOnly] = image.layers.map((l) => l.digest) as [string, string];
    const timed = async (what: string, client: { readonly url: string }, blob = digest) => {
      const t0 = performance.now();
      const r = await getBlob(client, "bench/store", blob);
      rows.push([what, r.bytes / 1e6 / ((performance.now() - t0) / 1000)]);
    };
    const emptyCaches = async () => {
      await stack.forwarder.restart();
      await neighbour.restart();
      await neighbour.addRoute(stack.prefix, stack.forwarder.tcpUri);
    };
    await neighbour.addRoute(stack.prefix, stack.forwarder.tcpUri);
    await timed("server -> B over NDN (the same path), no anchor", await stack.startClient({ router: neighbour.uri }), serverOnly);
    await emptyCaches();
    await stack.waitForRoute();
    await timed("server -> B over NDN (the same path), trust anchor", await stack.startClient({ router: neighbour.uri, args: ["--trust-anchor", key.certFile] }), serverOnly);
    await emptyCaches();
    await stack.waitForRoute();
    const storeArgs = ["--store-dir", path.join(stack.runDir, "store")];
    const a = await stack.startClient({ args: storeArgs });
    await timed("server -> A over NDN (cold caches, A stores it)", a);
    await a.proc.waitForLine(/"store: blob stored"/, 120_000);

    await stack.stopServer();
    await stack.forwarder.restart();
    await neighbour.addRoute(stack.prefix, stack.forwarder.tcpUri);
    await waitUntil("A's routes", async () => ((await stack.forwarder.routes()).match(/cost=10\b/g) ?? []).length >= 2, 15_000, 200);
    await neighbour.restart(); // its cache empty before each neighbour pull
    await neighbour.addRoute(stack.prefix, stack.forwarder.tcpUri);
    await timed("A's store -> B over NDN (one forwarder hop more), no anchor", await stack.startClient({ router: neighbour.uri }));
    await stack.forwarder.restart();
    await neighbour.restart();
    await neighbour.addRoute(stack.prefix, stack.forwarder.tcpUri);
    await waitUntil("A's routes", async () => ((await stack.forwarder.routes()).match(/cost=10\b/g) ?? []).length >= 2, 15_000, 200);
    await timed("A's store -> B over NDN, trust anchor", await stack.startClient({ router: neighbour.uri, args: ["--trust-anchor", key.certFile] }));
    await timed("A's store -> A's own pull (disk, hashed)", a);
    console.log(`\n| ${mb} MB blob | MB/s |\n|---|---|`);
    for (const [what, rate] of rows) {
      console.log(`| ${what} | ${rate.toFixed(1)} |`);
    }
    const served = [...(await scrapeMetrics(`${a.url}/metrics`))].filter(([series]) => /^ndnreg_client_store_(segments|reads|unanswered)_total/.test(series));
    console.log(`\nA's store: ${served.map(([series, v]) => `${series} ${v}`).join(", ")}`);
  } finally {
    await neighbour.stop();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
