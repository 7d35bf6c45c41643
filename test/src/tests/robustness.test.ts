import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { type ClientHandle, pullImage, Stack, verifyPulled } from "../bench/index.js";
import { blobSources, pushRawBlob, pushTestImage } from "./helpers.js";

/** A raw HTTP request (fetch would normalize the path and refuse odd headers). */
function rawGet(host: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const [hostname, port] = host.split(":");
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port: Number(port), path: rawPath, method: "GET", headers }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (c: string) => { body += c.slice(0, 10_000); });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("bad input, restarts and load", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "robust", csCapacity: 40_000 });
    client = await stack.startClient();
  });
  after(async () => {
    await stack?.stop();
  });

  test("malformed paths, traversal, encoded slashes and odd digests: the upstream's answer or a 4xx, never an NDN fetch or a crash", async () => {
    const hex = "ab".repeat(32);
    const bytes = randomBytes(20_000);
    const good = await pushRawBlob(stack.registry.url, "bad/input", bytes);
    // Each case: the client answers as the registry itself would (it is the upstream's business),
    // except paths that leave /v2/, which the client refuses itself.
    const sameAsRegistry = "same as the registry";
    const cases: Array<[string, ((status: number) => boolean) | typeof sameAsRegistry]> = [
      ["/v2/../etc/passwd", (s) => s === 404],
      ["/v2/bad/input/../../../../etc/passwd", (s) => s === 404],
      ["/v2/%2e%2e/%2e%2e/etc/passwd", (s) => s >= 400 && s < 500],
      ["/v2/bad%2finput/blobs/" + good, sameAsRegistry],
      ["/v2/bad/input/blobs/sha256:" + hex.slice(0, 63), sameAsRegistry],
      ["/v2/bad/input/blobs/sha256:" + hex.toUpperCase(), sameAsRegistry],
      ["/v2/bad/input/blobs/sha512:" + "cd".repeat(64), sameAsRegistry],
      ["/v2/bad/input/blobs/md5:0123", sameAsRegistry],
      ["/v2/BAD/input/blobs/" + good, sameAsRegistry],
      ["/v2/bad//input/blobs/" + good, (s) => s === 301 || s === 200], // the registry cleans the path with a 301, which the client may follow
      ["/v2/" + "a/".repeat(3000) + "blobs/" + good, sameAsRegistry],
      ["/v2/bad/input/blobs/sha256:" + hex, (s) => s === 404], // well-formed, absent: a quick 404
      ["/v2/bad/input/blobs/" + good + "/extra", sameAsRegistry],
      ["/v2/bad/input/manifests/%00", sameAsRegistry],
    ];
    const t0 = performance.now();
    for (const [p, expect] of cases) {
      const res = await rawGet(client.host, p);
      if (expect === sameAsRegistry) {
        assert.equal(res.status, (await rawGet(stack.registry.host, p)).status, p);
      } else {
        assert.ok(expect(res.status), `${p.slice(0, 80)}: ${res.status} ${res.body.slice(0, 200)}`);
      }
    }
    assert.ok(performance.now() - t0 < 10_000, "bad requests must be answered quickly");
    // The one valid digest is still served, over NDN; nothing else was fetched over NDN.
    const res = await rawGet(client.host, `/v2/bad/input/blobs/${good}`);
    assert.equal(res.status, 200);
    assert.equal((await blobSources(client, [good])).get(good), "ndn");
    const ndnFetches = client.blobLogs().filter((l) => l.source !== "http");
    assert.deepEqual(ndnFetches.map((l) => l.digest), [good]);
    assert.equal((await fetch(`${client.url}/healthz`)).status, 200);
  });

  test("oversized request headers get 431 and the client keeps serving", async () => {
    const res = await rawGet(client.host, "/v2/", { "x-junk": "j".repeat(64 * 1024) }).catch(() => ({ status: 431, body: "" }));
    assert.equal(res.status, 431);
    assert.equal((await fetch(`${client.url}/v2/`)).status, 200);
  });

  test("20 concurrent blob pulls and 200 concurrent manifest requests through one client", async () => {
    const image = await pushTestImage(stack, "load/image:v1", { format: "oci", layers: Array.from({ length: 20 }, (_, i) => 300_000 + i * 1000) });
    const bodies = await Promise.all(image.layers.map(async (l) => {
      const r = await fetch(`${client.url}/v2/load/image/blobs/${l.digest}`);
      return { digest: l.digest, status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
    }));
    for (const b of bodies) {
      assert.equal(b.status, 200);
      assert.equal(`sha256:${(await import("node:crypto")).createHash("sha256").update(b.bytes).digest("hex")}`, b.digest);
    }
    const sources = await blobSources(client, image.layers.map((l) => l.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"]);

    const accept = "application/vnd.oci.image.manifest.v1+json";
    const manifests = await Promise.all(Array.from({ length: 200 }, async () => {
      const r = await fetch(`${client.url}/v2/load/image/manifests/v1`, { headers: { accept } });
      return { status: r.status, digest: r.headers.get("docker-content-digest"), text: await r.text() };
    }));
    assert.ok(manifests.every((m) => m.status === 200 && m.digest === image.manifestDigest), "every manifest request answered with the manifest");
  });

  test("client restarted while a pull is running: the next pull works", async () => {
    const image = await pushTestImage(stack, "restart/image:v1", { format: "oci", layers: [30 << 20] });
    const victim = await stack.startClient();
    const pulling = pullImage(victim.host, "restart/image:v1", path.join(stack.runDir, "out-restart-1")).then(() => "done", (err: unknown) => String(err));
    await victim.proc.waitForLine(/"blob done"/); // the config blob: the layer is now on its way
    await victim.stop();
    assert.notEqual(await pulling, "done", "the pull cannot complete through a killed client");
    const again = await stack.startClient();
    const out = await pullImage(again.host, "restart/image:v1", path.join(stack.runDir, "out-restart-2"));
    await verifyPulled(image, out);
  });
});

describe("registry down", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "regdown" });
    client = await stack.startClient({ args: ["--upstream-timeout", "1500"] });
    await stack.registry.stop();
  });
  after(async () => {
    await stack?.stop();
  });

  test("once --upstream-timeout is spent retrying, not a hang: outage mode answers /v2/ itself, refuses a tag and an unpublished digest with a clear 503", async () => {
    const t0 = performance.now();
    const ping = await fetch(`${client.url}/v2/`);
    const ms = performance.now() - t0;
    assert.equal(ping.status, 200);
    assert.equal(ping.headers.get("docker-distribution-api-version"), "registry/2.0");
    assert.ok(ms >= 1000 && ms < 4000, `/v2/ took ${ms.toFixed(0)} ms`);
    for (const [p, message] of [["/v2/some/image/manifests/v1", /by digest/], [`/v2/some/image/blobs/sha256:${"12".repeat(32)}`, /not published over NDN/]] as const) {
      const t1 = performance.now();
      const res = await fetch(`${client.url}${p}`);
      assert.equal(res.status, 503, p);
      const body = await res.json() as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]?.code, "UNAVAILABLE");
      assert.match(body.errors[0]?.message ?? "", message);
      assert.ok(performance.now() - t1 < 4000, `${p} is answered without waiting for the upstream again`);
    }
    assert.equal(client.proc.grep(/"upstream unreachable: outage mode/).length, 1);
    assert.equal((await fetch(`${client.url}/healthz`)).status, 200);
  });

  test("a push is not retried: its body cannot be sent twice", async () => {
    const t0 = performance.now();
    const res = await fetch(`${client.url}/v2/some/image/blobs/uploads/`, { method: "POST" });
    assert.equal(res.status, 502);
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe("registry restarted", () => {
  let stack: Stack;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "regrestart" });
    client = await stack.startClient();
  });
  after(async () => {
    await stack?.stop();
  });

  test("a pull during a registry restart of a few seconds completes: the client retries the upstream within --upstream-timeout", async () => {
    const image = await pushTestImage(stack, "restart/during:v1", { format: "oci", layers: Array.from({ length: 8 }, (_, i) => 8_000_000 + i) });
    const pull = pullImage(client.host, "restart/during:v1", path.join(stack.runDir, "out-during"));
    await client.proc.waitForLine(/"blob done"/, 30_000); // skopeo has its manifest and started on the blobs
    await stack.registry.stop();
    await new Promise((r) => setTimeout(r, 3000));
    await stack.registry.startProcess();
    await verifyPulled(image, await pull);
    const failures = client.proc.grep(/"upstream request failed"|"blob transfer failed"/);
    assert.equal(failures.length, 0, failures.join("\n"));
  });
});

describe("registry slow", () => {
  let stack: Stack;
  let silent: Server;
  let client: ClientHandle;

  before(async () => {
    stack = await Stack.start({ label: "regslow" });
    // Accepts connections and never answers: a registry that hangs.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    client = await stack.startClient({ upstream: `http://127.0.0.1:${port}`, args: ["--upstream-timeout", "800"] });
  });
  after(async () => {
    silent?.close();
    await stack?.stop();
  });

  test("a registry that does not answer: a push gets a 504 after --upstream-timeout, and /v2/ is answered in outage mode, not a hang", async () => {
    const t0 = performance.now();
    const res = await fetch(`${client.url}/v2/some/image/blobs/uploads/`, { method: "POST" });
    const ms = performance.now() - t0;
    assert.equal(res.status, 504);
    const body = await res.json() as { errors: Array<{ message: string }> };
    assert.match(body.errors[0]?.message ?? "", /timed out/);
    assert.ok(ms >= 700 && ms < 5000, `push: ${ms.toFixed(0)} ms`);
    const t1 = performance.now();
    assert.equal((await fetch(`${client.url}/v2/`)).status, 200);
    assert.ok(performance.now() - t1 >= 700, "outage mode entered only once the upstream timed out");
  });

});
