import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, type CountingProxy, pullImage, Stack, type TestImage, type TokenIssuer, verifyPulled } from "../bench/index.js";
import { blobSources, fetchWithToken, pushHeaders, pushRawBlob, pushTestImage, tokenFor } from "./helpers.js";

const SERVER_UA = "ndn-registry-server";
const ACCEPT_MANIFESTS = [
  "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");
/** The headers a caller must see exactly as the registry sends them. */
const EXACT_HEADERS = ["docker-content-digest", "content-type", "content-length"];

/** Token requests the server made, by scope. */
function serverTokenRequests(issuer: TokenIssuer): Map<string, number> {
  const byScope = new Map<string, number>();
  for (const r of issuer.requestsFrom(SERVER_UA)) {
    for (const s of r.scopes) {
      byScope.set(s, (byScope.get(s) ?? 0) + 1);
    }
  }
  return byScope;
}

describe("a registry with token auth (as Docker Hub and GHCR run it)", () => {
  let stack: Stack;
  let issuer: TokenIssuer;
  let client: ClientHandle;
  let ndnOnly: ClientHandle;
  let refusing: CountingProxy;

  before(async () => {
    stack = await Stack.start({ label: "token", registryAuth: "token" });
    issuer = stack.registry.tokenIssuer!;
    client = await stack.startClient();
    refusing = await stack.proxy(true);
    ndnOnly = await stack.startClient({ upstream: refusing.url });
  });
  after(async () => {
    await stack?.stop();
  });

  test("skopeo through the client gets the 401, takes a token from the realm itself, retries through the client; blobs over NDN", async () => {
    const direct = await fetch(`${stack.registry.url}/v2/team/app/manifests/v1`);
    const proxied = await fetch(`${ndnOnly.url}/v2/team/app/manifests/v1`);
    assert.equal(proxied.status, 401);
    assert.equal(proxied.headers.get("www-authenticate"), direct.headers.get("www-authenticate"));
    await Promise.all([direct.arrayBuffer(), proxied.arrayBuffer()]);

    const image = await pushTestImage(stack, "team/app:v1", { format: "oci", layers: [300_000, 1_200_000] });
    const skopeoTokensBefore = issuer.requestsFrom("skopeo").length;
    const out = await pullImage(ndnOnly.host, "team/app:v1", path.join(stack.runDir, "out-team-app"));
    await verifyPulled(image, out);
    const sources = await blobSources(ndnOnly, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], JSON.stringify([...sources]));
    const skopeoTokens = issuer.requestsFrom("skopeo").slice(skopeoTokensBefore);
    assert.ok(skopeoTokens.some((r) => r.account === undefined && r.scopes.includes("repository:team/app:pull") && r.status === 200),
      `skopeo asked the realm directly: ${JSON.stringify(skopeoTokens)}`);
    // The server read anonymously: only blobs anyone may pull are published.
    assert.ok(issuer.requestsFrom(SERVER_UA).length > 0);
    assert.ok(issuer.requestsFrom(SERVER_UA).every((r) => r.account === undefined));
  });

  test("the server fetches one token per repository and reuses it for every HEAD and range read", async () => {
    const images: TestImage[] = [];
    images.push(await pushTestImage(stack, "team/app:v2", { format: "docker", layers: [2_500_000, 40_000] }));
    images.push(await pushTestImage(stack, "other/repo:v1", { format: "oci", layers: [700_000] }));
    for (const [i, ref] of ["team/app:v2", "other/repo:v1"].entries()) {
      const out = await pullImage(ndnOnly.host, ref, path.join(stack.runDir, `out-reuse-${i}`));
      await verifyPulled(images[i]!, out);
      const sources = await blobSources(ndnOnly, images[i]!.blobs.map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    }
    // Tokens live 300 s here: one each, however many blobs and 1 MB ranges were read.
    assert.deepEqual(Object.fromEntries(serverTokenRequests(issuer)), {
      "repository:team/app:pull": 1,
      "repository:other/repo:pull": 1,
    });
  });

  test("a token the registry no longer accepts (issuer key rotated) is replaced after one 401", async () => {
    await issuer.rotateKey();
    await stack.registry.restartProcess();
    const image = await pushTestImage(stack, "team/app:v3", { format: "oci", layers: [90_000] });
    const out = await pullImage(ndnOnly.host, "team/app:v3", path.join(stack.runDir, "out-rotated"));
    await verifyPulled(image, out);
    const sources = await blobSources(ndnOnly, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
    assert.equal(serverTokenRequests(issuer).get("repository:team/app:pull"), 2);
    assert.ok(stack.server!.grep(/registry refused a cached token/).length >= 1);
  });

  test("a token is fetched again once it expires (expires_in honoured)", async () => {
    issuer.expiresInSec = 2;
    try {
      const first = await pushTestImage(stack, "short/lived:v1", { format: "oci", layers: [50_000] });
      await verifyPulled(first, await pullImage(ndnOnly.host, "short/lived:v1", path.join(stack.runDir, "out-short-1")));
      assert.equal(serverTokenRequests(issuer).get("repository:short/lived:pull"), 1);
      await new Promise((r) => setTimeout(r, 2500));
      const second = await pushTestImage(stack, "short/lived:v2", { format: "oci", layers: [60_000] });
      await verifyPulled(second, await pullImage(ndnOnly.host, "short/lived:v2", path.join(stack.runDir, "out-short-2")));
      const sources = await blobSources(ndnOnly, [...first.blobs, ...second.blobs].map((b) => b.digest));
      assert.deepEqual([...new Set(sources.values())], ["ndn"]);
      assert.equal(serverTokenRequests(issuer).get("repository:short/lived:pull"), 2);
    } finally {
      issuer.expiresInSec = 300;
    }
  });

  test("Docker-Content-Digest, Content-Type, Content-Length: byte for byte as the registry sends them (manifests and blobs, GET and HEAD)", async () => {
    const images = {
      docker: await pushTestImage(stack, "headers/docker:v1", { format: "docker", layers: [12_345] }),
      oci: await pushTestImage(stack, "headers/oci:v1", { format: "oci", layers: [23_456] }),
      ociIndex: await pushTestImage(stack, "headers/oci-index:v1", { format: "oci", layers: [3456], platforms: ["linux/amd64", "linux/arm64"] }),
      dockerList: await pushTestImage(stack, "headers/docker-list:v1", { format: "docker", layers: [4567], platforms: ["linux/amd64", "linux/arm64"] }),
    };
    const paths: Array<[string, string]> = [];
    for (const [name, image] of Object.entries(images)) {
      const repo = `headers/${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      paths.push([repo, `/v2/${repo}/manifests/v1`], [repo, `/v2/${repo}/manifests/${image.manifestDigest}`]);
      paths.push(...image.blobs.slice(0, 2).map((b): [string, string] => [repo, `/v2/${repo}/blobs/${b.digest}`]));
    }
    let compared = 0;
    for (const [repo, p] of paths) {
      // One token per repository, challenged through the client as Docker would do it.
      const auth = await tokenFor(`${client.url}/v2/${repo}/manifests/v1`);
      assert.ok(auth["authorization"]);
      for (const method of ["GET", "HEAD"]) {
        const init = { method, headers: { accept: ACCEPT_MANIFESTS, ...auth } };
        const direct = await fetch(`${stack.registry.url}${p}`, init);
        const directBody = Buffer.from(await direct.arrayBuffer());
        assert.equal(direct.status, 200, `${method} ${p} direct`);
        for (const via of [client, ndnOnly]) {
          const res = await fetch(`${via.url}${p}`, init);
          assert.equal(res.status, 200, `${method} ${p} via ${via.host}`);
          for (const h of EXACT_HEADERS) {
            assert.equal(res.headers.get(h), direct.headers.get(h), `${method} ${p} ${h} via ${via.host}`);
            assert.notEqual(direct.headers.get(h), null, `${method} ${p}: the registry sends ${h}`);
          }
          assert.deepEqual(Buffer.from(await res.arrayBuffer()), directBody, `${method} ${p} body via ${via.host}`);
          ++compared;
        }
      }
    }
    assert.equal(compared, paths.length * 4);
  });

  test("?ns= (containerd mirrors) reaches the upstream unchanged and blobs still go over NDN", async () => {
    const bytes = randomBytes(200_000);
    const digest = await pushRawBlob(stack.registry.url, "mirror/app", bytes, pushHeaders(stack.registry, "mirror/app"));
    const blobPath = `/v2/mirror/app/blobs/${digest}?ns=registry.example.org`;
    const res = await fetch(`${ndnOnly.url}${blobPath}`, { headers: await tokenFor(`${ndnOnly.url}/v2/mirror/app/manifests/v1?ns=registry.example.org`) });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    assert.equal((await blobSources(ndnOnly, [digest])).get(digest), "ndn");
    assert.ok(refusing.requestLog.includes(`HEAD ${blobPath}`), "the authorising HEAD carried ?ns=");
    const manifest = await fetchWithToken(`${ndnOnly.url}/v2/team/app/manifests/v1?ns=registry.example.org`, { headers: { accept: ACCEPT_MANIFESTS } });
    assert.equal(manifest.status, 200);
    await manifest.arrayBuffer();
    assert.ok(refusing.requestLog.includes("GET /v2/team/app/manifests/v1?ns=registry.example.org"));
  });

  test("credentials are used only for allow-listed repositories; other private blobs are never published", async () => {
    const headers = (repo: string) => pushHeaders(stack.registry, repo);
    const allowed = await pushRawBlob(stack.registry.url, "private/allowed", randomBytes(150_000), headers("private/allowed"));
    const other = await pushRawBlob(stack.registry.url, "private/other", randomBytes(150_000), headers("private/other"));
    await stack.stopServer();
    await stack.startServer({
      NDNREG_UPSTREAM_USERNAME: "tester", NDNREG_UPSTREAM_PASSWORD: "secret", NDNREG_UPSTREAM_ALLOW_REPOSITORIES: "private/allowed,team/*",
    });
    const creds = "tester:secret";
    // An anonymous caller is refused by the upstream (the client's HEAD); nothing is served.
    const anonymous = await fetchWithToken(`${client.url}/v2/private/allowed/blobs/${allowed}`);
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();

    const tokensBefore = issuer.requestsFrom(SERVER_UA).length;
    for (const [repo, digest] of [["private/allowed", allowed], ["private/other", other]] as const) {
      const res = await fetchWithToken(`${client.url}/v2/${repo}/blobs/${digest}`, {}, creds);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const sources = await blobSources(client, [allowed, other]);
    assert.equal(sources.get(allowed), "ndn", "allow-listed: read with credentials, published");
    assert.equal(sources.get(other), "http", "not allow-listed: the server reads anonymously and cannot");
    const serverTokens = issuer.requestsFrom(SERVER_UA).slice(tokensBefore);
    assert.ok(serverTokens.some((r) => r.account === "tester" && r.scopes.includes("repository:private/allowed:pull")));
    for (const r of serverTokens) {
      assert.ok(r.account === undefined || r.scopes.every((s) => s === "repository:private/allowed:pull" || s.startsWith("repository:team/")),
        `credentials only for allow-listed repositories: ${JSON.stringify(r)}`);
    }
  });
});
