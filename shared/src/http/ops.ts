import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

import { refuseConnect } from "./refuse-connect.js";

/** What /metrics and /healthz report. prom-client's Registry is a `metrics` source. */
export interface OpsSources {
  /** Absent: /metrics is not served here. */
  readonly metrics?: { readonly contentType: string; metrics(): Promise<string> };
  /** The /healthz body, as JSON: 200 while `ok`, else 503. */
  readonly health: () => { readonly ok: boolean };
}

/** A node (req, res) handler for /metrics and /healthz; false (nothing written) for other paths. */
export function opsHandler(src: OpsSources): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const { metrics } = src;
    if (path === "/metrics" && metrics) {
      metrics.metrics().then((text) => {
        res.writeHead(200, { "content-type": metrics.contentType }).end(text);
      }, (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
      });
      return true;
    }
    if (path === "/healthz") {
      const health = src.health();
      res.writeHead(health.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(health));
      return true;
    }
    return false;
  };
}

/** A listener of its own for /metrics and /healthz: GET and HEAD only, 404 elsewhere. */
export async function listenOps(src: OpsSources, listen: { readonly host: string; readonly port: number }): Promise<Server> {
  const handle = opsHandler(src);
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (!handle(req, res)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  refuseConnect(server, "GET, HEAD");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
