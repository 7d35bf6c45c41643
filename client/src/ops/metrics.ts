import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

import { followCounters } from "@ndnreg/shared/metrics";

import type { NdnFailure } from "../ndn/fetch-error.js";
import type { StoreServeCounters } from "../store/store-segments.js";

/** What the edge store's producer did, read at scrape time. */
interface StoreServing {
  readonly counters: StoreServeCounters;
  /** Segments answered through NDNts (Interests the wire tap did not take). */
  readonly ndntsSegments: number;
  readonly withdrawals: number;
}

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

  constructor(uplinkUp: () => boolean, store?: { readonly usedBytes: number; readonly blobCount: number; readonly evictions: number }, serving?: StoreServing) {
    new Gauge({
      name: "ndnreg_client_uplink_up", help: "1 while the face to the NDN forwarder is up", registers: [this.registry],
      collect() { this.set(uplinkUp() ? 1 : 0); },
    });
    if (store) {
      new Gauge({ name: "ndnreg_client_store_bytes", help: "Bytes held by the edge store (blobs and their packets)", registers: [this.registry], collect() { this.set(store.usedBytes); } });
      new Gauge({ name: "ndnreg_client_store_blobs", help: "Blobs held by the edge store", registers: [this.registry], collect() { this.set(store.blobCount); } });
      followCounters(this.registry, "ndnreg_client_store_evictions_total", "Blobs evicted from the edge store (beyond its byte budget)", undefined, { all: () => store.evictions });
    }
    if (serving) {
      const c = serving.counters;
      followCounters(this.registry, "ndnreg_client_store_segments_total", "Segments the edge store answered, by path: wire (the uplink's hot path) or ndnts", "path", {
        wire: () => c.data - serving.ndntsSegments, ndnts: () => serving.ndntsSegments,
      });
      followCounters(this.registry, "ndnreg_client_store_reads_total", "Disk reads of the edge store: 256 KB read-ahead chunks, single segments", "kind", {
        chunk: () => c.chunkReads, segment: () => c.segmentReads,
      });
      followCounters(this.registry, "ndnreg_client_store_unanswered_total", "Segment Interests the edge store did not answer, by reason", "reason", {
        overload: () => c.droppedOverload, not_held: () => c.notHeld, past_end: () => c.pastEnd, read_error: () => c.readErrors, malformed: () => c.malformed,
      });
      followCounters(this.registry, "ndnreg_client_store_withdrawals_total", "Blob announcements withdrawn (evicted or dropped)", undefined, { all: () => serving.withdrawals });
    }
    collectDefaultMetrics({ register: this.registry, prefix: "ndnreg_client_" });
  }
}

