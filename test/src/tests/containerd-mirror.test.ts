import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";

import { type ClientHandle, Containerd, type CountingProxy, Stack, type StackOptions } from "../bench/index.js";
import { blobSources, pushRawBlob, pushTestImage, sha256Text } from "./helpers.js";

/**
 * A stack, a client whose upstream refuses blob GETs, and a containerd whose hosts.toml names the
 * client as a pull/resolve mirror of the registry. ctr's debug log names every URL it requested:
 * a pull that succeeds with no request to the registry itself got its blobs over NDN.
 */
class Mirror {
  private pulls = 0;
  private constructor(
    readonly stack: Stack,
    readonly refusing: CountingProxy,
    readonly client: ClientHandle,
    readonly containerd: Containerd,
    readonly hostsDir: string,
  ) {}

  static async start(opts: StackOptions): Promise<Mirror> {
    const stack = await Stack.start(opts);
    try {
      const refusing = await stack.proxy(true);
      const client = await stack.startClient({ upstream: refusing.url });
      // containerd looks up <hosts-dir>/<host:port>/hosts.toml for the registry an image names.
      const hostsDir = path.join(stack.runDir, "certs.d");
      mkdirSync(path.join(hostsDir, stack.registry.host), { recursive: true });
      writeFileSync(path.join(hostsDir, stack.registry.host, "hosts.toml"), [
        `server = "${stack.registry.url}"`,
        "",
        `[host."${client.url}"]`,
        '  capabilities = ["pull", "resolve"]',
        "",
      ].join("\n"));
      return new Mirror(stack, refusing, client, await Containerd.start(stack.runDir), hostsDir);
    } catch (err) {
      await stack.stop();
      throw err;
    }
  }

  /** `ctr <command> --hosts-dir ... <ref>`; returns the URLs ctr requested, from its debug log (kept in the run dir). */
  async pull(command: "content fetch" | "images pull", ref: string, flags: readonly string[] = []): Promise<string[]> {
    // Flags before the reference: ctr takes what follows it as positional arguments.
    const { stderr } = await this.containerd.ctr(["--debug", ...command.split(" "), "--hosts-dir", this.hostsDir, ...flags, ref]);
    writeFileSync(path.join(this.stack.runDir, `ctr-pull-${++this.pulls}.log`), stderr);
    return [...stderr.matchAll(/msg="do request".* url="([^"]+)"/g)].map((m) => m[1]!);
  }

  async contentDigests(): Promise<Set<string>> {
    return new Set((await this.containerd.ctr(["content", "ls", "--quiet"])).stdout.split("\n").filter(Boolean));
  }

  /**
   * Every URL ctr requested was the client's; every request the client sent upstream since
   * `upstreamLogFrom` carried `?ns=<registry>`; every blob came over NDN and is in the content
   * store (which checks each blob against its digest as it commits it).
   */
  async assertMirrored(urls: readonly string[], upstreamLogFrom: number, blobs: readonly string[], manifests: readonly string[]): Promise<void> {
    assert.ok(urls.length > 0, "ctr logged no requests");
    for (const u of urls) {
      assert.ok(u.startsWith(`${this.client.url}/v2/`), `ctr requested ${u}, not the client`);
    }
    const upstream = this.refusing.requestLog.slice(upstreamLogFrom);
    assert.ok(upstream.length > 0);
    for (const line of upstream) {
      const ns = new URL(line.split(" ")[1]!, "http://x").searchParams.get("ns");
      assert.equal(ns, this.stack.registry.host, `client sent upstream: ${line}`);
    }
    const sources = await blobSources(this.client, blobs);
    assert.deepEqual([...new Set(sources.values())], ["ndn"], `sources: ${JSON.stringify([...sources])}`);
    const stored = await this.contentDigests();
    for (const d of [...manifests, ...blobs]) {
      assert.ok(stored.has(d), `${d} not in containerd's content store`);
    }
  }

  async stop(): Promise<void> {
    await this.containerd.stop();
    await this.stack.stop();
  }
}

