import type { IncomingMessage, ServerResponse } from "node:http";

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";

import type { Logger } from "@ndnreg/shared";
import { opsHandler, type OpsSources, refuseConnect } from "@ndnreg/shared/http";

import { makeBlobId } from "@ndnreg/shared/ndn";

import type { BlobHandler } from "../blob/blob-handler.js";
import type { ManifestGrants } from "../blob/manifest-grants.js";
import type { ManifestKeeper } from "../blob/manifest-keeper.js";
import type { TagKeeper } from "../blob/tag-keeper.js";
import type { OutageAnswers } from "./outage-answers.js";
import { OUTAGE_GRACE_MS, type OutageMode } from "./outage.js";
import { sendUpstreamError } from "./upstream-errors.js";
import { classify, manifestRepository, offlineRoute } from "./routes.js";
import type { Upstream } from "./upstream.js";

export interface AppDeps {
  readonly upstream: Upstream;
  readonly blobs: BlobHandler;
  readonly log: Logger;
  /** /healthz, and /metrics unless the metrics have a listener of their own (--metrics-listen). */
  readonly ops: OpsSources;
  /** Outage mode: reads by digest answered without the upstream while it is unreachable. */
  readonly outage?: { readonly mode: OutageMode; readonly answers: OutageAnswers };
  /** Keeps the manifests pulled through the client in the edge store (fetched over NDN). */
  readonly manifests?: ManifestKeeper;
  /** Keeps the server-signed records of the tags pulled through the client in the edge store. */
  readonly tags?: TagKeeper;
  /** Remembers the blobs of the manifests relayed to each caller, so their GETs skip the upstream's HEAD. */
  readonly grants?: ManifestGrants;
}

/**
 * The local registry endpoint. Request bodies are never parsed: pushes stream straight to the
 * upstream. Handlers take over the raw response so a failing blob can be aborted mid-body.
 */
export function buildApp({ upstream, blobs, log, ops, outage, manifests, tags, grants }: AppDeps): FastifyInstance {
  // Per-request logs stay at debug: each blob already gets one line when it is done.
  const httpLog = log.child({ component: "http" }, { level: log.level === "debug" || log.level === "trace" ? log.level : "warn" });
  const loggerInstance: FastifyBaseLogger = httpLog;
  const app = Fastify({ loggerInstance, routerOptions: { maxParamLength: 8192 } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  const handleOps = opsHandler(ops);
  for (const url of ops.metrics ? ["/healthz", "/metrics"] : ["/healthz"]) {
    app.get(url, (request, reply) => {
      reply.hijack();
      handleOps(request.raw, reply.raw);
    });
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://local");
    if (url.pathname !== "/v2" && !url.pathname.startsWith("/v2/")) {
      // "/v2/../x" normalizes to "/x": only the registry API is ever forwarded.
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "only /v2/ is served here" }] }));
      return;
    }
    const method = req.method ?? "GET";
    const route = classify(method, url.pathname);
    const read = offlineRoute(method, url.pathname);
    const offline = outage && read;
    const path = url.pathname + url.search;
    // Reads outage mode could answer wait for a silent upstream only its grace; the rest, the whole timeout.
    const retryMs = offline ? OUTAGE_GRACE_MS : undefined;
    try {
      if (offline && outage.mode.active) {
        await outage.answers.answer(offline, req, res, path);
        return;
      }
      if (route.kind === "blob") {
        await blobs.get(req, res, route.id, path, retryMs);
        return;
      }
      const up = await upstream.request({
        method, path, headers: req.headers, body: req, followRedirects: route.followRedirects, retryMs,
      });
      outage?.mode.answered();
      const manifestRead = method === "GET" && up.statusCode === 200 ? manifestRepository(url.pathname) : undefined;
      if (manifests && manifestRead !== undefined) {
        const id = makeBlobId(manifestRead, String(up.headers["docker-content-digest"] ?? ""));
        if (id) {
          manifests.keep(id, Number(up.headers["content-length"]));
        }
      }
      if (tags && read?.kind === "tag" && up.statusCode === 200) {
        tags.keep(read);
      }
      const tap = grants && manifestRead !== undefined
        ? grants.tap(manifestRead, url.search, req.headers, Number(up.headers["content-length"] ?? 0), (ids) => blobs.prefetch(ids))
        : undefined;
      await upstream.relay(up, res, tap);
    } catch (err: unknown) {
      if (offline && !res.headersSent && outage.mode.failed(err)) {
        await outage.answers.answer(offline, req, res, path).catch((failure: unknown) => {
          log.warn({ method, path: url.pathname, err: String(failure) }, "outage mode: request failed");
          sendUpstreamError(res, err);
        });
        return;
      }
      log.warn({ method: req.method, path: url.pathname, err: String(err) }, "upstream request failed");
      if (res.headersSent) {
        res.destroy();
      } else {
        sendUpstreamError(res, err);
      }
    }
  };
  const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
  refuseConnect(app.server, methods.join(", "));
  for (const url of ["/v2", "/v2/", "/v2/*"]) {
    app.route({ method: [...methods], url, handler: (request, reply) => {
      reply.hijack();
      return handle(request.raw, reply.raw);
    } });
  }
  return app;
}
