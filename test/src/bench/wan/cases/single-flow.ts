import { describeShape } from "../link-check.js";
import type { LinkShape } from "../shaper.js";
import { blobDone, medianBySeconds, type WanContext, type WanRow } from "./context.js";

/** The three paths: a long fat pipe, a faster one, and a long thin one. */
const SINGLE_FLOW_SHAPES: readonly LinkShape[] = [
  { rateMbit: 100, rttMs: 40 },
  { rateMbit: 400, rttMs: 50 },
  { rateMbit: 100, rttMs: 200 },
];

/**
 * One blob GET at a time from an edge host: straight from the origin's registry across the WAN,
 * and through the host's client, its site's forwarder and the WAN to the origin's forwarder and
 * server (a blob never fetched before, so no cache on the way holds it). Runs alternate.
 */
export async function singleFlows(ctx: WanContext): Promise<WanRow[]> {
  const { rig, settings } = ctx;
  const shapes = settings.singleShapes ?? SINGLE_FLOW_SHAPES;
  const site = rig.topo.edges[0]!;
  const host = site.hosts[0]!;
  const edge = await rig.edgeForwarder(site, "edge1", rig.link.ndndTcpUri);
  const client = await rig.client(host, edge.tcpUri);
  const puller = rig.puller(host);
  const rows: WanRow[] = [];
  try {
    for (const shape of shapes) {
      await ctx.useLink(shape);
      const direct = await rig.pushImage("wan/single-direct", [settings.blobBytes]);
      const directSamples = [];
      const ndnSamples = [];
      for (let i = 0; i < settings.runs; ++i) {
        const layer = direct.layers[0]!;
        const d = await rig.measure(() => puller.get(rig.link.registryUrl, direct.repository, [layer.digest], false));
        directSamples.push({ ...d.traffic, bytes: layer.size });
        ctx.progress(`${describeShape(shape)} direct HTTP run ${i + 1}: ${d.traffic.seconds.toFixed(2)} s`);

        const cold = await rig.pushImage(`wan/single-${rows.length}-${i}`, [settings.blobBytes]);
        const blob = cold.layers[0]!;
        const n = await rig.measure(() => puller.get(client.url, cold.repository, [blob.digest], false));
        const done = await blobDone(client, blob.digest);
        ndnSamples.push({ ...n.traffic, bytes: blob.size, done });
        ctx.progress(`${describeShape(shape)} NDN run ${i + 1}: ${n.traffic.seconds.toFixed(2)} s, ${done.retransmissions ?? "?"} retransmissions, ${done.source}`);
      }
      const link = describeShape(shape);
      const share = (bytes: number, seconds: number) => bytes * 8 / seconds / (shape.rateMbit * 1e6);
      const d = medianBySeconds(directSamples);
      rows.push({
        case: "single flow", link, path: "direct HTTP (registry across the WAN)", seconds: d.seconds, linkShare: share(d.bytes, d.seconds),
        retransmissions: null, wanRatio: d.wanDownBytes / d.bytes, registryBytes: d.registryBytes, serverSegments: null, source: null,
      });
      const n = medianBySeconds(ndnSamples);
      rows.push({
        case: "single flow", link, path: "NDN, cold (client > edge ndnd > origin ndnd > server)", seconds: n.seconds, linkShare: share(n.bytes, n.seconds),
        retransmissions: n.done.retransmissions ?? null, wanRatio: n.wanDownBytes / n.bytes, registryBytes: n.registryBytes,
        serverSegments: n.serverSegments, source: n.done.source,
      });
    }
  } finally {
    await client.stop();
    await rig.stopForwarders();
  }
  return rows;
}
