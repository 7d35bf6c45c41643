#!/usr/bin/env -S node --max-semi-space-size=4 --initial-old-space-size=64 --heap-growing-percent=50
// A 4 MB young generation keeps peak RSS down at no CPU cost; a 64 MB initial old generation keeps
// socket read buffers, which count towards it, from setting off a full collection every few MB
// (docs/performance.md, "V8's old-generation limit"). After each full collection the old
// generation may grow by half its live size, not by V8's factor of up to four, so the garbage
// pulls promote does not lift a long-running client's RSS (docs/performance.md,
// "The client's heap over long soaks"). Heap sizes cannot be set at run time, so they
// live only here: every launcher (package scripts, pm2, the Dockerfile, the tests) executes this file.
import "@ndnreg/shared/polyfill";

import { Forwarder } from "@ndn/fw";
import { createLogger } from "@ndnreg/shared";
import { listenOps } from "@ndnreg/shared/http";
import { formatRouterAddress, nameText, Uplink, type WireTap } from "@ndnreg/shared/ndn";

import { buildApp } from "./http/app.js";
import { loadClientConfig } from "./config.js";
import { NdnBlobFetcher } from "./ndn/blob-fetcher.js";
import { NdnGate } from "./ndn/gate.js";
import { SharedFetches } from "./ndn/shared-fetches.js";
import { SharedWindow } from "./ndn/pipeline/shared-window.js";
import { WireChannel } from "./ndn/channels/wire-channel.js";
import { discoverRouters } from "./ndn/router-discovery.js";
import { ClientMetrics } from "./ops/metrics.js";
import { loadTrustAnchor } from "./security/trust-anchor.js";
import { BlobHandler } from "./blob/blob-handler.js";
import { ManifestGrants } from "./blob/manifest-grants.js";
import { ManifestKeeper } from "./blob/manifest-keeper.js";
import { PublishedLookup } from "./blob/published.js";
import { TagKeeper } from "./blob/tag-keeper.js";
import { TagRecordLookup } from "./blob/tag-lookup.js";
import { OutageAnswers } from "./http/outage-answers.js";
import { OUTAGE_SCOPE, OUTAGE_SCOPE_WITH_TAGS, OutageMode } from "./http/outage.js";
import { BlobStore } from "./store/blob-store.js";
import { StoreProducer } from "./store/store-producer.js";
import { TagRecordProducer } from "./store/tag-producer.js";
import { TagStore } from "./store/tag-store.js";
import { ndnPacketSource } from "./store/store-packets.js";
import { Upstream } from "./http/upstream.js";

/**
 * Cost of the routes a store registers for its blobs on the forwarder. `/<prefix>/<digest>` is
 * longer than the server's `/<prefix>`, but a child-inherit uplink route (`ndnd fw route-add`) is
 * also a nexthop there, so uplinks must cost more (docs/site.md); across a site the cost ranks
 * stores against each other.
 */
const STORE_ROUTE_COST = 10;

