import "@ndnreg/shared/polyfill";

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { findBearerChallenge, headersForHop, isRefusedSignedUrl, parseWwwAuthenticate, redirectTarget } from "@ndnreg/shared/http";
import { makeBlobId } from "@ndnreg/shared/ndn";

import { classify } from "@ndnreg/client/http/routes";
import { loadServerConfig } from "@ndnreg/server/config";
import { RegistryClient } from "@ndnreg/server/registry/registry-client";
import { parseRepositoryAllowList } from "@ndnreg/server/registry/repository-allow-list";
import { parseTokenResponse, TokenAuthError } from "@ndnreg/server/registry/token-auth";

describe("WWW-Authenticate parsing", () => {
  test("registry challenges", () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [{
      scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull" },
    }]);
    // Several challenges, unquoted values, case-insensitive names, escapes, commas inside quotes.
    const many = parseWwwAuthenticate('Basic realm="Registry", BEARER Realm=https://ghcr.io/token , Service="ghcr.io",scope="repository:a/b:pull,push",error="insufficient_scope"');
    assert.deepEqual(many.map((c) => c.scheme), ["basic", "bearer"]);
    assert.deepEqual(findBearerChallenge(many), { realm: "https://ghcr.io/token", service: "ghcr.io", scope: "repository:a/b:pull,push", error: "insufficient_scope" });
    assert.equal(parseWwwAuthenticate('Bearer realm="a\\"b"')[0]?.params["realm"], 'a"b');
    assert.deepEqual(parseWwwAuthenticate(['Basic realm="a"', 'Bearer realm="b"']).map((c) => c.scheme), ["basic", "bearer"]);
  });

  test("garbage never throws and yields no usable Bearer challenge", () => {
    for (const bad of [undefined, "", ",,,", "\"", "=", "Bearer", "Bearer realm", "Bearer realm=", "@@@", "Bearer ,,, =x", "\u0000\u00ff", "Basic realm=\"x\"", "x".repeat(100_000)]) {
      const parsed = parseWwwAuthenticate(bad);
      assert.equal(findBearerChallenge(parsed), undefined, String(bad).slice(0, 40));
    }
  });
});

describe("redirect rules", () => {
  const registry = new URL("https://registry.example/v2/a/blobs/sha256:00");
  test("targets: relative and absolute, http(s) only", () => {
    assert.equal(redirectTarget(registry, 307, "https://storage.example/x?sig=1")?.href, "https://storage.example/x?sig=1");
    assert.equal(redirectTarget(registry, 302, "/elsewhere")?.href, "https://registry.example/elsewhere");
    assert.equal(redirectTarget(registry, 200, "https://storage.example/"), undefined);
    assert.equal(redirectTarget(registry, 307, undefined), undefined);
    assert.equal(redirectTarget(registry, 307, "file:///etc/passwd"), undefined);
    assert.equal(redirectTarget(registry, 307, "http://[bad"), undefined);
  });

  test("only headers known to be safe cross origins (Range, Accept); credentials of any name (X-Api-Key) do not", () => {
    const headers = { authorization: "Bearer x", Cookie: "c", "X-Api-Key": "k", "Proxy-Authorization": "p", range: "bytes=0-9", accept: "*/*" };
    assert.deepEqual(headersForHop(headers, registry, new URL("https://storage.example/x")), { range: "bytes=0-9", accept: "*/*" });
    assert.deepEqual(headersForHop(headers, registry, new URL("https://registry.example/other")), headers);
    assert.deepEqual(headersForHop(headers, registry, new URL("http://registry.example/other")), { range: "bytes=0-9", accept: "*/*" });
  });

  test("which storage answers mean the signed URL is refused", () => {
    assert.deepEqual([200, 206, 400, 401, 403, 404, 410, 416, 500].filter(isRefusedSignedUrl), [400, 401, 403, 410]);
  });
});

