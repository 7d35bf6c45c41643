#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 node --max-semi-space-size=4 --initial-old-space-size=64
// A 4 MB young generation (V8 default: 16): measured 12 MB less peak RSS on a 400 MB layer and no
// more CPU. A 64 MB initial old generation: socket read buffers count towards it, and with V8's
// small default limit they set off a full mark-compact per ~10 MB received (measured over 480 MB:
// 49 on the client and 40 on the server, 3 and 2 with it, and ~40% less CPU per byte). glibc keeps up
// to 32 MB of freed heap instead of trimming it: registry read buffers freed in bulk after a burst
// of concurrent blobs were given back and faulted in again at the next (2-18 MB per round of three
// layers at once; with 32 MB a few hundred pages in an occasional round). The client does without:
// 64 MB there cost ~20 MB of peak RSS on a 1 GB layer. Neither can be set at run time, so they live
// only here: every launcher (package scripts, pm2, the Dockerfile, the tests) executes this file.
import "@ndnreg/shared";

import { existsSync } from "node:fs";

import { produce } from "@ndn/endpoint";
import { Forwarder } from "@ndn/fw";
import { digestSigning, nullSigner } from "@ndn/packet";
import { createLogger, nameText, SEGMENT_SIZE, Uplink } from "@ndnreg/shared";

import { loadServerConfig } from "./config.js";
import { RangeCache } from "./producer/range-cache.js";
import { SegmentProducer } from "./producer/segment-producer.js";
import { WireProducer } from "./producer/wire-producer.js";
import { BlobCatalog } from "./registry/blob-catalog.js";
import { RegistryClient } from "./registry/registry-client.js";
import { createServerMetrics } from "./metrics/server-metrics.js";
import { startMetricsServer } from "./metrics/metrics-server.js";
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
  const producer = new SegmentProducer({
    prefix: config.prefix, catalog, ranges, log, freshnessMs: config.freshnessMs,
    signer: config.dataSigner === "null" ? nullSigner : digestSigning,
  });

  const fw = Forwarder.create();
  // NDNts' produce() answers on UDP uplinks; on Unix and TCP the wire tap answers first.
  produce(config.prefix, producer.handle, { fw, concurrency: config.concurrency, describe: "blob-producer" });
  const wire = new WireProducer(producer, config.dataSigner);
  const uplink = new Uplink({
    fw, routers: [config.uplink], log, tap: wire.tap,
    prefixRegistration: { signer: await openPrefixRegSigner(config.keychainDir, config.prefix, log), cost: config.routeCost },
  });
  await uplink.start();
  const metrics = createServerMetrics({ interests: producer.counters, rangeCache: ranges.stats, catalog: catalog.stats, uplinkUp: () => uplink.isUp });
  const metricsServer = config.metricsListen && await startMetricsServer(metrics, config.metricsListen, () => uplink.isUp);
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
