import type { IncomingMessage, ServerResponse } from "node:http";

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";

import type { Logger } from "@ndnreg/shared";

import type { ClientMetrics } from "../ops/metrics.js";
import type { BlobHandler } from "../blob/blob-handler.js";
import { sendUpstreamError } from "./upstream-errors.js";
import { classify } from "./routes.js";
import type { Upstream } from "./upstream.js";

export interface AppDeps {
  readonly upstream: Upstream;
  readonly blobs: BlobHandler;
  readonly log: Logger;
  /** Served at /metrics on this listener, unless the metrics have their own (see buildMetricsApp). */
  readonly metrics?: ClientMetrics;
  readonly health: () => Health;
}

/**
 * The local registry endpoint. Request bodies are never parsed: pushes stream straight to the
 * upstream. Handlers take over the raw response so a failing blob can be aborted mid-body.
 */
/**
 * What /healthz reports. `ndn` is "skipping" while blobs go over HTTP without trying NDN (uplink
 * down, or recent fetches got no answer: see NdnGate).
 */
export interface Health {
  readonly uplink: "up" | "down";
  readonly ndn: "ok" | "skipping";
}

export function buildApp({ upstream, blobs, log, metrics, health }: AppDeps): FastifyInstance {
  // Per-request logs stay at debug: each blob already gets one line when it is done.
  const httpLog = log.child({ component: "http" }, { level: log.level === "debug" || log.level === "trace" ? log.level : "warn" });
  const app = Fastify({ loggerInstance: httpLog as FastifyBaseLogger, routerOptions: { maxParamLength: 8192 } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  addOpsRoutes(app, metrics, health);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://local");
    if (url.pathname !== "/v2" && !url.pathname.startsWith("/v2/")) {
      // "/v2/../x" normalizes to "/x": only the registry API is ever forwarded.
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "only /v2/ is served here" }] }));
      return;
    }
    const route = classify(req.method ?? "GET", url.pathname);
    try {
      if (route.kind === "blob") {
        await blobs.get(req, res, route.id, url.pathname + url.search);
        return;
      }
      const up = await upstream.request({
        method: req.method ?? "GET", path: url.pathname + url.search, headers: req.headers, body: req, followRedirects: route.followRedirects,
      });
      await upstream.relay(up, res);
    } catch (err: unknown) {
      log.warn({ method: req.method, path: url.pathname, err: String(err) }, "upstream request failed");
      if (res.headersSent) {
        res.destroy();
      } else {
        sendUpstreamError(res, err);
      }
    }
  };
  const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
  for (const url of ["/v2", "/v2/", "/v2/*"]) {
    app.route({ method: [...methods], url, handler: (request, reply) => {
      reply.hijack();
      return handle(request.raw, reply.raw);
    } });
  }
  return app;
}

/**
 * /healthz and /metrics. Health stays 200 while the uplink is down: blobs then go over HTTP,
 * which is degraded but working; the body says which.
 */
function addOpsRoutes(app: FastifyInstance, metrics: ClientMetrics | undefined, health: () => Health): void {
  app.get("/healthz", async () => ({ ok: true, ...health() }));
  if (metrics) {
    app.get("/metrics", async (_req, reply) => {
      metrics.uplinkUp.set(health().uplink === "up" ? 1 : 0);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
}

/** A listener of its own for /metrics and /healthz (--metrics-listen). */
export function buildMetricsApp(metrics: ClientMetrics, health: () => Health, log: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: log.child({ component: "metrics" }, { level: "warn" }) as FastifyBaseLogger });
  addOpsRoutes(app, metrics, health);
  return app;
}
