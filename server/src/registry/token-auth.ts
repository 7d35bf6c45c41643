import { LRUCache } from "lru-cache";
import type { Dispatcher } from "undici";

import type { Logger } from "@ndnreg/shared";
import { findBearerChallenge, parseWwwAuthenticate } from "@ndnreg/shared/http";

import type { RepositoryAllowList } from "./repository-allow-list.js";

interface RegistryLogin {
  readonly username: string;
  readonly password: string;
}

/** Credentials and the only repositories they may be used for. */
export interface RegistryCredentials {
  readonly login: RegistryLogin;
  readonly allowList: RepositoryAllowList;
}

export interface TokenAuthOptions {
  /** The registry (--upstream): credentials go to a token realm on its host or over HTTPS only. */
  readonly registry: URL;
  readonly http: Dispatcher;
  /** Without credentials every repository is read anonymously. */
  readonly credentials?: RegistryCredentials;
  readonly userAgent?: string;
  readonly log?: Logger;
  readonly now?: () => number;
  /** Tokens kept (one per identity and repository). */
  readonly maxTokens?: number;
}

/** The token realm could not give a token: the request cannot be authorised. */
export class TokenAuthError extends Error {}

export interface TokenAuthCounters {
  tokensFetched: number;
  tokensReused: number;
  tokensRefused: number;
}

/** Docker token spec: a token response without expires_in is valid for 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_SECONDS = 24 * 3600;
const MAX_TOKEN_RESPONSE_BYTES = 1 << 20;
const TOKEN_REQUEST_TIMEOUT_MS = 10_000;

/** How the registry asked to be authenticated, learned from its last 401. */
type Scheme =
  | { readonly kind: "none" }
  | { readonly kind: "basic" }
  | { readonly kind: "bearer"; readonly realm: URL; readonly service?: string };

type Identity = "anonymous" | "credentials";

interface CachedToken {
  readonly value: string;
  readonly refreshAt: number;
}

/**
 * Registry authentication for the server: the Docker token flow (401 challenge, token from the
 * realm, `Authorization: Bearer`) and plain Basic. Tokens are cached per identity and pull scope
 * until shortly before they expire, so a stream of range reads costs the realm one request per
 * repository per token lifetime. Once a challenge is known, tokens are sent up front.
 */
export class TokenAuth {
  readonly counters: TokenAuthCounters = { tokensFetched: 0, tokensReused: 0, tokensRefused: 0 };
  private scheme: Scheme = { kind: "none" };
  /** Reads peek: the least recently fetched token is evicted first (after expired ones). */
  private readonly tokens: LRUCache<string, CachedToken>;
  private readonly pending = new Map<string, Promise<CachedToken>>();
  private readonly now: () => number;

  constructor(private readonly opts: TokenAuthOptions) {
    this.now = opts.now ?? Date.now;
    this.tokens = new LRUCache({ max: opts.maxTokens ?? 10_000 });
  }

  /** The Authorization header for a read of `repository`, or undefined (anonymous, no challenge yet). */
  async authorization(repository: string): Promise<string | undefined> {
    const identity = this.identityFor(repository);
    const scheme = this.scheme;
    switch (scheme.kind) {
      case "none":
        return undefined;
      case "basic":
        return identity === "credentials" ? basic(this.opts.credentials!.login) : undefined;
      case "bearer":
        return `Bearer ${(await this.token(identity, scheme, repository)).value}`;
    }
  }

  /**
   * The registry answered 401 to a read of `repository` that carried `sent`. Learn its challenge
   * and forget a refused token. True when a retry may succeed (the caller retries once).
   */
  challenged(repository: string, wwwAuthenticate: string | readonly string[] | undefined, sent: string | undefined): boolean {
    if (this.scheme.kind === "bearer" && sent?.startsWith("Bearer ")) {
      const key = this.key(this.identityFor(repository), this.scheme, repository);
      if (this.tokens.peek(key)?.value === sent.slice("Bearer ".length)) {
        this.tokens.delete(key);
        ++this.counters.tokensRefused;
        this.opts.log?.info({ repository }, "registry refused a cached token; fetching a new one");
      }
    }
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = findBearerChallenge(challenges);
    if (bearer) {
      const realm = parseRealm(bearer.realm);
      if (!realm) {
        this.opts.log?.warn({ realm: bearer.realm.slice(0, 200) }, "registry challenge names an unusable token realm");
        return false;
      }
      this.scheme = { kind: "bearer", realm, service: bearer.service };
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      this.scheme = { kind: "basic" };
      return sent === undefined && this.identityFor(repository) === "credentials";
    }
    return false;
  }

