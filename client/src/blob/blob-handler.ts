import type { IncomingMessage, ServerResponse } from "node:http";

import type { Logger } from "@ndnreg/shared";
import type { BlobId } from "@ndnreg/shared/ndn";

import { sendUpstreamError } from "../http/upstream-errors.js";
import type { Upstream } from "../http/upstream.js";
import { NdnFetchError } from "../ndn/blob-fetcher.js";
import type { NdnGate } from "../ndn/gate.js";
import type { SharedFetches } from "../ndn/shared-fetches.js";
import type { ClientMetrics, FallbackReason } from "../ops/metrics.js";
import type { BlobStore } from "../store/blob-store.js";
import { readStoredBlob } from "../store/store-reader.js";
import { proxyWholeBlob, readRangeOverHttp, resumeOverHttp } from "./http-fallback.js";
import { deliverOverNdn } from "./ndn-delivery.js";
import { BlobOutcome, BlobRecorder } from "./outcome.js";
import { GRANT_MS, type ManifestGrants } from "./manifest-grants.js";
import { type BlobPlan, planBlob, planListed } from "./plan.js";
import { DigestMismatchError, VerifiedWriter } from "./verified-writer.js";

/** How long a verified blob's store write may take to fetch its packets and install, after its response ended. */
const STORE_COMMIT_MS = 30_000;

/** Most digests remembered as served over HTTP only (then the list starts over). */
const MAX_HTTP_ONLY = 10_000;

/**
 * Why a digest goes over HTTP only: its NDN copy did not match it, or the upstream's HEAD gives a
 * size the producer's copy does not have (the response promised the HEAD's Content-Length, so
 * only the upstream's own GET can answer it).
 */
type HttpOnlyCause = "wrong-copy" | "size-mismatch";

/** How long a metadata answer asked for when a manifest is relayed waits for its blob's GET (the grant's time). */
const PREFETCH_KEEP_MS = GRANT_MS;

/** A listed plan whose size the producer's metadata or stored copy contradicts: the upstream's HEAD decides instead. */
const REPLAN = Symbol("replan");

/** What follows a fallback: the whole blob over HTTP, the rest of it from byte `at`, or nothing (the response is aborted). */
type Then = { readonly kind: "whole" } | { readonly kind: "rest"; readonly at: number } | { readonly kind: "abort" };
const WHOLE: Then = { kind: "whole" };

/**
 * GET /v2/<repository>/blobs/sha256:<hex>: plan (the upstream's HEAD, or the descriptor of a
 * manifest relayed to the same caller; the Range), deliver over NDN, fall back to HTTP wherever
 * NDN fails, and record one outcome per blob.
 */
export class BlobHandler {
  /** Digests served over HTTP from now on (bounded), and why. */
  private readonly httpOnly = new Map<string, HttpOnlyCause>();
  private readonly recorder: BlobRecorder;

  constructor(
    private readonly upstream: Upstream,
    private readonly fetches: SharedFetches,
    private readonly log: Logger,
    metrics: ClientMetrics,
    private readonly gate: NdnGate,
    progressIntervalMs = 5000,
    /** The edge store: blobs in it are served from disk; blobs delivered whole and verified over NDN are added. */
    private readonly store?: BlobStore,
    /** Blobs the caller's relayed manifests list: planned without the upstream's HEAD. */
    private readonly grants?: ManifestGrants,
  ) {
    this.recorder = new BlobRecorder(log, metrics, progressIntervalMs);
  }

  /** `retryMs`: how long the upstream's HEAD keeps trying a silent upstream (outage mode's grace; else the whole timeout). */
  async get(req: IncomingMessage, res: ServerResponse, id: BlobId, path: string, retryMs?: number): Promise<void> {
    const httpOnly = this.httpOnly.has(id.digest.hex);
    this.sendMetadataEarly(id); // overlaps the HEAD's round trip; used only if the HEAD says yes
    const byHead = (signal: AbortSignal) => planBlob(this.upstream, req, path, signal, this.httpOnly.has(id.digest.hex), retryMs);
    const query = path.includes("?") ? path.slice(path.indexOf("?")) : "";
    const listed = httpOnly ? undefined : this.grants?.find(id, query, req.headers);
    if (!listed) {
      await this.run(req, res, id, path, byHead, true);
      return;
    }
    await this.run(req, res, id, path, () => Promise.resolve(planListed(req.headers, id.digest.text, listed.size)), true, (signal) => {
      this.grants!.forget(id, query, req.headers);
      this.log.warn({ repository: id.repository, digest: id.digest.text, size: listed.size }, "blob size: the manifest's descriptor and the producer disagree; asking the upstream");
      return byHead(signal);
    });
  }

  /**
   * The blobs a manifest just relayed lists: their metadata Interests leave now, and the answers
   * wait (PREFETCH_KEEP_MS) for the blob GETs that follow. Nothing else is fetched without a GET.
   */
  prefetch(ids: readonly BlobId[]): void {
    for (const id of ids) {
      this.sendMetadataEarly(id, PREFETCH_KEEP_MS);
    }
  }

