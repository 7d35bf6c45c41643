/**
 * `pnpm demo`: a registry, an ndnd forwarder, the server and the client on loopback; an image is
 * pushed to the registry, pulled through the client with skopeo, and each blob's path is shown.
 */
import path from "node:path";

import { type BlobLog, type ClientHandle, createImage, hashFile, pullImage, pushImage, Stack, waitUntil } from "./bench/index.js";

const MB = 1e6;

/** The client's "blob done" line for a digest, printed after the first `skip` lines. */
async function waitForBlobLog(client: ClientHandle, digest: string, skip: number): Promise<BlobLog> {
  const find = () => client.blobLogs().slice(skip).find((l) => l.digest === digest);
  await waitUntil(`log line for ${digest}`, async () => find() !== undefined, 5000);
  return find()!;
}

async function main(): Promise<void> {
  const layerMb = Number(process.env["DEMO_LAYER_MB"] ?? 20);
  console.log("starting registry, ndnd, server and client ...");
  const stack = await Stack.start({ label: "demo", csCapacity: 65_536 });
  try {
    const client = await stack.startClient();
    console.log(`  registry   ${stack.registry.url}`);
    console.log(`  forwarder  ${stack.forwarder.uri}, ${stack.forwarder.udpUri} (UDP MTU ${stack.forwarder.udpMtu}: loopback-only)`);
    console.log(`  client     http://${client.host}  (upstream ${stack.registry.url}, prefix ${stack.prefix})`);

    const image = createImage(path.join(stack.runDir, "image"), {
      format: "oci", layers: [layerMb * MB, (layerMb / 2) * MB, 1_000_000, 4096].map(Math.round),
    });
    await pushImage(image, stack.registry.host, "demo/app:latest");
    console.log(`pushed demo/app:latest (${image.blobs.length} blobs) to the registry`);

    for (const round of ["first pull (router cache cold)", "second pull (router cache warm, server stopped)"]) {
      if (round.startsWith("second")) {
        await stack.stopServer();
      }
      const seen = client.blobLogs().length;
      const t0 = performance.now();
      const out = await pullImage(client.host, "demo/app:latest", path.join(stack.runDir, `out-${round.slice(0, 5)}`));
      const seconds = (performance.now() - t0) / 1000;
      console.log(`\n${round}: skopeo copy docker://${client.host}/demo/app:latest took ${seconds.toFixed(2)} s`);
      for (const blob of image.blobs) {
        const log = await waitForBlobLog(client, blob.digest, seen);
        const ok = (await hashFile(path.join(out, blob.digest.slice(7)))) === blob.digest;
        console.log(`  ${blob.digest.slice(0, 19)}  ${(blob.size / MB).toFixed(2).padStart(7)} MB  via ${log.source.padEnd(8)} digest ${ok ? "ok" : "MISMATCH"}`);
      }
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
