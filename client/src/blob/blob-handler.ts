import type { IncomingMessage, ServerResponse } from "node:http";

import type { Logger } from "@ndnreg/shared";
import type { BlobId } from "@ndnreg/shared/ndn";

import { DigestMismatchError, VerifiedWriter } from "./verified-writer.js";
import { NdnFetchError } from "../ndn/blob-fetcher.js";
import type { PipelineStats } from "../ndn/pipeline/segment-pipeline.js";
import type { NdnGate } from "../ndn/gate.js";
import type { SharedFetches } from "../ndn/shared-fetches.js";
import { type ByteRange, parseRange } from "../http/range.js";
import { sendUpstreamError } from "../http/upstream-errors.js";
import type { BytePath, ClientMetrics } from "../ops/metrics.js";
import type { Upstream } from "../http/upstream.js";

export type BlobSource = "ndn" | "http" | "ndn+http";

/**
 * Blobs up to this size are verified before their first byte is sent, so a copy that does not
 * match its digest is replaced by HTTP bytes in the same response (configs and small layers then
 * never fail a pull). Larger blobs stream, and a mismatch aborts the response.
 */
const SELF_HEAL_MAX_BYTES = 4 * 1024 * 1024;

/** Blobs at least this large get progress lines while in flight. */
const PROGRESS_MIN_BYTES = 32 * 1024 * 1024;

/** Headers the registry sets on a blob that the caller should see exactly. */
const BLOB_HEADERS = ["content-type", "docker-content-digest", "etag", "docker-distribution-api-version", "cache-control", "last-modified"];

/**
 * GET /v2/<repository>/blobs/sha256:<hex>. The upstream is asked first (HEAD with the caller's
 * own headers) so its authorization decision stands and the size is known; then the bytes come
 * over NDN, verified against the digest, with HTTP taking over wherever NDN fails.
 */
export class BlobHandler {
  /** Digests whose NDN copy did not match: served over HTTP from now on (bounded). */
  private readonly httpOnly = new Set<string>();

  constructor(
    private readonly upstream: Upstream,
    private readonly fetches: SharedFetches,
    private readonly log: Logger,
    private readonly metrics: ClientMetrics,
    private readonly gate: NdnGate,
    private readonly progressIntervalMs = 5000,
  ) {}

  async get(req: IncomingMessage, res: ServerResponse, id: BlobId, path: string): Promise<void> {
    const t0 = performance.now();
    const ctrl = new AbortController();
    res.once("close", () => ctrl.abort(new Error("caller went away")));
    const signal = ctrl.signal;

    const head = await this.upstream.request({
      method: "HEAD", path, headers: req.headers, dropHeaders: ["range", "if-range"], signal, followRedirects: true,
    });
    await head.body.dump();
    const size = Number(head.headers["content-length"]);
    if (head.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0 || this.httpOnly.has(id.digest.hex)) {
      // 401/403/404 and anything unusual: the upstream's own GET answer is authoritative.
      return this.proxyHttp(req, res, path, signal, t0, id);
    }
    const range = parseRange(headerText(req.headers.range), size);
    if (range.kind === "multi") {
      return this.proxyHttp(req, res, path, signal, t0, id);
    }
    if (range.kind === "unsatisfiable") {
      res.writeHead(416, { "content-range": `bytes */${size}`, "content-length": "0" });
      res.end();
      return;
    }
    if (!this.gate.allow()) {
      this.metrics.fallbacks.labels({ reason: "ndn-skipped" }).inc();
      return this.proxyHttp(req, res, path, signal, t0, id);
    }
    const window: ByteRange = range.kind === "single" ? range.range : { start: 0, end: size - 1 };
    const headers: Record<string, string | string[]> = {};
    for (const k of BLOB_HEADERS) {
      const v = head.headers[k];
      if (v !== undefined) {
        headers[k] = v;
      }
    }
    headers["accept-ranges"] = "bytes";
    headers["content-length"] = String(Math.max(0, window.end - window.start + 1));
    if (range.kind === "single") {
      headers["content-range"] = `bytes ${window.start}-${window.end}/${size}`;
    }

    const holdAll = size <= SELF_HEAL_MAX_BYTES;
    const writer = new VerifiedWriter(res, id.digest, size, window, signal, holdAll);
    let source: BlobSource = "ndn";
    let ndnBytes = 0;
    let started = false;
    const fetch = this.fetches.open(id, size, signal);
    const stats = fetch.stats;
    const m = this.metrics;
    m.inFlight.inc();
    const stopProgress = this.logProgress(id, size, writer, t0);
    let fetchOutcome: "ok" | "fallback" = "ok";
    try {
      try {
        for await (const payloads of fetch.payloads) {
          if (ndnBytes === 0) {
            this.gate.reachable();
          }
          if (!started && !holdAll) {
            res.writeHead(range.kind === "single" ? 206 : 200, headers);
            started = true;
          }
          await writer.pushAll(payloads);
          for (const p of payloads) {
            ndnBytes += p.length;
          }
        }
      } catch (err: unknown) {
        if (!(err instanceof NdnFetchError) || signal.aborted) {
          throw err;
        }
        fetchOutcome = "fallback";
        m.fallbacks.labels({ reason: err.reason }).inc();
        if (ndnBytes === 0 && (err.reason === "first-byte-timeout" || err.reason === "fetch-error")) {
          this.gate.unreachable(); // nothing answered: skip NDN for a while instead of waiting again
        }
        if (!started) {
          this.log.info({ repository: id.repository, digest: id.digest.text, reason: err.reason, err: err.message }, "ndn failed, blob over http");
          return await this.proxyHttp(req, res, path, signal, t0, id, "fallback");
        }
        this.log.info({ repository: id.repository, digest: id.digest.text, at: writer.position, reason: err.reason, err: err.message }, "ndn failed mid-blob, rest over http");
        source = "ndn+http";
        m.blobBytes.labels({ path: "fallback" }).inc(await this.continueOverHttp(req, id, path, writer, size, signal));
      }
      if (!started) {
        if (holdAll) {
          try {
            writer.verify();
          } catch (err: unknown) {
            if (!(err instanceof DigestMismatchError)) {
              throw err;
            }
            // Nothing sent yet: answer with the registry's bytes instead.
            this.remember(id);
            m.fallbacks.labels({ reason: "digest-mismatch" }).inc();
            fetchOutcome = "fallback";
            this.log.error({ repository: id.repository, digest: id.digest.text, err: err.message }, "digest mismatch: blob served over http instead");
            return await this.proxyHttp(req, res, path, signal, t0, id, "fallback");
          }
        }
        res.writeHead(range.kind === "single" ? 206 : 200, headers);
        started = true;
      }
      await writer.finish();
      res.end();
      this.logDone(id, source, writer.bytesWritten, ndnBytes, t0, stats, fetch.joined);
    } catch (err: unknown) {
      m.blobs.labels({ source: "failed" }).inc();
      if (err instanceof DigestMismatchError) {
        m.fallbacks.labels({ reason: "digest-mismatch" }).inc();
        this.remember(id);
        this.log.error({ repository: id.repository, digest: id.digest.text, err: err.message }, "digest mismatch: response aborted, blob goes over http next time");
      } else if (!signal.aborted) {
        this.log.warn({ repository: id.repository, digest: id.digest.text, err: String(err) }, "blob transfer failed");
      }
      if (!started && !res.headersSent && !signal.aborted) {
        sendUpstreamError(res, err);
        return;
      }
      res.destroy();
    } finally {
      stopProgress();
      m.inFlight.dec();
      m.fetchSeconds.labels({ outcome: fetchOutcome }).observe((performance.now() - t0) / 1000);
      m.blobBytes.labels({ path: "ndn" }).inc(ndnBytes);
      if (!fetch.joined) { // a shared fetch's packets are counted once, by the request that started it
        m.segments.inc(stats.delivered);
        m.retransmissions.inc(stats.retransmissions);
      } else {
        m.sharedFetches.inc();
      }
    }
  }