  /** The metadata Interest for `id` leaves ahead of its plan, unless the blob is served over HTTP or from the store, or NDN is skipped. */
  private sendMetadataEarly(id: BlobId, keepMs?: number): void {
    if (!this.httpOnly.has(id.digest.hex) && !this.gate.skipping && this.store?.has(id.digest.hex) !== true) {
      this.fetches.sendMetadataEarly(id, keepMs);
    }
  }

  /**
   * A blob (or a manifest, content-addressed alike) by digest while the upstream is unreachable
   * (outage mode): `plan` was made from the server's metadata; the bytes come from the store or
   * over NDN, whatever the gate says (HTTP has nothing to offer now), verified as always.
   */
  async getWithoutUpstream(req: IncomingMessage, res: ServerResponse, id: BlobId, path: string, plan: BlobPlan): Promise<void> {
    await this.run(req, res, id, path, () => Promise.resolve(plan), false);
  }

  /**
   * Errors of `makePlan` (the upstream's HEAD) reach the caller, before any byte of the response.
   * `replan`: the plan when a listed one's size proves wrong, before any byte was sent.
   */
  private async run(
    req: IncomingMessage, res: ServerResponse, id: BlobId, path: string, makePlan: (signal: AbortSignal) => Promise<BlobPlan>, gated: boolean,
    replan?: (signal: AbortSignal) => Promise<BlobPlan>,
  ): Promise<void> {
    const outcome = new BlobOutcome(id);
    const ctrl = new AbortController();
    res.once("close", () => ctrl.abort(new Error("caller went away")));
    const signal = ctrl.signal;
    try {
      let plan = await makePlan(signal);
      for (;;) {
        const stored = plan.kind === "ndn" ? this.store?.info(id.digest.hex) : undefined;
        if (plan.kind === "ndn" && plan.listed && replan && stored && stored.size !== plan.size) {
          plan = await replan(signal); // the stored copy hashed to the digest: the descriptor is the one wrong
          replan = undefined;
          continue;
        }
        if (plan.kind === "unsatisfiable") {
          res.writeHead(416, { "content-range": `bytes */${plan.size}`, "content-length": "0" });
          res.end();
          return;
        }
        if (plan.kind === "ndn" && stored && await this.fromStore(res, signal, plan, outcome)) {
          return;
        }
        if (plan.kind === "ndn" && (!gated || this.gate.allow())) {
          if (await this.overNdn(req, res, path, signal, plan, outcome) !== REPLAN) {
            return;
          }
          if (replan) {
            plan = await replan(signal);
            replan = undefined;
            continue;
          }
        } else if (plan.kind === "ndn") {
          this.fallBack(outcome, "ndn-skipped", WHOLE);
        }
        await this.overHttp(req, res, path, signal, outcome, "http");
        return;
      }
    } finally {
      this.recorder.record(outcome);
    }
  }

  /** REPLAN: a listed plan's size is not the producer's, and nothing was sent (the caller decides what next). */
  private async overNdn(
    req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal, plan: BlobPlan & { kind: "ndn" }, o: BlobOutcome,
  ): Promise<void | typeof REPLAN> {
    const writer = new VerifiedWriter(res, o.id.digest, plan.size, plan.window, signal, plan.holdAll);
    const repair = (begin: number, end: number, s: AbortSignal) => readRangeOverHttp(this.upstream, req, path, begin, end, s);
    const fetch = this.fetches.open(o.id, plan.size, plan.window, repair, signal);
    this.recorder.opened(o, fetch);
    const stopProgress = this.recorder.progress(o, plan.size, () => writer.position);
    const tee = this.store?.writer(o.id, plan.size);
    try {
      try {
        await deliverOverNdn(fetch.payloads, writer, res, plan, this.gate, o, tee);
      } catch (err: unknown) {
        if (!(err instanceof NdnFetchError) || signal.aborted) {
          throw err;
        }
        if (o.ndnBytes === 0 && (err.reason === "first-byte-timeout" || err.reason === "fetch-error")) {
          this.gate.unreachable(); // nothing answered: skip NDN for a while instead of waiting again
        }
        if (!res.headersSent && err.reason === "size-mismatch" && plan.listed) {
          return REPLAN;
        }
        if (!res.headersSent) {
          this.fallBack(o, err.reason, WHOLE, err);
          return await this.overHttp(req, res, path, signal, o, "fallback");
        }
        if (err.reason === "size-mismatch") {
          throw err; // the response promised the HEAD's size: nothing can complete it
        }
        this.fallBack(o, err.reason, { kind: "rest", at: writer.position }, err);
        o.http = { path: "fallback" };
        o.http.bytes = await resumeOverHttp(this.upstream, req, path, o.id, writer, plan.size, signal);
      }
      if (!res.headersSent) {
        try {
          writer.verify(); // held back so far: a wrong copy can still be replaced
        } catch (err: unknown) {
          if (!(err instanceof DigestMismatchError)) {
            throw err;
          }
          this.fallBack(o, "digest-mismatch", WHOLE, err);
          return await this.overHttp(req, res, path, signal, o, "fallback");
        }
        res.writeHead(plan.status, plan.headers);
      }
      await writer.finish();
      res.end();
      o.source = o.http ? "ndn+http" : "ndn";
      o.bytes = writer.bytesWritten;
      // Stored only if every byte came over NDN under the server's canonical (published) names.
      if (tee && !o.http && fetch.stats.names === "canonical" && fetch.stats.repaired === 0) {
        void tee.commit(AbortSignal.timeout(STORE_COMMIT_MS));
      }
    } catch (err: unknown) {
      o.source = "failed";
      if (err instanceof DigestMismatchError) {
        this.fallBack(o, "digest-mismatch", { kind: "abort" }, err);
      } else if (err instanceof NdnFetchError && err.reason === "size-mismatch") {
        this.fallBack(o, "size-mismatch", { kind: "abort" }, err);
      } else if (!signal.aborted) {
        this.log.warn({ repository: o.id.repository, digest: o.id.digest.text, err: String(err) }, "blob transfer failed");
      }
      if (!res.headersSent && !signal.aborted) {
        sendUpstreamError(res, err);
        return;
      }
      res.destroy();
    } finally {
      tee?.abort(); // no-op once committing
      stopProgress();
    }
  }