async function main(): Promise<void> {
  const config = loadClientConfig(process.argv.slice(2), process.env, ".env");
  const log = createLogger("ndn-registry-client", config.logLevel);
  const routers = config.router ? [config.router] : await discoverRouters(config.fch);
  if (!config.router) {
    log.info({ fch: config.fch, routers: routers.map(formatRouterAddress) }, "routers from NDN-FCH");
  }
  const fw = Forwarder.create();
  const wireChannel = new WireChannel(config.prefix, () => uplink.wire);
  const late: { storeTap?: WireTap } = {};
  // Data for the client's fetches, then segment Interests for the edge store (once it is open).
  const tap: WireTap = (pkt, wire) => wireChannel.tap(pkt, wire) || (late.storeTap?.(pkt, wire) ?? false);
  // Every face carries the hot path, UDP included (the transport fragments a store's Data there).
  const uplink: Uplink = new Uplink({
    fw, routers, routes: [config.prefix], log, tap, tapOverUdp: true,
    prefixRegistration: config.store ? { cost: STORE_ROUTE_COST } : undefined,
  });
  await uplink.start();
  const upstream = new Upstream(config.upstream, config.upstreamTimeoutMs);
  const anchor = config.trustAnchor === undefined ? undefined : await loadTrustAnchor(config.trustAnchor);
  // Every blob fetch crosses the same path to the router: one congestion window for all of them.
  const window = new SharedWindow();
  const fetcher = new NdnBlobFetcher({
    channel: wireChannel, fw, prefix: config.prefix, firstByteTimeoutMs: config.firstByteTimeoutMs, idleTimeoutMs: config.idleTimeoutMs, window,
    anchor,
  });
  const store = config.store && await BlobStore.open(config.store.dir, config.store.bytes, log, ndnPacketSource(fw, config.prefix, anchor?.verifier));
  const storeProducer = store && new StoreProducer(fw, config.prefix, store, log);
  const tagStore = config.store && await TagStore.open(config.store.dir, config.prefix, log);
  const tagProducer = tagStore && new TagRecordProducer(fw, config.prefix, tagStore);
  late.storeTap = storeProducer?.tap;
  const uplinkUp = () => uplink.isUp;
  const metrics = new ClientMetrics(uplinkUp, store, storeProducer);
  const gate = new NdnGate(uplinkUp, config.firstByteTimeoutMs);
  uplink.addEventListener("up", () => gate.reachable()); // a new face: worth trying again at once
  // Always 200: with the uplink down or NDN skipped (see NdnGate) blobs still arrive, over HTTP.
  const health = () => ({ ok: true, uplink: uplink.isUp ? "up" : "down", ndn: uplink.isUp && !gate.skipping ? "ok" : "skipping" });
  const fetches = new SharedFetches(fetcher);
  const grants = new ManifestGrants();
  const blobs = new BlobHandler(upstream, fetches, log, metrics, gate, config.progressIntervalMs, store, grants);
  const outage = new OutageMode(upstream, log, metrics, anchor ? OUTAGE_SCOPE_WITH_TAGS : OUTAGE_SCOPE);
  // The metadata may use half the first-byte deadline, as in discovery; tag records too.
  const lifetimeMs = Math.max(200, Math.floor(config.firstByteTimeoutMs / 2));
  const published = new PublishedLookup(fw, config.prefix, anchor?.verifier, lifetimeMs, store);
  // Tag records are resolved only with the server's certificate to check them against.
  const tagLookup = anchor && new TagRecordLookup(fw, config.prefix, anchor.verifier, lifetimeMs, tagStore);
  const app = buildApp({
    upstream, blobs, log, ops: { health, metrics: config.metricsListen ? undefined : metrics.registry },
    outage: { mode: outage, answers: new OutageAnswers(blobs, published, metrics, log, tagLookup) },
    manifests: store ? new ManifestKeeper(fetches, store, gate, log) : undefined,
    tags: tagLookup && tagStore ? new TagKeeper(tagLookup, tagStore, gate, log) : undefined,
    grants,
  });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const metricsServer = config.metricsListen && await listenOps({ health, metrics: metrics.registry }, config.metricsListen);
  log.info({
    listen: `${config.listen.host}:${config.listen.port}`, upstream: config.upstream.href,
    prefix: nameText(config.prefix), router: uplink.describe, store: config.store?.dir ?? "none", trustAnchor: anchor ? nameText(anchor.certificate.name) : "none (whole-blob sha256)",
  }, "client ready");

  const shutdown = (signal: string) => {
    log.info({ signal }, "shutting down");
    storeProducer?.close();
    tagProducer?.close();
    outage.close();
    uplink.close();
    metricsServer?.close();
    void app.close().then(() => upstream.close()).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((err: unknown) => {
  console.error(`ndn-registry-client: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
