import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RedirectorCounters {
  /** 307s to storage issued. */
  redirects: number;
  storageRequests: number;
  rangedStorageGets: number;
  unrangedStorageGets: number;
  /** Storage requests refused because the signed URL had expired. */
  expiredRefused: number;
  badSignatureRefused: number;
  /** Storage requests that carried Authorization: a client leaked the registry's credentials. */
  authorizationRefused: number;
}

export interface RedirectorOptions {
  /** How long a signed storage URL stays valid. */
  readonly expiresMs: number;
  /** Authorization for storage's own reads from the registry (storage is a trusted backend). */
  readonly storageAuthorization?: (repository: string) => string | undefined;
}

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
const STORAGE_PATH = /^\/storage\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/;
/** Storage answers with its own headers, as S3 or a CDN would: no Docker-* headers. */
const STORAGE_HEADERS = ["content-length", "content-range", "content-type", "accept-ranges", "etag", "last-modified"];

/**
 * A registry front that behaves like Docker Hub or GHCR for blobs: a GET or HEAD the registry
 * would answer with 200 is answered with 307 to a second origin ("storage") with an expiring
 * signed URL (`?expires=<ms>&sig=<hmac of method, repository, digest, expiry>`). Storage checks
 * signature and expiry, refuses any request carrying Authorization (proof that clients do not
 * forward the registry's credentials to another origin), and serves the bytes, Range included,
 * from the registry. Everything else passes through to the registry unchanged.
 */
export class Redirector {
  readonly counters: RedirectorCounters = {
    redirects: 0, storageRequests: 0, rangedStorageGets: 0, unrangedStorageGets: 0,
    expiredRefused: 0, badSignatureRefused: 0, authorizationRefused: 0,
  };
  /** Headers of the latest storage requests (at most 100): what clients sent to another origin. */
  readonly storageHeaders: IncomingHttpHeaders[] = [];
  /** The next this many redirects of a GET (or HEAD) carry a URL that has already expired. */
  readonly staleNext: Record<"GET" | "HEAD", number> = { GET: 0, HEAD: 0 };
  private readonly secret = randomBytes(32);

  private constructor(
    private readonly front: Server,
    private readonly storage: Server,
    private readonly registry: URL,
    private readonly opts: RedirectorOptions,
  ) {}

  get host(): string {
    return `127.0.0.1:${(this.front.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  get storageUrl(): string {
    return `http://127.0.0.1:${(this.storage.address() as AddressInfo).port}`;
  }

  static async start(registryUrl: string, opts: RedirectorOptions): Promise<Redirector> {
    const r = new Redirector(createServer(), createServer(), new URL(registryUrl), opts);
    r.front.on("request", (req, res) => void r.onFront(req, res).catch(() => res.destroy()));
    r.storage.on("request", (req, res) => void r.onStorage(req, res).catch(() => res.destroy()));
    await Promise.all([r.front, r.storage].map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))));
    return r;
  }

  private async onFront(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://front");
    const m = BLOB_PATH.exec(url.pathname);
    if (!m || (req.method !== "GET" && req.method !== "HEAD")) {
      forward(req, res, this.registry, req.url ?? "/", req.headers);
      return;
    }
    // The registry decides who may read the blob; only then does storage get involved.
    const check = await send(this.registry, "HEAD", url.pathname, { ...pick(req.headers, ["authorization", "accept"]) });
    if (check.statusCode !== 200) {
      forward(req, res, this.registry, req.url ?? "/", req.headers);
      return;
    }
    const method = req.method;
    const expires = this.staleNext[method] > 0 ? Date.now() - 1000 : Date.now() + this.opts.expiresMs;
    this.staleNext[method] = Math.max(0, this.staleNext[method] - 1);
    ++this.counters.redirects;
    const location = `${this.storageUrl}/storage/${m[1]}/blobs/${m[2]}?expires=${expires}&sig=${this.sign(method, m[1]!, m[2]!, expires)}`;
    res.writeHead(307, { location, "content-length": "0", "docker-distribution-api-version": "registry/2.0" });
    res.end();
  }

  private async onStorage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    ++this.counters.storageRequests;
    if (this.storageHeaders.push(req.headers) > 100) {
      this.storageHeaders.shift();
    }
    const url = new URL(req.url ?? "/", "http://storage");
    const m = STORAGE_PATH.exec(url.pathname);
    const refuse = (status: number, code: string, message: string) => {
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    if (req.headers.authorization !== undefined) {
      ++this.counters.authorizationRefused;
      refuse(400, "InvalidArgument", "Only one auth mechanism allowed; Authorization header must not accompany a signed URL");
      return;
    }
    const expires = Number(url.searchParams.get("expires"));
    const sig = Buffer.from(url.searchParams.get("sig") ?? "", "hex");
    const expected = m && Number.isSafeInteger(expires) ? Buffer.from(this.sign(req.method ?? "", m[1]!, m[2]!, expires), "hex") : undefined;
    if (!m || !expected || sig.length !== expected.length || !timingSafeEqual(sig, expected)) {
      ++this.counters.badSignatureRefused;
      refuse(403, "SignatureDoesNotMatch", "The request signature does not match");
      return;
    }
    if (Date.now() > expires) {
      ++this.counters.expiredRefused;
      refuse(403, "AccessDenied", "Request has expired");
      return;
    }
    if (req.method === "GET") {
      ++this.counters[req.headers.range ? "rangedStorageGets" : "unrangedStorageGets"];
    }
    const authorization = this.opts.storageAuthorization?.(m[1]!);
    const up = await send(this.registry, req.method!, `/v2/${m[1]}/blobs/${m[2]}`, {
      ...pick(req.headers, ["range", "if-range"]), ...(authorization && { authorization }),
    }, false);
    res.writeHead(up.statusCode ?? 502, pick(up.headers, STORAGE_HEADERS));
    up.pipe(res);
  }

  private sign(method: string, repository: string, digest: string, expires: number): string {
    return createHmac("sha256", this.secret).update(`${method}\n${repository}\n${digest}\n${expires}`).digest("hex");
  }

  async stop(): Promise<void> {
    for (const s of [this.front, this.storage]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }
}

function pick(headers: IncomingHttpHeaders, names: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const n of names) {
    const v = headers[n];
    if (v !== undefined) {
      out[n] = v;
    }
  }
  return out;
}

/** One request to the registry; resolves with the response (its body drained when `dump`). */
function send(base: URL, method: string, path: string, headers: Record<string, string | string[]>, dump = true): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, method, path, headers }, (res) => {
      if (dump) {
        res.resume();
      }
      resolve(res);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Plain reverse proxy to the registry. */
function forward(req: IncomingMessage, res: ServerResponse, base: URL, path: string, headers: IncomingHttpHeaders): void {
  const up = request({ host: base.hostname, port: base.port, method: req.method, path, headers: { ...headers, host: base.host } }, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on("error", () => res.destroy());
  req.pipe(up);
}