  /**
   * The blob from the edge store, through a verified writer as NDN bytes are (read from byte 0
   * and hashed). False when the stored copy could not be read or was wrong before a byte was
   * sent: it is dropped and the blob goes the usual way.
   */
  private async fromStore(res: ServerResponse, signal: AbortSignal, plan: BlobPlan & { kind: "ndn" }, o: BlobOutcome): Promise<boolean> {
    const store = this.store!;
    const hex = o.id.digest.hex;
    const writer = new VerifiedWriter(res, o.id.digest, plan.size, plan.window, signal, plan.holdAll);
    try {
      for await (const chunk of readStoredBlob(store, hex, signal)) {
        if (!plan.holdAll && !res.headersSent) {
          res.writeHead(plan.status, plan.headers);
        }
        await writer.push(chunk);
      }
      writer.verify();
      if (!res.headersSent) {
        res.writeHead(plan.status, plan.headers);
      }
      await writer.finish();
      res.end();
      o.source = "store";
      o.bytes = writer.bytesWritten;
      return true;
    } catch (err: unknown) {
      if (signal.aborted) {
        res.destroy();
        return true;
      }
      this.log.error({ repository: o.id.repository, digest: o.id.digest.text, err: String(err) }, "store: stored copy unreadable or wrong, dropped");
      store.remove(hex);
      if (!res.headersSent) {
        return false;
      }
      o.source = "failed";
      res.destroy();
      return true;
    }
  }

  /** The whole blob as a plain GET to the upstream: its answer stands. */
  private async overHttp(req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal, o: BlobOutcome, bytePath: "http" | "fallback"): Promise<void> {
    o.http = { path: bytePath };
    const bytes = await proxyWholeBlob(this.upstream, req, res, path, signal);
    if (bytes !== undefined) {
      o.http.bytes = bytes;
      o.bytes = bytes;
      o.source = "http";
    }
  }

  /**
   * Every exit from NDN goes through here: the reason is recorded, and the log says what happens
   * next. A wrong copy also sends its digest over HTTP from now on.
   */
  private fallBack(o: BlobOutcome, reason: FallbackReason, then: Then, err?: Error): void {
    o.fallbacks.push(reason);
    const blob = { repository: o.id.repository, digest: o.id.digest.text };
    if (reason === "digest-mismatch") {
      this.remember(o.id, "wrong-copy");
      this.log.error({ ...blob, err: err?.message }, then.kind === "abort"
        ? "digest mismatch: response aborted, blob goes over http next time"
        : "digest mismatch: blob served over http instead");
    } else if (reason === "size-mismatch") {
      // Not NDN's fault as far as the client can tell: the upstream's HEAD may be the one wrong.
      this.remember(o.id, "size-mismatch");
      this.log.warn({ ...blob, err: err?.message }, then.kind === "abort"
        ? "blob size: the upstream's HEAD and the producer disagree; response aborted, blob goes over http next time"
        : "blob size: the upstream's HEAD and the producer disagree; blob served over http, and from now on");
    } else if (then.kind === "rest") {
      this.log.info({ ...blob, at: then.at, reason, err: err?.message }, "ndn failed mid-blob, rest over http");
    } else if (reason !== "ndn-skipped") {
      this.log.info({ ...blob, reason, err: err?.message }, "ndn failed, blob over http");
    }
  }

  private remember(id: BlobId, cause: HttpOnlyCause): void {
    if (this.httpOnly.size >= MAX_HTTP_ONLY) {
      this.httpOnly.clear();
    }
    this.httpOnly.set(id.digest.hex, cause);
  }
}
