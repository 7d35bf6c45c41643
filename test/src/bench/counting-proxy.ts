import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxyCounters {
  blobGets: number;
  refusedBlobGets: number;
  blobBytes: number;
  otherRequests: number;
}

/**
 * A reverse proxy in front of the registry that counts blob bytes and, with `refuseBlobs`,
 * answers 403 to every blob GET: a client whose upstream is this proxy can then only get blob
 * bytes over NDN. HEADs and everything else pass through untouched.
 */
export class CountingProxy {
  readonly counters: ProxyCounters = { blobGets: 0, refusedBlobGets: 0, blobBytes: 0, otherRequests: 0 };
  /** "METHOD path?query" of the latest requests (at most 10,000). */
  readonly requestLog: string[] = [];
  refuseBlobs: boolean;
  /** Flip one bit in every blob body passed through: a producer behind it publishes wrong bytes. */
  corruptBlobs = false;
  /** Added to the Content-Length of blob HEAD answers: an upstream whose HEAD gives a wrong size. */
  headSizeDelta = 0;
  private constructor(private readonly server: Server, private readonly upstream: URL, refuseBlobs: boolean) {
    this.refuseBlobs = refuseBlobs;
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  static async start(upstreamUrl: string, opts: { refuseBlobs: boolean }): Promise<CountingProxy> {
    const upstream = new URL(upstreamUrl);
    const server = createServer();
    const proxy = new CountingProxy(server, upstream, opts.refuseBlobs);
    server.on("request", (req, res) => {
      if (proxy.requestLog.push(`${req.method} ${req.url}`) > 10_000) {
        proxy.requestLog.shift();
      }
      const isBlobGet = req.method === "GET" && /^\/v2\/.+\/blobs\/[^/]+$/.test((req.url ?? "").split("?")[0]!);
      if (isBlobGet) {
        ++proxy.counters.blobGets;
        if (proxy.refuseBlobs) {
          ++proxy.counters.refusedBlobGets;
          res.writeHead(403, { "content-type": "application/json" });
          res.end(JSON.stringify({ errors: [{ code: "DENIED", message: "blob GETs refused by test proxy" }] }));
          req.resume();
          return;
        }
      } else {
        ++proxy.counters.otherRequests;
      }
      const headers = { ...req.headers, host: upstream.host };
      const isBlobHead = req.method === "HEAD" && /^\/v2\/.+\/blobs\/[^/]+$/.test((req.url ?? "").split("?")[0]!);
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (upRes) => {
        const length = upRes.headers["content-length"];
        if (isBlobHead && proxy.headSizeDelta !== 0 && upRes.statusCode === 200 && length !== undefined) {
          upRes.headers["content-length"] = String(Number(length) + proxy.headSizeDelta);
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!isBlobGet) {
          upRes.pipe(res);
          return;
        }
        let first = true;
        upRes.on("data", (c: Buffer) => {
          proxy.counters.blobBytes += c.length;
          if (proxy.corruptBlobs && first && c.length > 0) {
            c = Buffer.from(c);
            c.writeUInt8(c.readUInt8(c.length - 1) ^ 1, c.length - 1);
          }
          first = false;
          res.write(c);
        });
        upRes.on("end", () => res.end());
        upRes.on("error", () => res.destroy());
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
