import type { IncomingMessage, ServerResponse } from "node:http";

import type { Logger } from "@ndnreg/shared";

import type { BlobHandler } from "../blob/blob-handler.js";
import { planPublished } from "../blob/plan.js";
import { NotPublishedError, type PublishedLookup } from "../blob/published.js";
import type { ClientMetrics } from "../ops/metrics.js";
import { OUTAGE_SCOPE } from "./outage.js";
import type { OfflineRoute } from "./routes.js";

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };

/**
 * The answers of outage mode (the upstream unreachable): `GET /v2/` by the client itself; blobs
 * and manifests by digest from what the server published (its metadata: size, media type) with
 * the bytes from the edge store or over NDN; tags refused with a 503 that says why.
 */
export class OutageAnswers {
  constructor(
    private readonly blobs: BlobHandler,
    private readonly published: PublishedLookup,
    private readonly metrics: ClientMetrics,
    private readonly log: Logger,
  ) {}

  async answer(route: OfflineRoute, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (route.kind === "ping") {
      this.metrics.outageResponses.labels({ kind: "ping" }).inc();
      res.writeHead(200, { ...API_VERSION, "content-type": "application/json", "content-length": "2" });
      res.end(req.method === "HEAD" ? undefined : "{}");
      return;
    }
    if (route.kind === "tag") {
      this.refuse(res, 503, "UNAVAILABLE", `upstream registry unreachable: ${OUTAGE_SCOPE}; pull ${route.repository}@sha256:<digest>`,
        { repository: route.repository, tag: route.tag });
      return;
    }
    const { id, kind, head } = route;
    const ctrl = new AbortController();
    res.once("close", () => ctrl.abort(new Error("caller went away")));
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

  /** A registry error body (docs/protocol.md, "Outage mode"). */
  private refuse(res: ServerResponse, status: number, code: string, message: string, detail: Record<string, string>): void {
    this.metrics.outageResponses.labels({ kind: "refused" }).inc();
    const body = JSON.stringify({ errors: [{ code, message, detail }] });
    res.writeHead(status, { ...API_VERSION, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
  }
}
