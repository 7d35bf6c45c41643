import type { IncomingMessage, ServerResponse } from "node:http";

import type { Logger } from "@ndnreg/shared";
import { TAG_RECORD_FRESHNESS_MS } from "@ndnreg/shared/ndn";

import type { BlobHandler } from "../blob/blob-handler.js";
import { planPublished } from "../blob/plan.js";
import { NotPublishedError, type PublishedLookup } from "../blob/published.js";
import type { TagRecordLookup } from "../blob/tag-lookup.js";
import type { ClientMetrics } from "../ops/metrics.js";
import { OUTAGE_SCOPE } from "./outage.js";
import type { OfflineRoute } from "./routes.js";

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };

/** The header that tells a manifest by tag was resolved in outage mode, by which record, and whether it was stale. */
const TAG_RECORD_HEADER = "ndnreg-tag-record";

/**
 * The answers of outage mode (the upstream unreachable): `GET /v2/` by the client itself; blobs
 * and manifests by digest from what the server published (its metadata: size, media type) with
 * the bytes from the edge store or over NDN; a manifest by tag as by the digest a tag record
 * signed by the server names (with a trust anchor: `tags`), else refused with a 503 that says why.
 */
export class OutageAnswers {
  constructor(
    private readonly blobs: BlobHandler,
    private readonly published: PublishedLookup,
    private readonly metrics: ClientMetrics,
    private readonly log: Logger,
    private readonly tags?: TagRecordLookup,
  ) {}

  async answer(route: OfflineRoute, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (route.kind === "ping") {
      this.metrics.outageResponses.labels({ kind: "ping" }).inc();
      res.writeHead(200, { ...API_VERSION, "content-type": "application/json", "content-length": "2" });
      res.end(req.method === "HEAD" ? undefined : "{}");
      return;
    }
    const ctrl = new AbortController();
    res.once("close", () => ctrl.abort(new Error("caller went away")));
    const byDigest = route.kind === "tag" ? await this.resolveTag(route, res, ctrl.signal) : route;
    if (!byDigest) {
      return;
    }
    const { id, kind, head } = byDigest;
    let published;
    try {
      published = await this.published.describe(id, ctrl.signal);
    } catch (err: unknown) {
      if (!(err instanceof NotPublishedError)) {
        throw err;
      }
      // 503 even when a producer refused: whether the registry has the digest cannot be known now.
      this.log.info({ repository: id.repository, digest: id.digest.text, err: err.message }, "outage mode: digest not served");
      this.refuse(res, 503, "UNAVAILABLE", `upstream registry unreachable, and ${err.answered ? "the digest is not published over NDN" : "no NDN answer for the digest"}: ${err.message}`,
        { repository: id.repository, digest: id.digest.text });
      return;
    }
    if (kind === "manifest" && published.mediaType === undefined) {
      this.refuse(res, 404, "MANIFEST_UNKNOWN", "upstream registry unreachable, and the digest is published as a blob, not a manifest",
        { repository: id.repository, digest: id.digest.text });
      return;
    }
    this.metrics.outageResponses.labels({ kind: head ? "head" : kind }).inc();
    const mediaType = kind === "manifest" ? published.mediaType : undefined;
    if (head) {
      const plan = planPublished({}, id.digest.text, published.size, mediaType);
      res.writeHead(200, plan.kind === "ndn" ? plan.headers : { ...API_VERSION, "content-length": "0" });
      res.end();
      return;
    }
    await this.blobs.getWithoutUpstream(req, res, id, path, planPublished(req.headers, id.digest.text, published.size, mediaType));
  }

  /**
   * The manifest a tag names by the newest server-signed tag record the client can find (its own
   * store's, or a neighbour's over NDN), stale or not (said in a header and the log); undefined
   * once refused with a 503.
   */
  private async resolveTag(route: OfflineRoute & { kind: "tag" }, res: ServerResponse, signal: AbortSignal): Promise<OfflineRoute & { kind: "manifest" } | undefined> {
    const { repository, tag, head } = route;
    if (!this.tags) {
      this.refuse(res, 503, "UNAVAILABLE", `upstream registry unreachable: ${OUTAGE_SCOPE}; pull ${repository}@sha256:<digest>`, { repository, tag });
      return undefined;
    }
    const got = await this.tags.resolve({ repository, tag }, signal);
    if ("refused" in got) {
      this.log.info({ repository, tag, err: got.refused }, "outage mode: tag not resolved");
      this.refuse(res, 503, "UNAVAILABLE", `upstream registry unreachable, and no tag record signed by the server was found: ${got.refused}; pull ${repository}@sha256:<digest>`,
        { repository, tag });
      return undefined;
    }
    const { digest, madeAt } = got.record;
    const ageMs = Date.now() - madeAt;
    const stale = ageMs > TAG_RECORD_FRESHNESS_MS;
    const made = new Date(madeAt).toISOString();
    res.setHeader(TAG_RECORD_HEADER, `${digest.text}; made=${made}; age=${Math.round(ageMs / 1000)}s; ${stale ? "stale" : "fresh"}`);
    this.log.info({ repository, tag, digest: digest.text, made, ageSeconds: Math.round(ageMs / 1000), from: got.from },
      stale ? "outage mode: tag resolved by a stale tag record signed by the server" : "outage mode: tag resolved by a tag record signed by the server");
    return { kind: "manifest", id: { repository, digest }, head };
  }

  /** A registry error body (docs/protocol.md, "Outage mode"). */
  private refuse(res: ServerResponse, status: number, code: string, message: string, detail: Record<string, string>): void {
    this.metrics.outageResponses.labels({ kind: "refused" }).inc();
    const body = JSON.stringify({ errors: [{ code, message, detail }] });
    res.writeHead(status, { ...API_VERSION, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
  }
}