describe("client routes", () => {
  const digest = `sha256:${"ab".repeat(32)}`;
  test("blob GETs go over NDN; blob HEADs and odd blob GETs are proxied with redirects followed; the rest plainly", () => {
    assert.equal(classify("GET", `/v2/library/alpine/blobs/${digest}`).kind, "blob");
    assert.deepEqual(classify("HEAD", `/v2/library/alpine/blobs/${digest}`), { kind: "proxy", followRedirects: true });
    assert.deepEqual(classify("GET", "/v2/library/alpine/blobs/sha512:00"), { kind: "proxy", followRedirects: true });
    assert.deepEqual(classify("GET", "/v2/library/alpine/blobs/uploads"), { kind: "proxy", followRedirects: false });
    assert.deepEqual(classify("GET", "/v2/library/alpine/blobs/uploads/1234"), { kind: "proxy", followRedirects: false });
    assert.deepEqual(classify("PUT", `/v2/library/alpine/blobs/${digest}`), { kind: "proxy", followRedirects: false });
    assert.deepEqual(classify("GET", "/v2/library/alpine/manifests/3"), { kind: "proxy", followRedirects: false });
  });
});

describe("server configuration for registry credentials", () => {
  const base = { NDNREG_UPSTREAM: "https://registry.example" };
  const load = (env: Record<string, string>) => loadServerConfig([], { ...base, ...env });
  test("credentials need an explicit allow-list, and the list needs credentials", () => {
    assert.equal(load({}).registryCredentials, undefined);
    const ok = load({ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_PASSWORD: "p", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "org/app, team/*" });
    assert.deepEqual(ok.registryCredentials?.login, { username: "u", password: "p" });
    assert.ok(ok.registryCredentials?.allowList.allows("org/app"));
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_PASSWORD: "p" }, /needs --upstream-allow-repositories/],
      [{ NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "org/app" }, /applies to upstream credentials/],
      [{ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "org/app" }, /without --upstream-password/],
      [{ NDNREG_UPSTREAM_PASSWORD: "p" }, /without --upstream-username/],
      [{ NDNREG_UPSTREAM_USERNAME: "u:x", NDNREG_UPSTREAM_PASSWORD: "p", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "a" }, /must not contain/],
      [{ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_PASSWORD: "p", NDNREG_UPSTREAM_PASSWORD_FILE: "/x", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "a" }, /not both/],
      [{ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_PASSWORD_FILE: "/nonexistent/secret", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "a" },
        /--upstream-password-file \/nonexistent\/secret/],
      [{ NDNREG_UPSTREAM_USERNAME: "u", NDNREG_UPSTREAM_PASSWORD: "p", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "*" },
        /^NDNREG_UPSTREAM_ALLOW_REPOSITORIES=\*: "\*" is neither a repository/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => load(env), { message }, JSON.stringify(env));
    }
  });

  test("allow-list entries: repositories and namespaces, no catch-all", () => {
    const list = parseRepositoryAllowList("org/app team/*,,a");
    assert.deepEqual(["org/app", "team/x", "team/x/y", "a", "team", "org/app2", "org", "b"].map((r) => list.allows(r)),
      [true, true, true, true, false, false, false, false]);
    for (const bad of ["", " , ", "*", "/*", "Org/App", "a/../b", "team/**", "team/*/x"]) {
      assert.throws(() => parseRepositoryAllowList(bad), Error, bad);
    }
  });
});