  private identityFor(repository: string): Identity {
    return this.opts.credentials?.allowList.allows(repository) ? "credentials" : "anonymous";
  }

  private key(identity: Identity, scheme: Scheme & { kind: "bearer" }, repository: string): string {
    return `${identity}\n${scheme.realm.href}\n${scheme.service ?? ""}\n${pullScope(repository)}`;
  }

  private async token(identity: Identity, scheme: Scheme & { kind: "bearer" }, repository: string): Promise<CachedToken> {
    const key = this.key(identity, scheme, repository);
    const hit = this.tokens.peek(key);
    if (hit && hit.refreshAt > this.now()) {
      ++this.counters.tokensReused;
      return hit;
    }
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(identity, scheme, repository).then((token) => {
        this.store(key, token);
        return token;
      }).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async fetchToken(identity: Identity, scheme: Scheme & { kind: "bearer" }, repository: string): Promise<CachedToken> {
    const url = new URL(scheme.realm);
    if (scheme.service !== undefined) {
      url.searchParams.set("service", scheme.service);
    }
    url.searchParams.append("scope", pullScope(repository));
    const headers: Record<string, string> = { accept: "application/json", "user-agent": this.opts.userAgent ?? "ndn-registry-server" };
    if (identity === "credentials") {
      if (url.protocol !== "https:" && url.hostname !== this.opts.registry.hostname) {
        throw new TokenAuthError(`not sending registry credentials to ${url.origin}: a token realm on another host must use https`);
      }
      headers["authorization"] = basic(this.opts.credentials!.login);
    }
    const started = this.now();
    const where = `token realm ${url.origin}${url.pathname}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.opts.http.request({
        origin: url.origin, path: url.pathname + url.search, method: "GET", headers,
        signal: AbortSignal.timeout(TOKEN_REQUEST_TIMEOUT_MS),
      });
    } catch (err: unknown) {
      throw new TokenAuthError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new TokenAuthError(`${where} answered ${res.statusCode} for ${pullScope(repository)} (${identity})`);
    }
    const token = parseTokenResponse(await readLimited(res.body, MAX_TOKEN_RESPONSE_BYTES, where), where);
    ++this.counters.tokensFetched;
    this.opts.log?.debug({ repository, identity, expiresIn: token.expiresIn }, "registry token fetched");
    // Refresh a little early (10%, at most 10 s) so a token never expires between send and check.
    const lifetimeMs = token.expiresIn * 1000;
    return { value: token.value, refreshAt: started + lifetimeMs - Math.min(lifetimeMs / 10, 10_000) };
  }

  private store(key: string, token: CachedToken): void {
    if (!this.tokens.has(key) && this.tokens.size >= this.tokens.max) {
      const now = this.now();
      for (const [k, t] of [...this.tokens.entries()]) {
        if (t.refreshAt <= now) {
          this.tokens.delete(k); // full: expired tokens make room first
        }
      }
    }
    this.tokens.set(key, token);
  }
}

/** The only access the server ever asks for. */
function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function basic(login: RegistryLogin): string {
  return `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`;
}

function parseRealm(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `{ token | access_token, expires_in? }` from a token realm; anything else is a clear error. */
export function parseTokenResponse(text: string, where = "token realm"): { value: string; expiresIn: number } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TokenAuthError(`${where}: response is not JSON`);
  }
  if (typeof body !== "object" || body === null) {
    throw new TokenAuthError(`${where}: response is not a JSON object`);
  }
  const fields = body as Record<string, unknown>;
  const value = typeof fields["token"] === "string" && fields["token"] ? fields["token"] : fields["access_token"];
  // Visible ASCII only: the value goes into an HTTP header.
  if (typeof value !== "string" || !/^[\x21-\x7e]+$/.test(value)) {
    throw new TokenAuthError(`${where}: response has no usable token`);
  }
  const raw = fields["expires_in"];
  const expiresIn = typeof raw === "number" && Number.isFinite(raw) && raw > 0 ? Math.min(raw, MAX_TOKEN_SECONDS) : DEFAULT_TOKEN_SECONDS;
  return { value, expiresIn };
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) {
      throw new TokenAuthError(`${where}: response larger than ${limit} bytes`); // leaving the loop closes the body
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
