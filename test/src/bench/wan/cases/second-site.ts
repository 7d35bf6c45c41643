import { rmSync } from "node:fs";
import path from "node:path";

import { pullImage, verifyPulled } from "../../images.js";
import { describeShape } from "../link-check.js";
import type { LinkShape } from "../shaper.js";
import { blobDone, MB, summarizeSources, type WanContext, type WanRow } from "./context.js";

const SECOND_SITE_SHAPE: LinkShape = { rateMbit: 100, rttMs: 40 };

/**
 * Two edge sites behind a core forwarder (in the core router's namespace, its face to the origin
 * across the WAN): a host at the first site pulls an image, then a host at the second. The second
 * pull's bytes should come from the core's content store: none across the WAN, none from the
 * registry, no segment from the server. The links from the core to the sites are not shaped.
 */
export async function secondSite(ctx: WanContext, shape: LinkShape = SECOND_SITE_SHAPE): Promise<WanRow[]> {
  const { rig, settings } = ctx;
  if (rig.topo.edges.length < 2) {
    throw new Error("second-site needs two edge sites");
  }
  await ctx.useLink(shape);
  const image = await rig.pushImage("wan/second-site", Array<number>(5).fill(Math.round(settings.imageBytes / 5)));
  const packets = Math.ceil(image.bytes * 1.5 / 8000);
  const core = await rig.forwarder(rig.topo.core, rig.topo.coreAddress, "core", rig.link.ndndTcpUri, packets);
  const rows: WanRow[] = [];
  try {
    for (const [i, label] of [[0, "first site, through the core"], [1, "second site, after the first"]] as const) {
      const site = rig.topo.edges[i]!;
      const edge = await rig.edgeForwarder(site, `edge${i + 1}`, core.tcpUri, packets);
      const client = await rig.client(site.hosts[0]!, edge.tcpUri);
      const out = path.join(ctx.pullDir, `out-site${i + 1}`);
      const { traffic: t } = await rig.measure(() => pullImage(client.host, image.ref, out, { netns: site.hosts[0]!.ns.name, timeoutMs: 1_800_000 }));
      await verifyPulled(image, out);
      rmSync(out, { recursive: true, force: true });
      const logs = await Promise.all(image.blobs.map((b) => blobDone(client, b.digest)));
      await client.stop();
      ctx.progress(`second site, ${label}: ${t.seconds.toFixed(2)} s, WAN ${(t.wanDownBytes / MB).toFixed(1)} MB, registry ${t.registryBytes}, server segments ${t.serverSegments}`);
      rows.push({
        case: "second edge site", link: describeShape(shape), path: `NDN, ${label}`, seconds: t.seconds,
        // The second site's bytes do not cross the WAN (the core's links to the sites are not shaped).
        linkShare: i === 0 ? image.bytes * 8 / t.seconds / (shape.rateMbit * 1e6) : null,
        retransmissions: logs.reduce((n, l) => n + (l.retransmissions ?? 0), 0),
        wanRatio: t.wanDownBytes / image.bytes, registryBytes: t.registryBytes, serverSegments: t.serverSegments, source: summarizeSources(logs),
      });
    }
  } finally {
    await rig.stopForwarders();
  }
  return rows;
}
