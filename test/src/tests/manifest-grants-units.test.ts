import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, test } from "node:test";

import { ManifestGrants } from "@ndnreg/client/blob/manifest-grants";
import { type BlobId, makeBlobId } from "@ndnreg/shared/ndn";

const digest = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
const CONFIG = digest("config");
const LAYER = digest("layer");
const FOREIGN = digest("foreign");
const TOKEN = { authorization: "Bearer abc" };

function id(repository: string, d: string): BlobId {
  return makeBlobId(repository, d)!;
}

/** Relays `body` through the tap of a manifest GET as the app does; returns the blobs granted, and the bytes relayed. */
async function relay(grants: ManifestGrants, repository: string, body: string, headers: IncomingHttpHeaders = TOKEN, query = ""): Promise<{ listed: string[]; out: string }> {
  let listed: string[] = [];
  const tap = grants.tap(repository, query, headers, Buffer.byteLength(body), (ids) => {
    listed = ids.map((i) => i.digest.text);
  });
  assert.ok(tap);
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => { chunks.push(c); done(); } });
  // In pieces, as a socket gives them.
  await pipeline(Readable.from([Buffer.from(body.slice(0, 7)), Buffer.from(body.slice(7))]), tap, sink);
  return { listed, out: Buffer.concat(chunks).toString() };
}

const imageManifest = JSON.stringify({
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: CONFIG, size: 6 },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: LAYER, size: 5 },
    { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: FOREIGN, size: 7, urls: ["https://example.org/x"] },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digest("fraction"), size: 1.5 },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digest("negative"), size: -1 },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: "md5:abc", size: 3 },
    { digest: digest("no-type"), size: 3 },
  ],
});

describe("blobs granted by a relayed manifest", () => {
  test("the config and the layers are granted to the same credentials, repository and query only; the bytes pass unchanged", async () => {
    const grants = new ManifestGrants();
    const { listed, out } = await relay(grants, "team/app", imageManifest);
    assert.equal(out, imageManifest);
    assert.deepEqual(listed, [CONFIG, LAYER]);
    const layer = grants.find(id("team/app", LAYER), "", { ...TOKEN });
    assert.equal(layer?.size, 5);
    assert.equal(layer?.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    assert.equal(grants.find(id("team/app", CONFIG), "", TOKEN)?.size, 6);
    assert.equal(grants.find(id("team/app", LAYER), "", {}), undefined, "anonymous");
    assert.equal(grants.find(id("team/app", LAYER), "", { authorization: "Bearer other" }), undefined, "other credentials");
    assert.equal(grants.find(id("team/app", LAYER), "", { ...TOKEN, cookie: "s=1" }), undefined, "a cookie too: other credentials");
    assert.equal(grants.find(id("team/other", LAYER), "", TOKEN), undefined, "other repository");
    assert.equal(grants.find(id("team/app", LAYER), "?ns=example.org", TOKEN), undefined, "other query");
    for (const unlisted of [FOREIGN, digest("fraction"), digest("negative"), digest("no-type"), digest("never")]) {
      assert.equal(grants.find(id("team/app", unlisted), "", TOKEN), undefined, unlisted);
    }
    grants.forget(id("team/app", LAYER), "", TOKEN);
    assert.equal(grants.find(id("team/app", LAYER), "", TOKEN), undefined, "forgotten");
    assert.equal(grants.find(id("team/app", CONFIG), "", TOKEN)?.size, 6);
  });

  test("anonymous callers share one scope", async () => {
    const grants = new ManifestGrants();
    await relay(grants, "team/app", imageManifest, {});
    assert.equal(grants.find(id("team/app", LAYER), "", {})?.size, 5);
    assert.equal(grants.find(id("team/app", LAYER), "", TOKEN), undefined);
  });

  test("an index, a schema 1 manifest, broken JSON and an oversized body grant nothing", async () => {
    const grants = new ManifestGrants();
    const index = JSON.stringify({
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: LAYER, size: 5 }],
      config: { mediaType: "x", digest: CONFIG, size: 6 }, layers: [],
    });
    const schema1 = JSON.stringify({ schemaVersion: 1, fsLayers: [{ blobSum: LAYER }] });
    for (const body of [index, schema1, `${imageManifest.slice(0, -1)}`, "[]"]) {
      assert.deepEqual((await relay(grants, "team/app", body)).listed, []);
    }
    assert.equal(grants.find(id("team/app", LAYER), "", TOKEN), undefined);
    assert.equal(grants.find(id("team/app", CONFIG), "", TOKEN), undefined);
    assert.equal(grants.tap("team/app", "", TOKEN, 4 * 1024 * 1024 + 1, () => assert.fail("granted")), undefined);
  });
});
