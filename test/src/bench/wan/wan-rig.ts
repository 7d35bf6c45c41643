import path from "node:path";

import { BlobPuller } from "../blob-puller.js";
import { Forwarder } from "../forwarder.js";
import { createImage, pushImage, type TestImage } from "../images.js";
import type { Netns } from "../netns.js";
import { Registry } from "../registry.js";
import { type ClientHandle, Stack } from "../stack.js";
import { type EdgeSite, type WanHost, WanTopology } from "./topology.js";
import { WanLink } from "./wan-link.js";

/** What crossed where while a measured step ran. */
export interface Traffic {
  readonly seconds: number;
  /** Wire bytes the WAN link carried towards the edges, and back. */
  readonly wanDownBytes: number;
  readonly wanUpBytes: number;
  /** Blob bytes the origin's registry served (its access log). */
  readonly registryBytes: number;
  /** Segment Data the origin's server produced. */
  readonly serverSegments: number;
}

export interface PushedImage extends TestImage {
  readonly repository: string;
  readonly ref: string;
  /** Bytes of all its blobs (config and layers). */
  readonly bytes: number;
}

/**
 * The emulated WAN with the origin site running: registry, server and forwarder in the origin's
 * namespace (the test stack, unchanged), the WAN link to the core, and helpers to put forwarders,
 * clients, caches and image pullers at the edges.
 */
export class WanRig {
  private readonly forwarders: Forwarder[] = [];
  private readonly registries: Registry[] = [];
  private readonly pullers = new Map<string, BlobPuller>();
  private images = 0;

  private constructor(readonly topo: WanTopology, readonly stack: Stack, readonly link: WanLink) {}

  static async start(opts: { label: string; edges: number; hostsPerEdge: number }): Promise<WanRig> {
    const topo = await WanTopology.create(opts);
    let stack: Stack | undefined;
    try {
      stack = await Stack.start({ label: opts.label, netns: topo.origin.name, host: topo.originMgmtAddress });
      const link = await WanLink.create(stack.runDir, topo, { ndnd: stack.forwarder.port, registry: stack.registry.port });
      return new WanRig(topo, stack, link);
    } catch (err) {
      await stack?.stop();
      await topo.destroy();
      throw err;
    }
  }

  get prefix(): string {
    return this.stack.prefix;
  }

  /** A new image of random layers, pushed to the origin's registry over the mgmt link (not the WAN). */
  async pushImage(repository: string, layerBytes: readonly number[]): Promise<PushedImage> {
    const image = createImage(path.join(this.stack.runDir, `image-${++this.images}`), { format: "oci", layers: layerBytes });
    const ref = `${repository}:v1`;
    await pushImage(image, this.stack.registry.host, ref, 900_000);
    return { ...image, repository, ref, bytes: image.blobs.reduce((n, b) => n + b.size, 0) };
  }

  /** A forwarder in `ns` (listening on `host` there) routing the prefix to `upstreamUri`. */
  async forwarder(ns: Netns, host: string, name: string, upstreamUri: string, csCapacity = 65536): Promise<Forwarder> {
    const fw = await Forwarder.start(this.stack.runDir, { name, netns: ns.name, host, csCapacity });
    this.forwarders.push(fw);
    await fw.addRoute(this.prefix, upstreamUri);
    return fw;
  }

  /** An edge site's forwarder, its hosts' router, routing the prefix to `upstreamUri`. */
  async edgeForwarder(site: EdgeSite, name: string, upstreamUri: string, csCapacity?: number): Promise<Forwarder> {
    return this.forwarder(site.router, site.lanAddress, name, upstreamUri, csCapacity);
  }

  /** A pull-through cache (distribution in proxy mode) of the origin's registry, across the WAN. */
  async edgeCache(site: EdgeSite, name: string): Promise<Registry> {
    const r = await Registry.start(this.stack.runDir, { name, netns: site.router.name, host: site.lanAddress, proxyRemoteUrl: this.link.registryUrl });
    this.registries.push(r);
    return r;
  }

  /** The client on `host`, its upstream the origin's registry across the WAN. */
  async client(host: WanHost, router: string, args: string[] = []): Promise<ClientHandle> {
    return this.stack.startClient({ netns: host.ns.name, router, upstream: this.link.registryUrl, args });
  }

  /** The blob puller of `host` (started on first use). */
  puller(host: WanHost): BlobPuller {
    let p = this.pullers.get(host.ns.name);
    if (!p) {
      p = BlobPuller.start({ netns: host.ns.name });
      this.pullers.set(host.ns.name, p);
    }
    return p;
  }

  /** Run `step` and count what it cost the WAN, the registry and the server. */
  async measure<T>(step: () => Promise<T>): Promise<{ value: T; traffic: Traffic }> {
    const before = await this.counters();
    const t0 = performance.now();
    const value = await step();
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 300)); // the registry's access log lines
    const after = await this.counters();
    return {
      value,
      traffic: {
        seconds,
        wanDownBytes: after.wan.down.bytes - before.wan.down.bytes,
        wanUpBytes: after.wan.up.bytes - before.wan.up.bytes,
        registryBytes: after.registry - before.registry,
        serverSegments: after.segments - before.segments,
      },
    };
  }

  private async counters() {
    return { wan: await this.link.counters(), registry: this.stack.registry.blobBytesServed, segments: await this.stack.serverSegments() };
  }

  /** Stop every forwarder started at the edges and the core (the next case starts its own, cold). */
  async stopForwarders(): Promise<void> {
    await Promise.all(this.forwarders.splice(0).map((f) => f.stop()));
  }

  async stop(): Promise<void> {
    for (const p of this.pullers.values()) {
      p.stop();
    }
    await this.stopForwarders();
    await Promise.all(this.registries.map((r) => r.stop()));
    await this.link.stop();
    await this.stack.stop();
    await this.topo.destroy();
  }
}
