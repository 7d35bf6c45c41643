#!/usr/bin/env -S LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=narenas:1,background_thread:true,dirty_decay_ms:1000 GLIBC_TUNABLES=glibc.malloc.arena_max=2 node --max-semi-space-size=4 --initial-old-space-size=64 --expose-gc
// jemalloc (Debian's libjemalloc2) gives freed pages back within a second, from its own thread:
// glibc kept freed socket read buffers inside its heap (~40 MB after 20 pulls, which only
// malloc_trim, out of node's reach, returned). One arena: the JS thread does nearly all the
// allocation, and each arena more costs base memory. Without libjemalloc2 the loader says so once
// and glibc runs, with two arenas. (The kernel reads at most 255 bytes of this line.)
// A 4 MB young generation keeps peak RSS down at no CPU cost; a 64 MB initial old generation keeps
// socket read buffers, which count towards it, from setting off a full collection every few MB
// (32 MB cost cold pulls up to 2 CPU-s/GB). docs/performance.md: "V8's old-generation limit",
// "Memory given back" and "Producer bounds".
// --expose-gc: once the range cache lets its memory go after an idle spell, it runs collections so
// that the memory is freed at once. None of these can be set at run time, so they live only here:
// every launcher (package scripts, pm2, the Dockerfile, the tests) executes this file.
import "@ndnreg/shared/polyfill";

import { Forwarder } from "@ndn/fw";
import { createLogger } from "@ndnreg/shared";
import { listenOps } from "@ndnreg/shared/http";
import { nameText, SEGMENT_SIZE, Uplink } from "@ndnreg/shared/ndn";

import { loadServerConfig } from "./config.js";
import { serveThroughNdnts } from "./producer/adapters/ndnts-adapter.js";
import { WireAdapter } from "./producer/adapters/wire-adapter.js";
import { DigestIndex } from "./producer/digest-index.js";
import { ManifestBuilder } from "./producer/manifest-builder.js";
import { MetadataProducer } from "./producer/metadata-producer.js";
import { RangeCache } from "./producer/range-cache.js";
import { SegmentProducer } from "./producer/segment-producer.js";
import { TagRecords } from "./producer/tag-records.js";
import { BlobCatalog } from "./registry/blob-catalog.js";
import { LookupLimiter } from "./registry/lookup-limiter.js";
import { RegistryClient } from "./registry/registry-client.js";
import { createServerMetrics } from "./ops/metrics.js";
import { certificateBase64, certificateKeyName, openServerKey } from "./security/server-key.js";

async function main(): Promise<void> {
  const config = loadServerConfig(process.argv.slice(2), process.env, ".env");
  const log = createLogger("ndn-registry-server", config.logLevel);
  if (config.printCertificate) {
    // The clients' trust anchor, alone on stdout (the key is made silently if it is new).
    process.stdout.write(certificateBase64((await openServerKey(config.keychainDir, config.prefix, createLogger("ndn-registry-server", "silent"))).certificate));
    return;
  }
  const key = await openServerKey(config.keychainDir, config.prefix, log);
  const registry = new RegistryClient(config.registryUrl, { credentials: config.registryCredentials, log });
  const lookups = new LookupLimiter({ rate: config.lookupRate, repositoryRate: config.lookupRepositoryRate });
  const catalog = new BlobCatalog(registry, lookups);
  const ranges = new RangeCache((id, b, e, into, onProgress) => registry.readRange(id, b, e, AbortSignal.timeout(30_000), into, onProgress), {
    // Six segments (48 KB): a random legacy segment (7777 bytes) crosses into a second block one
    // time in six, and still costs the registry at most 8x on average (docs/security.md).
    segmentSize: SEGMENT_SIZE, blockBytes: 6 * SEGMENT_SIZE, maxRead: config.rangeChunkSegments * SEGMENT_SIZE,
    cacheBytes: config.rangeCacheBytes, maxLoads: config.maxReads,
  });
  const producer = new SegmentProducer({
    prefix: config.prefix, catalog, ranges, index: new DigestIndex(), log, maxPending: config.maxPending,
    legacy: { segmentSize: config.legacySegmentSize, freshnessMs: config.freshnessMs, signature: config.dataSigner },
  });
  const manifests = new ManifestBuilder(config.prefix, producer, key.dataSigner, log);
  const metadata = new MetadataProducer(config.prefix, producer, key.dataSigner);
  const tags = new TagRecords(config.prefix, producer, (id, signal) => registry.statTag(id, signal), lookups, key.dataSigner);

  const fw = Forwarder.create();
  // The wire adapter answers segments where the uplink carries the wire (see carriesWire); NDNts the rest.
  serveThroughNdnts(producer, manifests, metadata, tags, { fw });
  const uplink = new Uplink({
    fw, routers: [config.uplink], log, tap: new WireAdapter(producer).tap,
    prefixRegistration: { signer: key.prefixRegSigner, cost: config.routeCost },
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
    prefix: nameText(config.prefix), registry: config.registryUrl.href, dataKey: nameText(certificateKeyName(key.certificate)),
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
