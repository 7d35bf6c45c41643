import { describeShape } from "../link-check.js";
import type { LinkShape } from "../shaper.js";
import { udpReceiveBufferDrops } from "../udp-stats.js";
import { blobDone, medianBySeconds, type WanContext, type WanRow } from "./context.js";

const UDP_SHAPE: LinkShape = { rateMbit: 100, rttMs: 40 };

/**
 * A client with no forwarder of its own, on a `udp://` and then a `tcp://` router across the WAN
 * (the origin's forwarder, through the UDP relay and toxiproxy: same rate, same round trip), as a
 * client pointed at a remote router runs. One cold blob per run, runs alternating.
 */
export async function udpAndTcpFaces(ctx: WanContext, shape: LinkShape = UDP_SHAPE): Promise<WanRow[]> {
  const { rig, settings } = ctx;
  await ctx.useLink(shape);
  const host = rig.topo.edges[0]!.hosts[0]!;
  const puller = rig.puller(host);
  const faces = [
    { label: "NDN, client on udp:// router across the WAN", client: await rig.client(host, rig.link.ndndUdpUri), samples: [] as Sample[] },
    { label: "NDN, client on tcp:// router across the WAN", client: await rig.client(host, rig.link.ndndTcpUri), samples: [] as Sample[] },
  ];
  try {
    for (let i = 0; i < settings.runs; ++i) {
      for (const f of faces) {
        const image = await rig.pushImage(`wan/face-${i}`, [settings.blobBytes]);
        const blob = image.layers[0]!;
        const drops0 = await Promise.all([udpReceiveBufferDrops(host.ns), udpReceiveBufferDrops(rig.topo.core)]);
        const { traffic } = await rig.measure(() => puller.get(f.client.url, image.repository, [blob.digest], false));
        const drops1 = await Promise.all([udpReceiveBufferDrops(host.ns), udpReceiveBufferDrops(rig.topo.core)]);
        const done = await blobDone(f.client, blob.digest);
        const drops = { client: drops1[0] - drops0[0], relay: drops1[1] - drops0[1] };
        f.samples.push({ ...traffic, bytes: blob.size, retransmissions: done.retransmissions ?? null, source: done.source, drops });
        ctx.progress(`${f.label} run ${i + 1}: ${traffic.seconds.toFixed(2)} s, ${done.retransmissions ?? "?"} retransmissions, ${done.source}, `
          + `UDP receive-buffer drops: client host ${drops.client}, relay ${drops.relay}`);
      }
    }
  } finally {
    await Promise.all(faces.map((f) => f.client.stop()));
  }
  return faces.map((f) => {
    const s = medianBySeconds(f.samples);
    return {
      case: "UDP and TCP face", link: describeShape(shape), path: f.label, seconds: s.seconds,
      linkShare: s.bytes * 8 / s.seconds / (shape.rateMbit * 1e6), retransmissions: s.retransmissions,
      wanRatio: s.wanDownBytes / s.bytes, registryBytes: s.registryBytes, serverSegments: s.serverSegments, source: s.source,
      notes: `UDP receive-buffer drops: client host ${s.drops.client}, relay ${s.drops.relay}`,
    };
  });
}

interface Sample {
  readonly seconds: number;
  readonly bytes: number;
  readonly wanDownBytes: number;
  readonly registryBytes: number;
  readonly serverSegments: number;
  readonly retransmissions: number | null;
  readonly source: string;
  /** Datagrams dropped for a full receive buffer: by the client's host, and by the relay. */
  readonly drops: { readonly client: number; readonly relay: number };
}
