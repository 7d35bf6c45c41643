import { createServer, type Server } from "node:http";

import type { Registry } from "prom-client";

/** /metrics (Prometheus text format) and /healthz (200 while the uplink is up, else 503). */
export async function startMetricsServer(registry: Registry, listen: { host: string; port: number }, healthy: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": registry.contentType }).end(text);
      }, (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
      });
      return;
    }
    if (path === "/healthz") {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ ok, uplink: ok ? "up" : "down" }));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
