import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

import type { InterestCounters } from "../producer/segment-producer.js";
import type { RangeCacheStats } from "../producer/range-cache.js";
import type { CatalogStats } from "../registry/blob-catalog.js";

/** The plain counters the hot path increments; read when Prometheus scrapes. */
export interface ServerMetricSources {
  readonly interests: InterestCounters;
  readonly rangeCache: RangeCacheStats;
  readonly catalog: CatalogStats;
  readonly uplinkUp: () => boolean;
}

/**
 * The server's Prometheus metrics (served on --metrics-listen at /metrics). Per-packet code only
 * bumps plain numbers; the Prometheus counters catch up with them at scrape time.
 */
export function createServerMetrics(src: ServerMetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ndnreg_server_" });
  mirror(registry, "ndnreg_server_interests_total",
    "Interests under the prefix, by outcome: data (segments), metadata, manifest_node, nack_missing (no such blob), nack_error (registry failing), "
    + "nack_unpublished (canonical name of a digest not learned), past_end and digest_mismatch (not answered), dropped (malformed name)",
    "outcome", {
      data: () => src.interests.data, metadata: () => src.interests.metadata, manifest_node: () => src.interests.manifestNodes,
      nack_missing: () => src.interests.nackMissing, nack_error: () => src.interests.nackError, nack_unpublished: () => src.interests.unpublished,
      past_end: () => src.interests.pastEnd, digest_mismatch: () => src.interests.digestMismatch, dropped: () => src.interests.dropped,
    });
  mirror(registry, "ndnreg_server_segments_total", "Segments produced, by name kind (canonical, legacy): against the clients' segments received, the share caches answered",
    "names", { canonical: () => src.interests.canonical, legacy: () => src.interests.legacy });
  mirror(registry, "ndnreg_server_data_payload_bytes_total", "Blob bytes published in Data packets", undefined, { "": () => src.interests.dataBytes });
  mirror(registry, "ndnreg_server_registry_range_requests_total", "Range GETs sent to the registry, by result", "result", {
    ok: () => src.rangeCache.loads, error: () => src.rangeCache.loadErrors,
  });
  mirror(registry, "ndnreg_server_registry_range_bytes_total", "Blob bytes read from the registry", undefined, { "": () => src.rangeCache.loadedBytes });
  mirror(registry, "ndnreg_server_registry_stat_requests_total", "HEAD requests to the registry for a blob's size, by result", "result", {
    found: () => src.catalog.found, missing: () => src.catalog.missing, error: () => src.catalog.errors,
  });
  mirror(registry, "ndnreg_server_range_cache_lookups_total", "Range cache lookups by segment Interests, by result", "result", {
    hit: () => src.rangeCache.hits, miss: () => src.rangeCache.misses,
  });
  new Gauge({
    name: "ndnreg_server_range_cache_bytes", help: "Bytes of registry ranges held in memory", registers: [registry],
    collect() { this.set(src.rangeCache.bytes); },
  });
  new Gauge({
    name: "ndnreg_server_uplink_up", help: "1 while the face to the NDN forwarder is up", registers: [registry],
    collect() { this.set(src.uplinkUp() ? 1 : 0); },
  });
  return registry;
}

/** A Prometheus counter (one series per label value) that follows plain counters. */
function mirror(registry: Registry, name: string, help: string, label: string | undefined, series: Record<string, () => number>): void {
  const seen = new Map<string, number>();
  new Counter({
    name, help, labelNames: label ? [label] : [], registers: [registry],
    collect() {
      for (const [value, read] of Object.entries(series)) {
        const now = read();
        const delta = now - (seen.get(value) ?? 0);
        seen.set(value, now);
        if (label) {
          this.labels({ [label]: value }).inc(delta);
        } else {
          this.inc(delta);
        }
      }
    },
  });
}
