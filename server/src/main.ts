#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 node --max-semi-space-size=4 --initial-old-space-size=64
// A 4 MB young generation (V8 default: 16): measured 12 MB less peak RSS on a 400 MB layer and no
// more CPU. A 64 MB initial old generation: socket read buffers count towards it, and with V8's
// small default limit they set off a full mark-compact per ~10 MB received (measured over 480 MB:
// 49 on the client and 40 on the server, 3 and 2 with it, and ~40% less CPU per byte). glibc keeps up
// to 32 MB of freed heap instead of trimming it: registry read buffers freed in bulk after a burst
// of concurrent blobs were given back and faulted in again at the next (2-18 MB per round of three
// layers at once; with 32 MB a few hundred pages in an occasional round). The client does without:
// 64 MB there cost ~20 MB of peak RSS on a 1 GB layer. Set here, in the package scripts, the pm2
// file and the Dockerfile (neither can be set at run time).
import "@ndnreg/shared/polyfill";

import { existsSync } from "node:fs";

import { Forwarder } from "@ndn/fw";
import { digestSigning, nullSigner } from "@ndn/packet";
import { createLogger } from "@ndnreg/shared";
import { listenOps } from "@ndnreg/shared/http";
import { nameText, SEGMENT_SIZE, Uplink } from "@ndnreg/shared/ndn";

import { loadServerConfig } from "./config.js";
import { RangeCache } from "./producer/range-cache.js";
import { serveThroughNdnts } from "./producer/adapters/ndnts-adapter.js";
import { WireAdapter } from "./producer/adapters/wire-adapter.js";
import { SegmentProducer } from "./producer/segment-producer.js";
import { BlobCatalog } from "./registry/blob-catalog.js";
import { RegistryClient } from "./registry/registry-client.js";
import { createServerMetrics } from "./ops/metrics.js";
import { openPrefixRegSigner } from "./security/prefix-reg-signer.js";

async function main(): Promise<void> {
  if (existsSync(".env")) {
    process.loadEnvFile(".env"); // variables already in the environment win
  }
  const config = loadServerConfig();
  const log = createLogger("ndn-registry-server", config.logLevel);
  const registry = new RegistryClient(config.registryUrl, { credentials: config.registryCredentials, log });
  const catalog = new BlobCatalog(registry);
  const ranges = new RangeCache((id, b, e, into, onProgress) => registry.readRange(id, b, e, AbortSignal.timeout(30_000), into, onProgress),
    config.rangeChunkSegments * SEGMENT_SIZE, config.rangeCacheBytes);
  const producer = new SegmentProducer({ prefix: config.prefix, catalog, ranges, log, freshnessMs: config.freshnessMs });

  const fw = Forwarder.create();
  // The wire adapter answers where the uplink carries the wire (see carriesWire); NDNts the rest.
  serveThroughNdnts(producer, { fw, concurrency: config.concurrency, signer: config.dataSigner === "null" ? nullSigner : digestSigning });
  const uplink = new Uplink({
    fw, routers: [config.uplink], log, tap: new WireAdapter(producer, config.dataSigner).tap,
    prefixRegistration: { signer: await openPrefixRegSigner(config.keychainDir, config.prefix, log), cost: config.routeCost },
  });
  await uplink.start();
  const metrics = createServerMetrics({ interests: producer.counters, rangeCache: ranges.stats, catalog: catalog.stats, uplinkUp: () => uplink.isUp });
  // /healthz is 503 while the face to the forwarder is down: nothing can be served then.
  const health = () => ({ ok: uplink.isUp, uplink: uplink.isUp ? "up" : "down" });
  const metricsServer = config.metricsListen && await listenOps({ metrics, health }, config.metricsListen);
  log.info({
    prefix: nameText(config.prefix), registry: config.registryUrl.href,
    credentialsFor: config.registryCredentials?.allowList.entries ?? "none (anonymous reads)",
    metrics: config.metricsListen ? `http://${config.metricsListen.host}:${config.metricsListen.port}/metrics` : "off",
  }, "serving blobs");

  const shutdown = (signal: string) => {
    log.info({ signal, interests: producer.counters, rangeCache: ranges.stats, registry: registry.counters }, "shutting down");
    uplink.close();
    metricsServer?.close();
    void registry.close().finally(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((err: unknown) => {
  console.error(`ndn-registry-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