describe("containerd pulls through the client as a hosts.toml mirror", () => {
  let m: Mirror;
  before(async () => {
    m = await Mirror.start({ label: "containerd" });
  });
  after(async () => {
    await m?.stop();
  });

  test("OCI image (ctr content fetch: containerd's pull without unpacking random layers)", async () => {
    const image = await pushTestImage(m.stack, "mirror/app:v1", { format: "oci", layers: [1000, 300_000, 2 << 20] });
    const from = m.refusing.requestLog.length;
    const urls = await m.pull("content fetch", `${m.stack.registry.host}/mirror/app:v1`);
    await m.assertMirrored(urls, from, image.blobs.map((b) => b.digest), [image.manifestDigest]);
  });

  test("multi-arch Docker manifest list, all platforms", async () => {
    const image = await pushTestImage(m.stack, "mirror/multi:v1", { format: "docker", layers: [20_000, 100_000], platforms: ["linux/amd64", "linux/arm64"] });
    assert.equal(image.blobs.length, 6);
    const from = m.refusing.requestLog.length;
    const urls = await m.pull("content fetch", `${m.stack.registry.host}/mirror/multi:v1`, ["--all-platforms"]);
    await m.assertMirrored(urls, from, image.blobs.map((b) => b.digest), [image.manifestDigest]);
  });

  test("ctr images pull unpacks a real layer fetched over NDN", async () => {
    const body = randomBytes(100_000);
    const tar = tarOneFile("ndn-payload.bin", body);
    const layer = gzipSync(tar);
    const repo = "mirror/unpack";
    const registryUrl = m.stack.registry.url;
    const layerDigest = await pushRawBlob(registryUrl, repo, layer);
    // containerd checks the unpacked tar against diff_ids.
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [sha256Text(tar)] } }));
    const configDigest = await pushRawBlob(registryUrl, repo, config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", size: config.length, digest: configDigest },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: layer.length, digest: layerDigest }],
    }));
    const put = await fetch(`${registryUrl}/v2/${repo}/manifests/v1`, {
      method: "PUT", body: manifest, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(put.status, 201);

    const from = m.refusing.requestLog.length;
    const urls = await m.pull("images pull", `${m.stack.registry.host}/${repo}:v1`, ["--platform", "linux/amd64"]);
    await m.assertMirrored(urls, from, [layerDigest, configDigest], [sha256Text(manifest)]);
    const snapshots = m.containerd.snapshotsDir;
    const unpacked = readdirSync(snapshots).map((id) => path.join(snapshots, id, "ndn-payload.bin")).filter((f) => existsSync(f));
    assert.equal(unpacked.length, 1, "one snapshot holds the layer's file");
    assert.ok(readFileSync(unpacked[0]!).equals(body));
  });

  test("the refusing upstream never served a blob and was never asked for one", () => {
    assert.equal(m.refusing.counters.blobBytes, 0);
    assert.equal(m.refusing.counters.refusedBlobGets, 0);
  });

  test("with the client down, containerd falls back to the registry (hosts.toml `server`)", async () => {
    const image = await pushTestImage(m.stack, "mirror/fallback:v1", { format: "oci", layers: [5000] });
    await m.client.stop();
    const urls = await m.pull("content fetch", `${m.stack.registry.host}/mirror/fallback:v1`);
    assert.ok(urls.some((u) => u.startsWith(`${m.client.url}/`)), "the mirror was tried first");
    assert.ok(urls.some((u) => u.startsWith(`${m.stack.registry.url}/`)), "then the registry");
    const stored = await m.contentDigests();
    assert.ok(image.blobs.every((b) => stored.has(b.digest)));
  });

  test("containerd left no mounts and stops", async () => {
    assert.deepEqual(m.containerd.mounts(), [], "unpacking left mounts behind");
    await m.containerd.stop();
    assert.equal(m.containerd.running, false);
  });
});

describe("containerd through the client to a registry with token auth (as Docker Hub)", () => {
  let m: Mirror;
  before(async () => {
    m = await Mirror.start({ label: "containerd-token", registryAuth: "token" });
  });
  after(async () => {
    await m?.stop();
  });

  test("containerd answers the 401 relayed by the client at the realm itself, then pulls through the client; blobs over NDN", async () => {
    const issuer = m.stack.registry.tokenIssuer!;
    const image = await pushTestImage(m.stack, "team/app:v1", { format: "oci", layers: [50_000, 400_000] });
    const from = m.refusing.requestLog.length;
    const urls = await m.pull("content fetch", `${m.stack.registry.host}/team/app:v1`);
    await m.assertMirrored(urls, from, image.blobs.map((b) => b.digest), [image.manifestDigest]);
    const tokens = issuer.requestsFrom("containerd/");
    assert.ok(tokens.some((r) => r.account === undefined && r.scopes.includes("repository:team/app:pull") && r.status === 200),
      `containerd's token requests: ${JSON.stringify(tokens)}`);
  });
});

/** A ustar archive holding one regular file: the smallest layer containerd can unpack. */
function tarOneFile(name: string, body: Buffer): Buffer {
  const h = Buffer.alloc(512);
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, "0")}\0`;
  h.write(name, 0, 100);
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(body.length, 12), 124);
  h.write(octal(0, 12), 136);
  h.write(" ".repeat(8), 148); // the checksum is computed with its own field as spaces
  h.write("0", 156);
  h.write("ustar\x0000", 257);
  h.write(`${octal(h.reduce((a, b) => a + b, 0), 7)} `, 148);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512), Buffer.alloc(1024)]);
}
