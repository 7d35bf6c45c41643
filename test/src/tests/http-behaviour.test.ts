import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import { type ClientHandle, type CountingProxy, createImage, pullImage, pushImage, Stack, verifyPulled } from "../bench/index.js";
import { blobSources, pushRawBlob, pushTestImage, sha256Text } from "./helpers.js";

const run = promisify(execFile);
const MISSING = `sha256:${"ab".repeat(32)}`;

describe("client HTTP behaviour against an open registry", () => {
  let stack: Stack;
  let client: ClientHandle;
  let ndnOnly: ClientHandle;
  let refusing: CountingProxy;
  const blob = randomBytes(100_000);
  let digest: string;

  before(async () => {
    stack = await Stack.start({ label: "http" });
    client = await stack.startClient();
    refusing = await stack.proxy(true);
    ndnOnly = await stack.startClient({ upstream: refusing.url });
    digest = await pushRawBlob(stack.registry.url, "ranges/blob", blob);
  });
  after(async () => {
    await stack?.stop();
  });

  const ranges: Array<[string, number, number]> = [
    ["bytes=1000-", 1000, 99_999],
    ["bytes=0-", 0, 99_999],
    ["bytes=8000-15999", 8000, 15_999],
    ["bytes=7999-8000", 7999, 8000],
    ["bytes=99999-99999", 99_999, 99_999],
    ["bytes=50000-200000", 50_000, 99_999],
  ];
  for (const [header, start, end] of ranges) {
    test(`Range ${header} is served over NDN as 206`, async () => {
      const res = await fetch(`${ndnOnly.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: header } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/100000`);
      assert.equal(res.headers.get("content-length"), String(end - start + 1));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob.subarray(start, end + 1));
    });
  }

  const suffix: Array<[string, number, number]> = [["bytes=-500", 99_500, 99_999], ["bytes=-200000", 0, 99_999]];
  for (const [header, start, end] of suffix) {
    test(`suffix Range ${header} is served as 206`, async () => {
      const res = await fetch(`${ndnOnly.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: header } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/100000`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob.subarray(start, end + 1));
    });
  }

  for (const header of ["bytes=abc", "bytes=5-2", "items=0-5", "bytes=--1"]) {
    test(`invalid Range ${header} is ignored (RFC 9110): 200 with the whole blob`, async () => {
      const res = await fetch(`${ndnOnly.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: header } });
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob);
    });
  }

  for (const header of ["bytes=100000-", "bytes=200000-300000", "bytes=-0"]) {
    test(`unsatisfiable Range ${header} is 416 with Content-Range`, async () => {
      const res = await fetch(`${ndnOnly.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: header } });
      assert.equal(res.status, 416);
      assert.equal(res.headers.get("content-range"), "bytes */100000");
      await res.arrayBuffer();
    });
  }

  test("a multi-part Range is answered by the registry", async () => {
    const direct = await fetch(`${stack.registry.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: "bytes=0-1,5-9" } });
    const res = await fetch(`${client.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: "bytes=0-1,5-9" } });
    assert.equal(res.status, direct.status);
    assert.match(res.headers.get("content-type") ?? "", /^multipart\/byteranges/);
    await Promise.all([res.arrayBuffer(), direct.arrayBuffer()]);
  });

  test("HEAD on a blob carries the registry's headers and no body", async () => {
    const direct = await fetch(`${stack.registry.url}/v2/ranges/blob/blobs/${digest}`, { method: "HEAD" });
    const res = await fetch(`${client.url}/v2/ranges/blob/blobs/${digest}`, { method: "HEAD" });
    assert.equal(res.status, 200);
    for (const h of ["content-length", "docker-content-digest", "content-type"]) {
      assert.equal(res.headers.get(h), direct.headers.get(h), h);
    }
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test("a missing blob is a quick 404 with the registry's error body", async () => {
    const t0 = Date.now();
    const res = await fetch(`${client.url}/v2/ranges/blob/blobs/${MISSING}`);
    assert.equal(res.status, 404);
    const body = await res.json() as { errors: Array<{ code: string }> };
    assert.equal(body.errors[0]?.code, "BLOB_UNKNOWN");
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  test("unknown repository: manifest 404 passes through unchanged", async () => {
    const direct = await fetch(`${stack.registry.url}/v2/no/such/repo/manifests/latest`);
    const res = await fetch(`${client.url}/v2/no/such/repo/manifests/latest`);
    assert.equal(res.status, direct.status);
    assert.deepEqual(await res.json(), await direct.json());
  });

  test("ping, manifests by tag and digest, HEAD, tags list and catalog pass through", async () => {
    const image = await pushTestImage(stack, "proxied/app:v1", { format: "oci", layers: [1000] });
    const accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    const paths = ["/v2/", "/v2/proxied/app/manifests/v1", `/v2/proxied/app/manifests/${image.manifestDigest}`, "/v2/proxied/app/tags/list", "/v2/_catalog"];
    for (const p of paths) {
      for (const method of ["GET", "HEAD"]) {
        const direct = await fetch(`${stack.registry.url}${p}`, { method, headers: { accept } });
        const res = await fetch(`${client.url}${p}`, { method, headers: { accept } });
        assert.equal(res.status, direct.status, `${method} ${p}`);
        for (const h of ["content-type", "content-length", "docker-content-digest", "docker-distribution-api-version"]) {
          assert.equal(res.headers.get(h), direct.headers.get(h), `${method} ${p} ${h}`);
        }
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(await direct.arrayBuffer()), `${method} ${p} body`);
      }
    }
  });

  test("pushes go through the client to the upstream", async () => {
    const image = createImage(path.join(stack.runDir, "pushed"), { format: "docker", layers: [5000, 70_000] });
    await pushImage(image, client.host, "pushed/through:v1");
    const out = await pullImage(stack.registry.host, "pushed/through:v1", path.join(stack.runDir, "out-pushed"));
    await verifyPulled(image, out);
  });

  test("an upload with Expect: 100-continue (curl's, for bodies over 1 MB) gets 100, then 201 as from the registry itself", async () => {
    const bytes = randomBytes(2_000_000);
    const file = path.join(stack.runDir, "upload.bin");
    writeFileSync(file, bytes);
    const digest = sha256Text(bytes);
    const start = await fetch(`${client.url}/v2/uploads/expect/blobs/uploads/`, { method: "POST" });
    assert.equal(start.status, 202);
    const put = new URL(start.headers.get("location")!, client.url);
    put.searchParams.set("digest", digest);
    const { stdout, stderr } = await run("curl", [
      "-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", "Expect: 100-continue", "-H", "Content-Type: application/octet-stream",
      "--data-binary", `@${file}`, put.href,
    ]);
    assert.match(stderr, /< HTTP\/1\.1 100 Continue/);
    assert.equal(stdout, "201");
    assert.deepEqual(Buffer.from(await (await fetch(`${stack.registry.url}/v2/uploads/expect/blobs/${digest}`)).arrayBuffer()), bytes);
  });

  test("If-Range: a Range for another version of the blob gets 200 with the whole blob over NDN, for this version 206", async () => {
    const etag = (await fetch(`${stack.registry.url}/v2/ranges/blob/blobs/${digest}`, { method: "HEAD" })).headers.get("etag");
    assert.ok(etag, "the registry sends an ETag for blobs");
    const cases: Array<[string, number]> = [
      [`"sha256:${"00".repeat(32)}"`, 200], [`W/${etag}`, 200], ["Tue, 01 Jan 2019 00:00:00 GMT", 200], [etag, 206],
    ];
    for (const [ifRange, status] of cases) {
      const res = await fetch(`${ndnOnly.url}/v2/ranges/blob/blobs/${digest}`, { headers: { range: "bytes=1000-", "if-range": ifRange } });
      assert.equal(res.status, status, `If-Range ${ifRange}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), status === 200 ? blob : blob.subarray(1000), `If-Range ${ifRange}`);
    }
  });

  test("CONNECT is answered with 405, not a dropped connection", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(client.host.split(":")[1]), "127.0.0.1", () => socket.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
      let text = "";
      socket.on("data", (c: Buffer) => { text += c.toString("latin1"); });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    assert.match(reply, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(reply, /\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE\r\n/);
  });

  test("blobs requested concurrently are all served over NDN", async () => {
    const blobs = await Promise.all([1, 2, 3, 4, 5].map((i) => pushRawBlob(stack.registry.url, "parallel/blobs", randomBytes(400_000 + i))));
    const bodies = await Promise.all(blobs.map(async (d) => Buffer.from(await (await fetch(`${ndnOnly.url}/v2/parallel/blobs/blobs/${d}`)).arrayBuffer())));
    bodies.forEach((b, i) => assert.equal(b.length, 400_001 + i));
    const sources = await blobSources(ndnOnly, blobs);
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);
  });

  test("identical concurrent blob requests share one NDN fetch; ranges among them get their own window", async () => {
    const bytes = randomBytes(6_000_000);
    const d = await pushRawBlob(stack.registry.url, "shared/blob", bytes);
    const metric = async (name: string) => {
      const text = await (await fetch(`${ndnOnly.url}/metrics`)).text();
      return Number(new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? "0");
    };
    const [shared0, segments0] = [await metric("ndnreg_client_shared_fetches_total"), await metric('ndnreg_client_segments_total{names="canonical"}')];
    const url = `${ndnOnly.url}/v2/shared/blob/blobs/${d}`;
    const requests = Array.from({ length: 10 }, (_, i) => fetch(url, i === 9 ? { headers: { range: "bytes=100-199" } } : {}));
    const bodies = await Promise.all(requests.map(async (r) => Buffer.from(await (await r).arrayBuffer())));
    for (const b of bodies.slice(0, 9)) {
      assert.ok(b.equals(bytes));
    }
    assert.ok(bodies[9]!.equals(bytes.subarray(100, 200)));
    assert.equal(await metric("ndnreg_client_shared_fetches_total") - shared0, 9);
    assert.equal(await metric('ndnreg_client_segments_total{names="canonical"}') - segments0, Math.ceil(bytes.length / 8000));
  });
});

describe("client against a registry that demands authentication", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "auth", registryAuth: "silly" });
    client = await stack.startClient();
  });
  after(async () => {
    await stack?.stop();
  });

  test("401 and WWW-Authenticate pass through unchanged", async () => {
    const direct = await fetch(`${stack.registry.url}/v2/`);
    const res = await fetch(`${client.url}/v2/`);
    assert.equal(direct.status, 401);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), direct.headers.get("www-authenticate"));
    const blobRes = await fetch(`${client.url}/v2/private/app/blobs/${MISSING}`);
    assert.equal(blobRes.status, 401);
    assert.ok(blobRes.headers.get("www-authenticate"));
  });

  test("a private blob is served to an authorised caller over HTTP, never published over NDN", async () => {
    const auth = { authorization: "Bearer test-token" };
    const bytes = randomBytes(50_000);
    const digest = `sha256:${(await import("node:crypto")).createHash("sha256").update(bytes).digest("hex")}`;
    const start = await fetch(`${stack.registry.url}/v2/private/app/blobs/uploads/`, { method: "POST", headers: auth });
    const loc = new URL(start.headers.get("location")!, stack.registry.url);
    loc.searchParams.set("digest", digest);
    assert.equal((await fetch(loc, { method: "PUT", body: bytes, headers: { ...auth, "content-type": "application/octet-stream" } })).status, 201);

    const res = await fetch(`${client.url}/v2/private/app/blobs/${digest}`, { headers: auth });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    assert.equal((await blobSources(client, [digest])).get(digest), "http");
  });
});
