import type { IncomingMessage, ServerResponse } from "node:http";

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";

import type { Logger } from "@ndnreg/shared";

import type { BlobHandler } from "./proxy/blob-handler.js";
import { classify } from "./proxy/routes.js";
import type { Upstream } from "./proxy/upstream.js";

export interface AppDeps {
  readonly upstream: Upstream;
  readonly blobs: BlobHandler;
  readonly log: Logger;
}

/**
 * The local registry endpoint. Request bodies are never parsed: pushes stream straight to the
 * upstream. Handlers take over the raw response so a failing blob can be aborted mid-body.
 */
export function buildApp({ upstream, blobs, log }: AppDeps): FastifyInstance {
  // Per-request logs stay at debug: each blob already gets one line when it is done.
  const httpLog = log.child({ component: "http" }, { level: log.level === "debug" || log.level === "trace" ? log.level : "warn" });
  const app = Fastify({ loggerInstance: httpLog as FastifyBaseLogger, routerOptions: { maxParamLength: 8192 } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  app.get("/healthz", async () => ({ ok: true }));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://local");
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
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "upstream registry unreachable" }] }));
      } else {
        res.destroy();
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
