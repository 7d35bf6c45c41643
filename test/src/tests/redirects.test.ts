import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, pullImage, type Redirector, Stack, type TestImage, verifyPulled } from "../bench/index.js";
import { blobSources, pushTestImage, tokenFor } from "./helpers.js";

const EXPIRES_MS = 3000;
const pastExpiry = () => new Promise((r) => setTimeout(r, EXPIRES_MS + 500));

/**
 * The registry (token auth) sits behind a Redirector: every blob GET and HEAD is answered with 307
 * to a storage origin with a signed URL that expires after 3 s, and storage refuses requests that
 * carry Authorization. The router's content store holds 64 packets and the server's range cache
 * 1 MB, so a second pull of a 3 MB layer makes the server read the registry again.
 */
describe("a registry that redirects blobs to expiring signed storage URLs", () => {
  let stack: Stack;
  let redirector: Redirector;
  let ndnOnly: ClientHandle;
  let httpClient: ClientHandle;
  let image: TestImage;

  before(async () => {
    stack = await Stack.start({
      label: "redirect", registryAuth: "token", redirectExpiresMs: EXPIRES_MS, csCapacity: 64,
      serverEnv: { NDNREG_RANGE_CACHE_BYTES: String(1 << 20), NDNREG_UPSTREAM_RANGE_SEGMENTS: "32" },
    });
    redirector = stack.redirector!;
    // Patient: this client has no HTTP to fall back to; what is tested is that it recovers, not how fast.
    ndnOnly = await stack.startClient({ upstream: (await stack.proxy(true)).url, args: ["--first-byte-timeout", "20000", "--idle-timeout", "20000"] });
    httpClient = await stack.startClient({ args: ["--first-byte-timeout", "800", "--idle-timeout", "800"] });
    image = await pushTestImage(stack, "redirected/app:v1", { format: "docker", layers: [3_000_000, 400_000] });
  });
  after(async () => {
    await stack?.stop();
  });

  test("blobs over NDN: the server follows the 307 with Range and without Authorization", async () => {
    const out = await pullImage(ndnOnly.host, "redirected/app:v1", path.join(stack.runDir, "out-1"));
    await verifyPulled(image, out);
    const sources = await blobSources(ndnOnly, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    const c = redirector.counters;
    assert.ok(c.redirects > 0 && c.rangedStorageGets > 0, JSON.stringify(c));
    assert.equal(c.unrangedStorageGets, 0, "every server read kept its Range through the redirect");
    assert.equal(c.authorizationRefused, 0);
    assert.equal(c.badSignatureRefused, 0);
  });

  test("after the signed URLs expire, the server asks the registry again and the pull succeeds", async (t) => {
    await pastExpiry();
    const refusedBefore = redirector.counters.expiredRefused;
    const redirectsBefore = redirector.counters.redirects;
    const logsBefore = ndnOnly.blobLogs().length;
    const started = performance.now();
    const out = await pullImage(ndnOnly.host, "redirected/app:v1", path.join(stack.runDir, "out-2"));
    const seconds = (performance.now() - started) / 1000;
    await verifyPulled(image, out);
    const sources = await blobSources(ndnOnly, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    const retransmissions = ndnOnly.blobLogs().slice(logsBefore).reduce((n, l) => n + (l.retransmissions ?? 0), 0);
    const c = redirector.counters;
    t.diagnostic(`second pull: ${seconds.toFixed(2)} s, ${retransmissions} retransmissions, ${c.redirects - redirectsBefore} redirects, ${c.expiredRefused - refusedBefore} expired URLs refused`);
    assert.ok(redirector.counters.expiredRefused > refusedBefore, "the server tried its remembered URL, which had expired");
    assert.ok(redirector.counters.redirects > redirectsBefore, "and got a fresh one from the registry");
    // Several reads of the 3 MB layer are refused at once: they share one fresh URL, not one each.
    assert.ok(c.redirects - redirectsBefore < c.expiredRefused - refusedBefore, "fewer fresh URLs than refused reads");
    assert.ok(stack.server!.grep(/storage refused a signed URL; asking the registry again/).length >= 1);
  });

  test("the server reused signed URLs within their lifetime: far fewer redirects than range reads", () => {
    const c = redirector.counters;
    assert.ok(c.rangedStorageGets >= 3_000_000 / (32 * 8000), JSON.stringify(c)); // one pass over the 3 MB layer in 256 KB reads
    assert.ok(c.redirects < c.rangedStorageGets, JSON.stringify(c));
  });

  test("GET and HEAD of a blob through the client match a direct request that follows the redirect", async () => {
    const layer = image.layers[1]!;
    const p = `/v2/redirected/app/blobs/${layer.digest}`;
    const auth = await tokenFor(`${httpClient.url}/v2/redirected/app/manifests/v1`);
    for (const method of ["GET", "HEAD"]) {
      const direct = await fetch(`${redirector.url}${p}`, { method, headers: auth }); // fetch follows, dropping Authorization
      const directBody = Buffer.from(await direct.arrayBuffer());
      assert.equal(direct.status, 200, `${method} direct`);
      for (const via of [ndnOnly, httpClient]) {
        const res = await fetch(`${via.url}${p}`, { method, headers: auth, redirect: "manual" });
        assert.equal(res.status, 200, `${method} via ${via.host}: the caller never sees the 307`);
        for (const h of ["content-length", "content-type", "docker-content-digest"]) {
          assert.equal(res.headers.get(h), direct.headers.get(h), `${method} ${h} via ${via.host}`);
        }
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), directBody);
      }
    }
    assert.equal(redirector.counters.authorizationRefused, 0);
  });

  test("to another origin the client sends only headers known to be safe: X-Api-Key, Cookie and Authorization stay home", async () => {
    const layer = image.layers[1]!;
    const auth = await tokenFor(`${httpClient.url}/v2/redirected/app/manifests/v1`);
    const secrets = { "x-api-key": "secret-key", cookie: "session=secret", "x-custom-auth": "secret" };
    for (const method of ["HEAD", "GET"]) {
      const before = redirector.counters.storageRequests; // storageHeaders keeps only the latest 100
      const res = await fetch(`${httpClient.url}/v2/redirected/app/blobs/${layer.digest}`, {
        method, headers: { ...auth, ...secrets, accept: "application/octet-stream", range: "bytes=0-99,200-299" }, redirect: "manual",
      });
      await res.arrayBuffer();
      assert.ok([200, 206].includes(res.status), `${method}: ${res.status}`);
      const asked = redirector.counters.storageRequests - before;
      const sent = asked > 0 ? redirector.storageHeaders.slice(-asked) : [];
      assert.ok(sent.length > 0, `${method}: storage was not asked`);
      for (const h of sent) {
        for (const secret of [...Object.keys(secrets), "authorization"]) {
          assert.equal(h[secret], undefined, `${method}: ${secret} reached storage`);
        }
        assert.equal(h.accept, "application/octet-stream", `${method}: accept`);
      }
    }
  });

  test("server stopped: blobs over HTTP through the redirect; a URL that expired on its way is resolved again", async () => {
    const second = await pushTestImage(stack, "redirected/app:v2", { format: "oci", layers: [800_000, 50_000] });
    await stack.stopServer();
    await pastExpiry();
    const refusedBefore = redirector.counters.expiredRefused;
    redirector.staleNext.GET = 1; // the next GET's 307 carries a URL that has already expired
    const out = await pullImage(httpClient.host, "redirected/app:v2", path.join(stack.runDir, "out-3"));
    await verifyPulled(second, out);
    const sources = await blobSources(httpClient, second.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["http"]);
    assert.equal(redirector.counters.expiredRefused, refusedBefore + 1);
    // skopeo sent its Bearer token to the client; the client never passed it on to storage.
    assert.equal(redirector.counters.authorizationRefused, 0);
    assert.equal(redirector.counters.badSignatureRefused, 0);
  });

  test("the client resolves a signed URL that expired on its way again, for HEAD and GET", async () => {
    const layer = image.layers[0]!;
    const url = `${httpClient.url}/v2/redirected/app/blobs/${layer.digest}`;
    const auth = await tokenFor(`${httpClient.url}/v2/redirected/app/manifests/v1`);
    for (const method of ["HEAD", "GET"] as const) {
      const refusedBefore = redirector.counters.expiredRefused;
      redirector.staleNext[method] = 1;
      const res = await fetch(url, { method, headers: auth, redirect: "manual" });
      assert.equal(res.status, 200, method);
      assert.equal(res.headers.get("content-length"), String(layer.size));
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, method === "GET" ? layer.size : 0);
      assert.equal(redirector.counters.expiredRefused, refusedBefore + 1, method);
    }
  });

  test("the server fetched one token per repository for all of this", () => {
    const scopes = stack.registry.tokenIssuer!.requestsFrom("ndn-registry-server").flatMap((r) => r.scopes);
    assert.deepEqual(scopes, ["repository:redirected/app:pull"]);
  });
});
