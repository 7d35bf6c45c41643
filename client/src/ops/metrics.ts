import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

import type { NdnFailure } from "../ndn/fetch-error.js";

/**
 * Why a blob left the NDN path: NdnFetchError reasons, a digest mismatch, or "ndn-skipped" (uplink
 * down, or recent fetches got no answer: see NdnGate).
 */
export type FallbackReason = NdnFailure | "digest-mismatch" | "ndn-skipped";

/** The client's Prometheus metrics (served at /metrics). */
export class ClientMetrics {
  readonly registry = new Registry();
  readonly blobBytes = new Counter({
    name: "ndnreg_client_blob_bytes_total", help: "Blob bytes sent to callers, by where they came from: ndn, http (never tried over NDN), fallback (HTTP after NDN failed), store (the edge store)",
    labelNames: ["path"] as const, registers: [this.registry],
  });
  readonly blobs = new Counter({
    name: "ndnreg_client_blob_responses_total", help: "Blob GETs answered, by source of the bytes (ndn, http, ndn+http, store) or failed",
    labelNames: ["source"] as const, registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: "ndnreg_client_fallbacks_total", help: "Blobs (or their rest) sent over HTTP after NDN failed, by reason",
    labelNames: ["reason"] as const, registers: [this.registry],
  });
  readonly fetchSeconds = new Histogram({
    name: "ndnreg_client_ndn_fetch_seconds", help: "Duration of NDN blob fetches, by outcome (ok, fallback)",
    labelNames: ["outcome"] as const, buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  readonly sharedFetches = new Counter({
    name: "ndnreg_client_shared_fetches_total", help: "Blob requests that joined an identical NDN fetch already running instead of starting one", registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "ndnreg_client_ndn_fetches_in_flight", help: "NDN blob fetches running now", registers: [this.registry],
  });
  readonly segments = new Counter({
    name: "ndnreg_client_segments_total", help: "Blob segments received over NDN, by name kind (canonical, legacy): against the server's segments produced, the share caches answered",
    labelNames: ["names"] as const, registers: [this.registry],
  });
  readonly packetBytes = new Counter({
    name: "ndnreg_client_ndn_packet_bytes_total", help: "Bytes of Data packets received over NDN (segments, metadata, manifest nodes)", registers: [this.registry],
  });
  readonly badSegments = new Counter({
    name: "ndnreg_client_bad_segments_total", help: "Segments dropped because they did not match the signed manifest, by what replaced them (exact-name: fetched again by implicit digest; http)",
    labelNames: ["replaced_by"] as const, registers: [this.registry],
  });
  readonly retransmissions = new Counter({
    name: "ndnreg_client_interest_retransmissions_total", help: "Interests sent again after a retransmission timeout", registers: [this.registry],
  });

  readonly outage = new Gauge({
    name: "ndnreg_client_outage", help: "1 while the upstream is unreachable (outage mode: reads by digest answered from the edge store and NDN)", registers: [this.registry],
  });
  readonly outages = new Counter({
    name: "ndnreg_client_outages_total", help: "Times the upstream became unreachable (outage mode entered)", registers: [this.registry],
  });
  readonly outageResponses = new Counter({
    name: "ndnreg_client_outage_responses_total",
    help: "Requests answered in outage mode, by kind: ping (GET /v2/), blob, manifest, head (HEAD of either), refused (tags, digests not published or not found over NDN)",
    labelNames: ["kind"] as const, registers: [this.registry],
  });

  constructor(uplinkUp: () => boolean, store?: { readonly usedBytes: number; readonly blobCount: number }) {
    new Gauge({
      name: "ndnreg_client_uplink_up", help: "1 while the face to the NDN forwarder is up", registers: [this.registry],
      collect() { this.set(uplinkUp() ? 1 : 0); },
    });
    if (store) {
      new Gauge({ name: "ndnreg_client_store_bytes", help: "Bytes held by the edge store (blobs and their packets)", registers: [this.registry], collect() { this.set(store.usedBytes); } });
      new Gauge({ name: "ndnreg_client_store_blobs", help: "Blobs held by the edge store", registers: [this.registry], collect() { this.set(store.blobCount); } });
    }
    collectDefaultMetrics({ register: this.registry, prefix: "ndnreg_client_" });
  }
}