  /** Progress lines for large blobs: percent and MB/s every few seconds while in flight. */
  private logProgress(id: BlobId, size: number, writer: VerifiedWriter, t0: number): () => void {
    if (size < PROGRESS_MIN_BYTES) {
      return () => undefined;
    }
    const timer = setInterval(() => {
      const seconds = (performance.now() - t0) / 1000;
      this.log.info({
        repository: id.repository, digest: id.digest.text, bytes: writer.position, size,
        percent: Number((100 * writer.position / size).toFixed(1)), mbps: Number((writer.position / 1e6 / seconds).toFixed(1)),
      }, "blob progress");
    }, this.progressIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The rest of the blob over HTTP from where NDN stopped; returns the bytes it read. */
  private async continueOverHttp(req: IncomingMessage, id: BlobId, path: string, writer: VerifiedWriter, size: number, signal: AbortSignal): Promise<number> {
    const from = writer.position;
    if (from >= size) {
      return 0;
    }
    const res = await this.upstream.request({
      method: "GET", path, signal, followRedirects: true,
      headers: { ...req.headers, range: `bytes=${from}-${size - 1}` }, dropHeaders: ["if-range"],
    });
    if (res.statusCode !== 206) {
      await res.body.dump();
      throw new Error(`upstream answered ${res.statusCode} to a resume at byte ${from} of ${id.digest.text}`);
    }
    let n = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      await writer.push(chunk);
      n += chunk.length;
    }
    return n;
  }

  /** Plain HTTP for the whole request, redirects followed so the caller never leaves the proxy. */
  private async proxyHttp(req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal, t0: number, id: BlobId, bytePath: BytePath = "http"): Promise<void> {
    const up = await this.upstream.request({ method: "GET", path, headers: req.headers, signal, followRedirects: true });
    await this.upstream.relay(up, res);
    if (up.statusCode < 300) {
      const bytes = Number(up.headers["content-length"] ?? 0);
      this.metrics.blobBytes.labels({ path: bytePath }).inc(Number.isFinite(bytes) ? bytes : 0);
      this.logDone(id, "http", bytes, 0, t0);
    }
  }

  private remember(id: BlobId): void {
    if (this.httpOnly.size >= 10_000) {
      this.httpOnly.clear();
    }
    this.httpOnly.add(id.digest.hex);
  }

  private logDone(id: BlobId, source: BlobSource, bytes: number, ndnBytes: number, t0: number, stats?: PipelineStats, joined = false): void {
    this.metrics.blobs.labels({ source }).inc();
    const seconds = (performance.now() - t0) / 1000;
    this.log.info({
      repository: id.repository, digest: id.digest.text, bytes, ndnBytes, source,
      ...(stats && { retransmissions: stats.retransmissions, srttMs: Number(stats.srttMs.toFixed(2)) }),
      ...(joined && { sharedFetch: true }),
      seconds: Number(seconds.toFixed(3)), mbps: Number((bytes / 1e6 / Math.max(seconds, 1e-6)).toFixed(1)),
    }, "blob done");
  }
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(",") : v;
}
