import type { Logger } from "@ndnreg/shared";
import type { BlobId } from "@ndnreg/shared/ndn";

import type { BlobFetch } from "../ndn/shared-fetches.js";
import type { ClientMetrics, FallbackReason } from "../ops/metrics.js";

/** Where the bytes of a finished blob response came from. */
export type BlobSource = "ndn" | "http" | "ndn+http" | "store";

/** Blobs at least this large get progress lines while in flight. */
const PROGRESS_MIN_BYTES = 32 * 1024 * 1024;

/** What happened to one blob GET: filled in as it runs, recorded once when it ends. */
export class BlobOutcome {
  readonly t0 = performance.now();
  /** How the response ended; undefined records nothing (e.g. the upstream's 404 relayed, a 416). */
  source?: BlobSource | "failed";
  /** Bytes of the response body. */
  bytes = 0;
  /** Bytes that arrived over NDN. */
  ndnBytes = 0;
  /** HTTP carried bytes: "http" with NDN not tried, "fallback" after NDN failed; `bytes` once known. */
  http?: { readonly path: "http" | "fallback"; bytes?: number };
  /** Every reason NDN was given up, in order. */
  readonly fallbacks: FallbackReason[] = [];
  /** The NDN fetch, once one was opened (see BlobRecorder.opened). */
  fetch?: Pick<BlobFetch, "stats" | "joined">;

  constructor(readonly id: BlobId) {}
}

/** Turns blob outcomes into metrics and the one "blob done" log line per blob. */
export class BlobRecorder {
  constructor(private readonly log: Logger, private readonly metrics: ClientMetrics, private readonly progressIntervalMs: number) {}

  /** An NDN fetch started for `o`: in flight until `o` is recorded. */
  opened(o: BlobOutcome, fetch: Pick<BlobFetch, "stats" | "joined">): void {
    if (!o.fetch) { // a blob planned again (a descriptor's wrong size) is still one blob in flight
      this.metrics.inFlight.inc();
    }
    o.fetch = fetch;
  }

  /** Progress lines for large blobs: percent and MB/s every few seconds while in flight. */
  progress(o: BlobOutcome, size: number, position: () => number): () => void {
    if (size < PROGRESS_MIN_BYTES) {
      return () => undefined;
    }
    const timer = setInterval(() => {
      const seconds = (performance.now() - o.t0) / 1000;
      const bytes = position();
      this.log.info({
        repository: o.id.repository, digest: o.id.digest.text, bytes, size,
        percent: Number((100 * bytes / size).toFixed(1)), mbps: Number((bytes / 1e6 / seconds).toFixed(1)),
      }, "blob progress");
    }, this.progressIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  record(o: BlobOutcome): void {
    const m = this.metrics;
    for (const reason of o.fallbacks) {
      m.fallbacks.labels({ reason }).inc();
    }
    if (o.fetch) {
      m.inFlight.dec();
      m.fetchSeconds.labels({ outcome: o.http?.path === "fallback" ? "fallback" : "ok" }).observe((performance.now() - o.t0) / 1000);
      m.blobBytes.labels({ path: "ndn" }).inc(o.ndnBytes);
      if (o.fetch.joined) { // a shared fetch's packets are counted once, by the request that started it
        m.sharedFetches.inc();
      } else {
        const st = o.fetch.stats;
        m.segments.labels({ names: st.names ?? "canonical" }).inc(st.segments);
        m.packetBytes.inc(st.packetBytes);
        m.badSegments.labels({ replaced_by: "exact-name" }).inc(st.refetched);
        m.badSegments.labels({ replaced_by: "http" }).inc(st.repaired);
        m.retransmissions.inc(st.retransmissions);
      }
    }
    if (o.source === "store") {
      m.blobBytes.labels({ path: "store" }).inc(o.bytes);
    }
    if (o.http?.bytes !== undefined) {
      m.blobBytes.labels({ path: o.http.path }).inc(Number.isFinite(o.http.bytes) ? o.http.bytes : 0);
    }
    if (o.source === "failed") {
      m.blobs.labels({ source: "failed" }).inc();
    } else if (o.source) {
      m.blobs.labels({ source: o.source }).inc();
      this.logDone(o, o.source);
    }
  }

  /** The blob's one line; an all-HTTP response reports no NDN bytes or fetch figures. */
  private logDone(o: BlobOutcome, source: BlobSource): void {
    const seconds = (performance.now() - o.t0) / 1000;
    const fetch = source === "http" || source === "store" ? undefined : o.fetch;
    this.log.info({
      repository: o.id.repository, digest: o.id.digest.text, bytes: o.bytes, ndnBytes: source === "http" || source === "store" ? 0 : o.ndnBytes, source,
      ...(fetch && {
        names: fetch.stats.names, segments: fetch.stats.segments, ndnPacketBytes: fetch.stats.packetBytes,
        retransmissions: fetch.stats.retransmissions, srttMs: Number(fetch.stats.srttMs.toFixed(2)), window: Number(fetch.stats.window.toFixed(1)),
        congestionMarks: fetch.stats.congestionMarks, congestionNacks: fetch.stats.congestionNacks,
      }),
      ...(fetch && fetch.stats.badSegments > 0 && { badSegments: fetch.stats.badSegments, refetched: fetch.stats.refetched, repaired: fetch.stats.repaired }),
      ...(fetch?.joined && { sharedFetch: true }),
      seconds: Number(seconds.toFixed(3)), mbps: Number((o.bytes / 1e6 / Math.max(seconds, 1e-6)).toFixed(1)),
    }, "blob done");
  }
}
