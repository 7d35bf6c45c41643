import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { pullImage, verifyPulled, WanRig } from "../bench/index.js";
import { blobSources } from "./helpers.js";

const MB = 1e6;

/** A pull across an emulated WAN (see `pnpm bench:wan` for its figures; no timings here). */
describe("pull across an emulated WAN", () => {
  let rig: WanRig;
  before(async () => {
    rig = await WanRig.start({ label: "wan-test", edges: 1, hostsPerEdge: 1 });
    await rig.link.set({ rateMbit: 100, rttMs: 20 });
  });
  after(async () => {
    await rig?.stop();
  });

  test("a 20 MB image crosses the link over NDN (client > edge forwarder > toxiproxy > origin) and every blob verifies", async () => {
    const site = rig.topo.edges[0]!;
    const host = site.hosts[0]!;
    const edge = await rig.edgeForwarder(site, "edge1", rig.link.ndndTcpUri);
    const image = await rig.pushImage("wan/test", [8 * MB, 6 * MB, 4 * MB, 2 * MB]);
    const client = await rig.client(host, edge.tcpUri);
    const out = path.join(rig.stack.runDir, "out");
    const { traffic } = await rig.measure(() => pullImage(client.host, image.ref, out, { netns: host.ns.name }));
    await verifyPulled(image, out);

    const sources = await blobSources(client, image.blobs.map((b) => b.digest));
    assert.deepEqual([...new Set(sources.values())], ["ndn"], JSON.stringify([...sources]));
    assert.ok(traffic.wanDownBytes >= image.bytes, `WAN carried ${traffic.wanDownBytes} bytes towards the edge for an image of ${image.bytes}`);
    const segments = image.blobs.reduce((n, b) => n + Math.ceil(b.size / 8000), 0);
    assert.ok(traffic.serverSegments >= segments, `server produced ${traffic.serverSegments} segments, the image has ${segments}`);
  });
});