describe("token responses", () => {
  test("token or access_token; expires_in defaults to 60 s", () => {
    assert.deepEqual(parseTokenResponse('{"token":"abc","expires_in":300}'), { value: "abc", expiresIn: 300 });
    assert.deepEqual(parseTokenResponse('{"access_token":"xyz"}'), { value: "xyz", expiresIn: 60 });
    assert.deepEqual(parseTokenResponse('{"token":"abc","expires_in":-5}'), { value: "abc", expiresIn: 60 });
    assert.deepEqual(parseTokenResponse('{"token":"abc","expires_in":"300"}'), { value: "abc", expiresIn: 60 });
  });

  test("unusable responses are clear errors", () => {
    for (const bad of ["", "not json", "null", "[]", "{}", '{"token":""}', '{"token":42}', '{"token":"a b"}', '{"token":"a\\r\\nX-Injected: 1"}']) {
      assert.throws(() => parseTokenResponse(bad), TokenAuthError, bad);
    }
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** An in-process HTTP server on loopback whose behaviour each test sets. */
class FakeServer {
  handler: Handler = (_q, res) => res.end();
  readonly seen: Array<{ method: string; path: string; authorization?: string; range?: string }> = [];
  private constructor(readonly server: Server) {}
  static async start(): Promise<FakeServer> {
    const f = new FakeServer(createServer());
    f.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://x");
      f.seen.push({ method: req.method ?? "", path: url.pathname + url.search, authorization: req.headers.authorization, range: req.headers.range });
      f.handler(req, res, url);
    });
    await new Promise<void>((r) => f.server.listen(0, "127.0.0.1", r));
    return f;
  }
  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

describe("RegistryClient against fake registries", () => {
  let registry: FakeServer;
  let realm: FakeServer;
  let storage: FakeServer;
  const blob = Buffer.from("0123456789abcdefghij");
  const id = makeBlobId("org/app", `sha256:${"ab".repeat(32)}`)!;
  const otherId = makeBlobId("org/other", `sha256:${"cd".repeat(32)}`)!;

  before(async () => {
    [registry, realm, storage] = await Promise.all([FakeServer.start(), FakeServer.start(), FakeServer.start()]);
  });
  after(async () => {
    await Promise.all([registry, realm, storage].map((s) => s?.stop()));
  });

  /** A registry that wants `Bearer good-<scope>` and serves `blob` (Range honoured). */
  function tokenRegistry(): void {
    registry.seen.length = 0;
    realm.seen.length = 0;
    realm.handler = (_req, res, url) => {
      res.end(JSON.stringify({ token: `good-${url.searchParams.get("scope")}` }));
    };
    registry.handler = (req, res, url) => {
      const repo = /^\/v2\/(.+)\/blobs\//.exec(url.pathname)?.[1];
      if (req.headers.authorization !== `Bearer good-repository:${repo}:pull`) {
        res.writeHead(401, { "www-authenticate": `Bearer realm="${realm.origin}/token",service="fake",scope="repository:${repo}:pull"` });
        res.end();
        return;
      }
      serveBlob(req, res);
    };
  }

  function serveBlob(req: IncomingMessage, res: ServerResponse): void {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (m) {
      const body = blob.subarray(Number(m[1]), Number(m[2]) + 1);
      res.writeHead(206, { "content-length": body.length, "content-range": `bytes ${m[1]}-${m[2]}/${blob.length}` });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    res.writeHead(200, { "content-length": blob.length });
    res.end(req.method === "HEAD" ? undefined : blob);
  }

  test("one anonymous token per repository, shared by concurrent reads, sent up front afterwards", async () => {
    tokenRegistry();
    const client = new RegistryClient(new URL(registry.origin));
    try {
      const results = await Promise.all([client.stat(id), client.stat(id), client.readRange(id, 2, 7), client.readRange(otherId, 0, 3)]);
      assert.deepEqual(results[0], { found: true, size: blob.length });
      assert.deepEqual(Buffer.from(results[2]), blob.subarray(2, 7));
      for (let i = 0; i < 5; ++i) {
        await client.readRange(id, i, i + 1);
      }
      assert.deepEqual(realm.seen.map((r) => new URL(r.path, "http://x").searchParams.get("scope")).sort(),
        ["repository:org/app:pull", "repository:org/other:pull"]);
      assert.ok(realm.seen.every((r) => r.authorization === undefined), "anonymous");
      assert.equal(client.counters.tokensFetched, 2);
      const last = registry.seen.slice(-5);
      assert.ok(last.every((r) => r.authorization === "Bearer good-repository:org/app:pull"), "no 401 round trip once the challenge is known");
    } finally {
      await client.close();
    }
  });

  test("a realm that fails or talks nonsense is a clear error, never a crash", async () => {
    tokenRegistry();
    const answers: Handler[] = [
      (_q, res) => { res.writeHead(500); res.end("boom"); },
      (_q, res) => res.end("<html>not json</html>"),
      (_q, res) => res.end(JSON.stringify({ token: "has space" })),
      (_q, res) => res.destroy(),
      (_q, res) => res.end(`{"token":"${"x".repeat(2 << 20)}"}`),
    ];
    for (const [i, answer] of answers.entries()) {
      realm.handler = answer;
      const client = new RegistryClient(new URL(registry.origin));
      try {
        await assert.rejects(client.stat(id), /token realm/, `answer ${i}`);
      } finally {
        await client.close();
      }
    }
  });

  test("an unusable realm in the challenge is a plain refusal", async () => {
    registry.handler = (_q, res) => {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="ftp://nowhere/token",service="x"' });
      res.end();
    };
    const client = new RegistryClient(new URL(registry.origin));
    try {
      assert.deepEqual(await client.stat(id), { found: false, status: 401 });
    } finally {
      await client.close();
    }
  });

  test("credentials: only for allow-listed repositories, and never to a plain-HTTP realm on another host", async () => {
    tokenRegistry();
    const credentials = { login: { username: "u", password: "p" }, allowList: parseRepositoryAllowList("org/app") };
    const client = new RegistryClient(new URL(registry.origin), { credentials });
    try {
      await client.stat(id);
      await client.stat(otherId);
      const basic = `Basic ${Buffer.from("u:p").toString("base64")}`;
      const byScope = Object.fromEntries(realm.seen.map((r) => [new URL(r.path, "http://x").searchParams.get("scope"), r.authorization])) as Record<string, string | undefined>;
      assert.deepEqual(byScope, { "repository:org/app:pull": basic, "repository:org/other:pull": undefined });
    } finally {
      await client.close();
    }
    // The realm on "localhost" is another host than the registry's "127.0.0.1", over plain HTTP.
    registry.handler = (_q, res) => {
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm.origin.replace("127.0.0.1", "localhost")}/token"` });
      res.end();
    };
    realm.seen.length = 0;
    const careful = new RegistryClient(new URL(registry.origin), { credentials });
    try {
      await assert.rejects(careful.stat(id), /not sending registry credentials/);
      assert.equal(realm.seen.length, 0);
    } finally {
      await careful.close();
    }
  });

  test("Basic-auth registries get credentials for allow-listed repositories only", async () => {
    const basic = `Basic ${Buffer.from("u:p").toString("base64")}`;
    registry.handler = (req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="registry"' });
        res.end();
        return;
      }
      serveBlob(req, res);
    };
    const client = new RegistryClient(new URL(registry.origin), {
      credentials: { login: { username: "u", password: "p" }, allowList: parseRepositoryAllowList("org/app") },
    });
    try {
      assert.deepEqual(await client.stat(id), { found: true, size: blob.length });
      assert.deepEqual(await client.stat(otherId), { found: false, status: 401 });
    } finally {
      await client.close();
    }
  });

  test("redirects: Range kept, Authorization dropped, signed URL reused, refused URL resolved again", async () => {
    tokenRegistry();
    let generation = 0;
    let valid = 0;
    const registryAuth = registry.handler;
    registry.handler = (req, res, url) => {
      if (!req.headers.authorization) {
        registryAuth(req, res, url);
        return;
      }
      res.writeHead(307, { location: `${storage.origin}/blob?gen=${++generation}` });
      res.end();
    };
    storage.handler = (req, res, url) => {
      if (req.headers.authorization || Number(url.searchParams.get("gen")) !== valid) {
        res.writeHead(403);
        res.end();
        return;
      }
      serveBlob(req, res);
    };
    const client = new RegistryClient(new URL(registry.origin));
    try {
      valid = 1;
      assert.deepEqual(await client.stat(id), { found: true, size: blob.length }); // HEAD redirected too (gen 1)
      valid = 2;
      assert.deepEqual(Buffer.from(await client.readRange(id, 0, 4)), blob.subarray(0, 4)); // gen 2, remembered
      assert.deepEqual(Buffer.from(await client.readRange(id, 4, 8)), blob.subarray(4, 8)); // gen 2 again
      assert.equal(generation, 2, "the signed URL was reused");
      valid = 3; // gen 2 "expires"
      assert.deepEqual(Buffer.from(await client.readRange(id, 8, 12)), blob.subarray(8, 12));
      assert.equal(generation, 3);
      assert.equal(client.counters.storageRefusals, 1);
      valid = 99; // every fresh URL refused: a bounded number of them, then a clear error
      await assert.rejects(client.readRange(id, 0, 4), /storage refused 3 signed URLs in a row \(last answer 403\)/);
      assert.equal(generation, 5, "two fresh URLs asked for, no more");
      assert.ok(storage.seen.every((r) => r.authorization === undefined));
      assert.deepEqual(storage.seen.filter((r) => r.method === "GET").map((r) => r.range).slice(0, 3), ["bytes=0-3", "bytes=4-7", "bytes=8-11"]);
    } finally {
      await client.close();
    }
  });

  test("an expired signed URL costs the registry one ask, however many reads it refused; one that keeps expiring is a clear error", async () => {
    tokenRegistry();
    let generation = 0;
    let oldestValid = 1; // storage honours the URLs handed out since
    const registryAuth = registry.handler;
    registry.handler = (req, res, url) => {
      if (!req.headers.authorization) {
        registryAuth(req, res, url);
        return;
      }
      setTimeout(() => { // a registry round trip: the refused reads pile up behind it
        res.writeHead(307, { location: `${storage.origin}/blob?gen=${++generation}` });
        res.end();
      }, 50);
    };
    storage.handler = (req, res, url) => {
      if (Number(url.searchParams.get("gen")) < oldestValid) {
        res.writeHead(403);
        res.end();
        return;
      }
      serveBlob(req, res);
    };
    const client = new RegistryClient(new URL(registry.origin));
    const reads = () => Promise.all(Array.from({ length: 10 }, (_, i) => client.readRange(id, i * 2, i * 2 + 2)));
    try {
      assert.deepEqual(Buffer.concat(await reads()), blob); // each read's first redirect is its own
      const first = generation;
      oldestValid = first + 1; // every URL so far expires under ten concurrent reads
      assert.deepEqual(Buffer.concat(await reads()), blob);
      assert.equal(generation, first + 1, "one fresh URL for the ten refused reads");
      assert.equal(client.counters.locationAsks, 1);
      assert.equal(client.counters.storageRefusals, 10);
      oldestValid = Infinity; // storage refuses every URL: each read gives up after three, sharing the asks
      const failed = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => client.readRange(id, i * 2, i * 2 + 2)));
      for (const r of failed) {
        assert.equal(r.status, "rejected");
        assert.match(String(r.reason), /storage refused 3 signed URLs in a row \(last answer 403\)/);
      }
      assert.equal(generation, first + 3, "two more asks for the ten reads");
    } finally {
      await client.close();
    }
  });

  test("storage that refuses HEAD on a redirected URL: the size comes from a one-byte GET", async () => {
    registry.handler = (req, res) => {
      res.writeHead(307, { location: `${storage.origin}/blob-for-get` });
      res.end();
    };
    storage.handler = (req, res) => {
      if (req.method === "HEAD") {
        res.writeHead(403); // signed for GET only
        res.end();
        return;
      }
      serveBlob(req, res);
    };
    const client = new RegistryClient(new URL(registry.origin));
    try {
      assert.deepEqual(await client.stat(id), { found: true, size: blob.length });
      assert.equal(storage.seen.at(-1)?.range, "bytes=0-0");
      storage.handler = (_q, res) => {
        res.writeHead(403);
        res.end();
      };
      assert.deepEqual(await client.stat(otherId), { found: false, status: 403 });
    } finally {
      await client.close();
    }
  });

  test("redirect loops and non-HTTP targets are errors, not hangs", async () => {
    registry.handler = (_q, res, url) => {
      res.writeHead(302, { location: `${url.pathname}?again` });
      res.end();
    };
    const client = new RegistryClient(new URL(registry.origin));
    try {
      await assert.rejects(client.stat(id), /more than 5 redirects/);
      registry.handler = (_q, res) => {
        res.writeHead(307, { location: "file:///etc/passwd" });
        res.end();
      };
      await assert.rejects(client.stat(id), /registry answered 307/);
    } finally {
      await client.close();
    }
  });
});
