import { execFile } from "node:child_process";
import { createPrivateKey, type KeyObject, randomUUID, sign, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** One entry of a token's `access` claim, as distribution reads it. */
export interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** A token request as the issuer saw it. */
export interface TokenRequest {
  readonly userAgent: string;
  /** Undefined for anonymous requests. */
  readonly account?: string;
  readonly scopes: readonly string[];
  readonly status: number;
}

export interface TokenIssuerOptions {
  readonly service: string;
  /** Accounts for Basic authentication at the realm: name -> password. */
  readonly users: Readonly<Record<string, string>>;
  readonly expiresInSec?: number;
}

/** Repositories anonymous callers get no access to (their tokens come back with empty access). */
const PRIVATE_NAMESPACE = "private/";

/**
 * A Docker token server for the tests (https://distribution.github.io/distribution/spec/auth/token/):
 * `GET /token?service=..&scope=repository:<name>:pull` answers `{ token, access_token, expires_in,
 * issued_at }` with an RS256 JWT whose header carries the self-signed certificate in `x5c`, which
 * distribution 2.8 checks against its `rootcertbundle`. Anonymous callers get pull access outside
 * `private/`; accounts get every action they ask for.
 */
export class TokenIssuer {
  readonly requests: TokenRequest[] = [];
  /** Lifetime of the tokens issued from now on. */
  expiresInSec: number;
  private key!: KeyObject;
  private certDer!: string;

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly issuer: string,
    private readonly opts: TokenIssuerOptions,
  ) {
    this.expiresInSec = opts.expiresInSec ?? 300;
  }

  get service(): string {
    return this.opts.service;
  }

  get realm(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/token`;
  }

  /** PEM certificate the registry trusts (rewritten by rotateKey). */
  get certFile(): string {
    return path.join(this.dir, "cert.pem");
  }

  static async start(dir: string, opts: TokenIssuerOptions): Promise<TokenIssuer> {
    mkdirSync(dir, { recursive: true });
    const server = createServer();
    const issuer = new TokenIssuer(server, dir, "ndnreg-test-issuer", opts);
    await issuer.rotateKey();
    server.on("request", (req, res) => issuer.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return issuer;
  }

  /** A new key pair and certificate: tokens signed before no longer verify once the registry reloads. */
  async rotateKey(): Promise<void> {
    const keyFile = path.join(this.dir, "key.pem");
    await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", this.certFile,
      "-days", "2", "-subj", `/CN=${this.issuer}-${Date.now()}`]);
    this.key = createPrivateKey(readFileSync(keyFile));
    this.certDer = new X509Certificate(readFileSync(this.certFile)).raw.toString("base64");
  }

  /** Requests that came from a given User-Agent prefix (e.g. the server's). */
  requestsFrom(userAgentPrefix: string): TokenRequest[] {
    return this.requests.filter((r) => r.userAgent.startsWith(userAgentPrefix));
  }

  /** A token signed now, outside the HTTP API (for test fixtures; not counted). */
  mint(account: string | undefined, access: readonly Access[], ttlSec = this.expiresInSec): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [this.certDer] };
    const claims = {
      iss: this.issuer, sub: account ?? "", aud: this.opts.service,
      exp: now + ttlSec, nbf: now - 1, iat: now, jti: randomUUID(), access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${signingInput}.${b64url(sign("sha256", Buffer.from(signingInput), this.key))}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://issuer");
    const userAgent = req.headers["user-agent"] ?? "";
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const answer = (status: number, body: unknown, account?: string) => {
      this.requests.push({ userAgent, account, scopes, status });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" || url.pathname !== "/token") {
      answer(404, { errors: [{ code: "NOT_FOUND", message: "GET /token only" }] });
      return;
    }
    if (url.searchParams.get("service") !== this.opts.service) {
      answer(400, { errors: [{ code: "INVALID_REQUEST", message: `unknown service ${url.searchParams.get("service")}` }] });
      return;
    }
    const account = this.authenticate(req.headers.authorization);
    if (account === null) {
      answer(401, { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] });
      return;
    }
    const access = scopes.map((s) => this.grant(s, account)).filter((a): a is Access => a !== undefined && a.actions.length > 0);
    const token = this.mint(account, access);
    answer(200, { token, access_token: token, expires_in: this.expiresInSec, issued_at: new Date().toISOString() }, account);
  }

  /** Undefined: anonymous; null: wrong credentials. */
  private authenticate(header: string | undefined): string | undefined | null {
    if (!header) {
      return undefined;
    }
    const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    const [user, ...rest] = m ? Buffer.from(m[1]!, "base64").toString("utf8").split(":") : [];
    return user !== undefined && this.opts.users[user] === rest.join(":") ? user : null;
  }

  /** `repository:<name>:<actions>` (the name may contain ":"), `registry:catalog:*`. */
  private grant(scope: string, account: string | undefined): Access | undefined {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last <= first) {
      return undefined;
    }
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const asked = scope.slice(last + 1).split(",").filter(Boolean);
    if (account !== undefined) {
      return { type, name, actions: asked };
    }
    const allowed = type === "repository" && !name.startsWith(PRIVATE_NAMESPACE) ? asked.filter((a) => a === "pull") : [];
    return { type, name, actions: allowed };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}
