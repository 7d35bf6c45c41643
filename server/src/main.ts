#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 node --max-semi-space-size=4 --initial-old-space-size=64 --expose-gc
// A 4 MB young generation keeps peak RSS down at no CPU cost; a 64 MB initial old generation keeps
// socket read buffers, which count towards it, from setting off a full collection every few MB.
// glibc keeps up to 32 MB of freed heap, so the registry read buffers freed after a burst of blobs
// are not faulted in again at the next (docs/performance.md, "V8's old-generation limit" and
// "Memory given back"). --expose-gc: once the range cache lets its memory go after an idle spell,
// it runs one collection so that the memory is freed at once. None of these can be set at run
// time, so they live only here: every launcher (package scripts, pm2, the Dockerfile, the tests)
// executes this file.
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
import { LookupLimiter } from "./registry/lookup-limiter.js";
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
  for (const setting of config.obsolete) {
    log.warn({ setting }, "setting no longer read");
  }
  const lookups = new LookupLimiter({ rate: config.lookupRate, repositoryRate: config.lookupRepositoryRate });
  const catalog = new BlobCatalog(registry, lookups);
  const ranges = new RangeCache((id, b, e, into, onProgress) => registry.readRange(id, b, e, AbortSignal.timeout(30_000), into, onProgress), {
    segmentSize: SEGMENT_SIZE, maxRead: config.rangeChunkSegments * SEGMENT_SIZE, cacheBytes: config.rangeCacheBytes, maxLoads: config.maxReads,
  });
  const producer = new SegmentProducer({ prefix: config.prefix, catalog, ranges, log, freshnessMs: config.freshnessMs, maxPending: config.maxPending });

  const fw = Forwarder.create();
  // The wire adapter answers where the uplink carries the wire (see carriesWire); NDNts the rest.
  serveThroughNdnts(producer, { fw, signer: config.dataSigner === "null" ? nullSigner : digestSigning });
  const uplink = new Uplink({
    fw, routers: [config.uplink], log, tap: new WireAdapter(producer, config.dataSigner).tap,
    prefixRegistration: { signer: await openPrefixRegSigner(config.keychainDir, config.prefix, log), cost: config.routeCost },
  });
  await uplink.start();
  const metrics = createServerMetrics({
    interests: producer.counters, pendingInterests: () => producer.pending, rangeCache: ranges.stats, catalog: catalog.stats, lookups: lookups.stats,
    uplinkUp: () => uplink.isUp,
  });
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
