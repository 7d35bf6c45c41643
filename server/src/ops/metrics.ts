import { collectDefaultMetrics, Gauge, Registry } from "prom-client";

import { followCounters } from "@ndnreg/shared/metrics";

import type { InterestCounters } from "../producer/segment-producer.js";
import type { RangeCacheStats } from "../producer/range-cache.js";
import type { CatalogStats } from "../registry/blob-catalog.js";
import type { LookupLimiterStats } from "../registry/lookup-limiter.js";

/** The plain counters the hot path increments; read when Prometheus scrapes. */
export interface ServerMetricSources {
  readonly interests: InterestCounters;
  readonly pendingInterests: () => number;
  readonly rangeCache: RangeCacheStats;
  readonly catalog: CatalogStats;
  readonly lookups: LookupLimiterStats;
  readonly uplinkUp: () => boolean;
}

/**
 * The server's Prometheus metrics (served on --metrics-listen at /metrics). Per-packet code only
 * bumps plain numbers; the Prometheus counters catch up with them at scrape time.
 */
export function createServerMetrics(src: ServerMetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ndnreg_server_" });
  followCounters(registry, "ndnreg_server_interests_total",
    "Interests under the prefix, by outcome: data (segments), metadata, manifest_node, nack_missing (no such blob), nack_error (registry failing), "
    + "nack_unpublished (canonical name of a digest not learned), past_end and digest_mismatch (not answered), dropped (malformed name), "
    + "dropped_overload (too many pending, or no room for a registry read), dropped_rate_limited (lookup of an unknown blob refused by the rate limits)",
    "outcome", {
      data: () => src.interests.data, metadata: () => src.interests.metadata, manifest_node: () => src.interests.manifestNodes,
      nack_missing: () => src.interests.nackMissing, nack_error: () => src.interests.nackError, nack_unpublished: () => src.interests.unpublished,
      past_end: () => src.interests.pastEnd, digest_mismatch: () => src.interests.digestMismatch, dropped: () => src.interests.dropped,
      dropped_overload: () => src.interests.droppedOverload, dropped_rate_limited: () => src.interests.droppedRateLimited,
    });
  followCounters(registry, "ndnreg_server_segments_total", "Segments produced, by name kind (canonical, legacy): against the clients' segments received, the share caches answered",
    "names", { canonical: () => src.interests.canonical, legacy: () => src.interests.legacy });
  followCounters(registry, "ndnreg_server_data_payload_bytes_total", "Blob bytes published in Data packets", undefined, { "": () => src.interests.dataBytes });
  followCounters(registry, "ndnreg_server_registry_range_requests_total", "Range GETs sent to the registry, by result", "result", {
    ok: () => src.rangeCache.loads, error: () => src.rangeCache.loadErrors,
  });
  followCounters(registry, "ndnreg_server_registry_range_bytes_total", "Blob bytes read from the registry", undefined, { "": () => src.rangeCache.loadedBytes });
  followCounters(registry, "ndnreg_server_registry_stat_requests_total", "HEAD requests to the registry for a blob's size, by result", "result", {
    found: () => src.catalog.found, missing: () => src.catalog.missing, error: () => src.catalog.errors,
  });
  followCounters(registry, "ndnreg_server_registry_lookups_refused_total", "Lookups of blobs not known yet that the rate limits refused (never sent to the registry)",
    undefined, { "": () => src.lookups.refused });
  followCounters(registry, "ndnreg_server_range_cache_lookups_total", "Range cache lookups by segment Interests, by result", "result", {
    hit: () => src.rangeCache.hits, miss: () => src.rangeCache.misses,
  });
  gauge(registry, "ndnreg_server_range_cache_bytes", "Bytes of range buffers in memory (fixed pools, sized from --range-cache-bytes)", () => src.rangeCache.bytes);
  gauge(registry, "ndnreg_server_interests_pending", "Interests waiting for a registry lookup or read", src.pendingInterests);
  gauge(registry, "ndnreg_server_registry_reads_in_flight", "Registry range reads in flight", () => src.rangeCache.loadsInFlight);
  gauge(registry, "ndnreg_server_registry_reads_queued", "Registry range reads waiting for a slot", () => src.rangeCache.loadsQueued);
  gauge(registry, "ndnreg_server_registry_lookups_waiting", "Lookups of blobs not known yet waiting for the rate limits", () => src.lookups.waiting);
  gauge(registry, "ndnreg_server_uplink_up", "1 while the face to the NDN forwarder is up", () => (src.uplinkUp() ? 1 : 0));
  return registry;
}

/** A Prometheus gauge read at scrape time. */
function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

