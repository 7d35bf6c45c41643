import { rmSync } from "node:fs";
import path from "node:path";

import { pullImage, verifyPulled } from "../../images.js";
import { describeShape } from "../link-check.js";
import type { LinkShape } from "../shaper.js";
import type { PushedImage, Traffic } from "../wan-rig.js";
import { blobDone, hostsOf, MB, SHARED_PATHS, summarizeSources, type WanContext, type WanRow } from "./context.js";

const SHARED_LINK_SHAPE: LinkShape = { rateMbit: 100, rttMs: 40 };

/** The `ndn-warm` variant's warm-up image: two layers of 1 MB, enough to run every step of a pull. */
const WARM_LAYERS = [1_000_000, 1_000_000];

/** After the warm-up pulls, before the measured one: their skopeo have exited, the CPU settles. */
const WARM_SETTLE_MS = 1000;

/**
 * K hosts of one edge site pull one image at the same moment (skopeo, each into its own
 * directory): straight from the origin's registry, through a pull-through cache at the site
 * (distribution in proxy mode), and through each host's client and the site's forwarder, with the
 * clients' first pull and with clients that have served one. Each variant pulls an image no cache
 * has seen. Every pulled blob is checked against its digest.
 */
export async function sharedLink(ctx: WanContext, shape: LinkShape = SHARED_LINK_SHAPE): Promise<WanRow[]> {
  const { rig, settings } = ctx;
  await ctx.useLink(shape);
  const site = rig.topo.edges[0]!;
  const hosts = hostsOf(ctx, 0, settings.hosts);
  const layers = Array<number>(5).fill(Math.round(settings.imageBytes / 5));
  const caseName = `${hosts.length} hosts at once, one link`;
  const rows: WanRow[] = [];
  const row = (p: string, image: PushedImage, t: Traffic, extra: Partial<WanRow> = {}): WanRow => ({
    case: caseName, link: describeShape(shape), path: p, seconds: t.seconds,
    linkShare: image.bytes * 8 / t.seconds / (shape.rateMbit * 1e6), retransmissions: null, wanRatio: t.wanDownBytes / image.bytes,
    registryBytes: t.registryBytes, serverSegments: null, source: null, ...extra,
  });
  /** Every host pulls `image` from its own registry endpoint at once; returns what it cost. */
  const pullAll = async (image: PushedImage, registryOf: (i: number) => string, label: string): Promise<Traffic> => {
    const outs = hosts.map((_, i) => path.join(ctx.pullDir, `out-${label}-${i}`));
    const pullOne = (i: number) => pullImage(registryOf(i), image.ref, outs[i]!, { netns: hosts[i]!.ns.name, timeoutMs: 1_800_000 });
    const { traffic } = await rig.measure(() => Promise.all(hosts.map((_, i) => pullOne(i))));
    for (const out of outs) {
      await verifyPulled(image, out);
      rmSync(out, { recursive: true, force: true });
    }
    ctx.progress(`${caseName}, ${label}: ${traffic.seconds.toFixed(2)} s, WAN ${(traffic.wanDownBytes / MB).toFixed(1)} MB`);
    return traffic;
  };

  const paths = settings.sharedPaths ?? SHARED_PATHS;
  if (paths.includes("direct")) {
    const direct = await rig.pushImage("wan/shared-direct", layers);
    rows.push(row("direct HTTP (registry across the WAN)", direct, await pullAll(direct, () => rig.link.registryHost, "direct")));
  }
  if (paths.includes("cache")) {
    const cache = await rig.edgeCache(site, "edge-cache");
    const cached = await rig.pushImage("wan/shared-cache", layers);
    rows.push(row("edge pull-through cache (distribution proxy mode)", cached, await pullAll(cached, () => cache.host, "cache")));
    await cache.stop();
  }
  /**
   * A fresh edge forwarder and a fresh client on every host. `ndn` measures their first pull;
   * `ndn-warm` lets each host pull a small image of its own through its client first, unmeasured
   * (random layers the measured image does not share): each client compiles its code paths and
   * opens its upstream connection, the server and forwarders theirs, as processes that have served
   * pulls before would have.
   */
  const ndnRow = async (variant: (typeof NDN_VARIANTS)[number]): Promise<WanRow> => {
    const image = await rig.pushImage(`wan/shared-${variant}`, layers);
    const edge = await rig.edgeForwarder(site, "edge1", rig.link.ndndTcpUri, Math.ceil(image.bytes * 1.5 / 8000));
    const clients = await Promise.all(hosts.map((h) => rig.client(h, edge.tcpUri)));
    try {
      if (variant === "ndn-warm") {
        await pullAll(await rig.pushImage("wan/warm-up", WARM_LAYERS), (i) => clients[i]!.host, "warm-up");
        await new Promise((r) => setTimeout(r, WARM_SETTLE_MS));
      }
      const t = await pullAll(image, (i) => clients[i]!.host, variant);
      const logs = await Promise.all(clients.flatMap((c) => image.blobs.map((b) => blobDone(c, b.digest))));
      const label = variant === "ndn-warm" ? "NDN, clients warm (each pulled a small image first)" : "NDN (clients > edge ndnd > origin ndnd > server)";
      return row(label, image, t, {
        retransmissions: logs.reduce((n, l) => n + (l.retransmissions ?? 0), 0), serverSegments: t.serverSegments, source: summarizeSources(logs),
      });
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
      await rig.stopForwarders();
    }
  };
  for (const variant of NDN_VARIANTS.filter((v) => paths.includes(v))) {
    rows.push(await ndnRow(variant));
  }
  return rows;
}

const NDN_VARIANTS = ["ndn", "ndn-warm"] as const;
