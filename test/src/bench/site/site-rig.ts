import path from "node:path";

import { Name } from "@ndn/packet";
import { canonicalBlobName, parseSha256Digest } from "@ndnreg/shared/ndn";

import { Forwarder, routePrefixes } from "../forwarder.js";
import { median } from "../layer-rounds.js";
import { ManagedProcess, waitUntil } from "../process.js";
import type { CpuRoles } from "./site-cpu.js";
import type { ClientHandle } from "../stack.js";

import { LINK_TOLERANCE } from "../wan/link-check.js";
import { type LinkShape, shapeEgress, shaperCounters } from "../wan/shaper.js";
import type { WanHost } from "../wan/topology.js";
import { PROBE_MAIN } from "../wan/wan-link.js";
import { WanRig } from "../wan/wan-rig.js";

/**
 * Cost of the static routes towards the origin (the router's across the WAN, the hosts' to the
 * router). ndnd's static routes are child-inherit: a store's `/<prefix>/<digest>` entry also
 * holds the uplink's nexthop, so the uplink must cost more than any store route (10 plus dv's
 * hops) for best-route to try the store first, and the WAN after it.
 */
const UPLINK_COST = 100;
const PROBE_PORT = 7001;

/** What the site's LAN measured: a bulk TCP transfer from the first host to the second, through the router. */
export interface LanCheck {
  readonly setMbit: number;
  /** Ethernet bytes per second the router's shaper towards the receiver sent, in Mbit/s. */
  readonly wireMbit: number;
  readonly goodputMbit: number;
  readonly rttMs: number;
}

/**
 * A site behind the emulated WAN (test/src/bench/wan/): one edge router namespace (the site
 * router: ndnd with dv, its static route to the origin across the WAN) and `hosts` host
 * namespaces, each with its own ndnd and dv (neighbour: the site router), the registry's prefix
 * routed statically to the router, and a client with an edge store. Blob prefixes the stores
 * register reach every forwarder of the site through dv (docs/site.md).
 */
export class SiteRig {
  router?: Forwarder;
  readonly hostForwarders: Forwarder[] = [];
  private readonly clients = new Map<number, ClientHandle>();
  private storeGeneration = 0;

  private constructor(
    readonly wan: WanRig, private readonly routerCsPackets: number, private readonly hostCsPackets: number, private readonly certFile: string,
  ) {}

  /**
   * `hostCsPackets`: each host forwarder's content store (0: it admits nothing). The server signs
   * with a keychain key whose certificate every client is given as its trust anchor, as a site
   * should run (docs/site.md): per-segment checks catch a neighbour's bad answer, and tag records
   * can be checked in outage mode.
   */
  static async start(opts: { label: string; hosts: number; routerCsPackets: number; hostCsPackets: number }): Promise<SiteRig> {
    const wan = await WanRig.start({ label: opts.label, edges: 1, hostsPerEdge: opts.hosts });
    try {
      const key = await wan.stack.serverKey();
      await wan.stack.startServer(key.env);
      return new SiteRig(wan, opts.routerCsPackets, opts.hostCsPackets, key.certFile);
    } catch (err) {
      await wan.stop();
      throw err;
    }
  }

  get hosts(): readonly WanHost[] {
    return this.wan.topo.edges[0]!.hosts;
  }

  /** The site router and the hosts' forwarders, dv neighbours in a star, static routes set. */
  async startForwarders(): Promise<void> {
    const site = this.wan.topo.edges[0]!;
    const runDir = this.wan.stack.runDir;
    this.router = await Forwarder.start(runDir, { name: "site-router", netns: site.router.name, host: site.lanAddress, routing: "dv", csCapacity: this.routerCsPackets });
    for (const [i, h] of this.hosts.entries()) {
      const fw = await Forwarder.start(runDir, { name: `host${i + 1}`, netns: h.ns.name, host: h.address, routing: "dv",
        csCapacity: Math.max(this.hostCsPackets, 2), csAdmit: this.hostCsPackets > 0 });
      this.hostForwarders.push(fw);
      await fw.addNeighbour(this.router.tcpUri);
      await this.router.addNeighbour(fw.tcpUri);
    }
    await this.addStaticRoutes();
  }

  /** Every forwarder of the site restarted (content stores empty); dv's neighbours linked again, static routes set again. */
  async restartForwarders(): Promise<void> {
    const all = [this.router!, ...this.hostForwarders];
    await Promise.all(all.map((f) => f.restart()));
    await Promise.all(all.map((f) => f.linkNeighbours()));
    await this.addStaticRoutes();
  }

  private async addStaticRoutes(): Promise<void> {
    await this.router!.addRoute(this.wan.prefix, this.wan.link.ndndTcpUri, UPLINK_COST);
    await Promise.all(this.hostForwarders.map((f) => f.addRoute(this.wan.prefix, this.router!.tcpUri, UPLINK_COST)));
  }

  /** Host `i`'s client (replacing a running one), its store in a directory of its own unless `freshStore`. */
  async startClient(i: number, opts: { freshStore?: boolean } = {}): Promise<ClientHandle> {
    await this.clients.get(i)?.stop();
    const storeDir = path.join(this.wan.stack.runDir, `store-host${i + 1}${opts.freshStore ? `-${++this.storeGeneration}` : ""}`);
    const c = await this.wan.client(this.hosts[i]!, this.hostForwarders[i]!.uri, ["--store-dir", storeDir, "--trust-anchor", this.certFile]);
    this.clients.set(i, c);
    return c;
  }

  /**
   * The processes of a pull on host `puller`, by role: its forwarder and client, the site router,
   * and every other host's forwarder and client (the stores that answer it).
   */
  cpuRoles(puller: number): CpuRoles {
    const pids = (xs: ReadonlyArray<number | undefined>) => xs.filter((p): p is number => p !== undefined);
    const others = [...this.clients].filter(([i]) => i !== puller).map(([, c]) => c.proc.child.pid);
    return {
      "pulling ndnd": pids([this.hostForwarders[puller]?.pid]),
      "router ndnd": pids([this.router?.pid]),
      "storing ndnds": pids(this.hostForwarders.filter((_, i) => i !== puller).map((f) => f.pid)),
      "pulling client": pids([this.clients.get(puller)?.proc.child.pid]),
      "storing clients": pids(others),
    };
  }

  async stopClients(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.stop()));
    this.clients.clear();
  }

  /** Wait until every host's forwarder routes each digest's canonical prefix (through dv); resolves with the seconds it took. */
  async waitForBlobRoutes(digests: readonly string[], timeoutMs = 60_000): Promise<number> {
    const t0 = performance.now();
    const wanted = digests.map((d) => canonicalBlobName(new Name(this.wan.prefix), parseSha256Digest(d)!));
    await waitUntil(`${digests.length} blob prefixes on every host's forwarder`, async () => {
      const tables = await Promise.all(this.hostForwarders.map((f) => routePrefixes(f)));
      return tables.every((routes) => wanted.every((w) => routes.some((r) => r.prefix.equals(w))));
    }, timeoutMs, 250);
    return (performance.now() - t0) / 1000;
  }

  /** Shape every LAN link both ways (host egress and the router's egress towards each host). */
  async shapeLan(rateMbit: number): Promise<void> {
    const shape: LinkShape = { rateMbit, rttMs: 1 };
    const router = this.wan.topo.edges[0]!.router;
    await Promise.all(this.hosts.flatMap((h, i) => [shapeEgress(h.ns, "wb-lan", shape), shapeEgress(router, `wb-h${i + 1}`, shape)]));
  }

  /**
   * A bulk TCP transfer of about two seconds from the first host to the second (through the
   * router), counted on the router's shaper: rejects when the wire rate is more than
   * LINK_TOLERANCE from `rateMbit`.
   */
  async checkLan(rateMbit: number): Promise<LanCheck> {
    const [from, to] = [this.hosts[0]!, this.hosts[1]!];
    const server = new ManagedProcess("probe-site", process.execPath, [PROBE_MAIN, "serve", String(PROBE_PORT)],
      { logFile: path.join(this.wan.stack.runDir, "probe-site.log"), netns: from.ns.name });
    try {
      await server.waitForLine(/probe ready/);
      const router = this.wan.topo.edges[0]!.router;
      const probe = async (...args: Array<string | number>) => JSON.parse(await to.ns.exec(process.execPath, [PROBE_MAIN, ...args.map(String)], 120_000)) as
        { bytes: number; seconds: number; samplesMs: number[] };
      const c0 = await shaperCounters(router, "wb-h2");
      const r = await probe("down", from.address, PROBE_PORT, Math.round(rateMbit * 1e6 / 8 * 2));
      const c1 = await shaperCounters(router, "wb-h2");
      const check: LanCheck = {
        setMbit: rateMbit, wireMbit: (c1.bytes - c0.bytes) * 8 / r.seconds / 1e6, goodputMbit: r.bytes * 8 / r.seconds / 1e6,
        rttMs: median((await probe("rtt", from.address, PROBE_PORT, 20)).samplesMs),
      };
      if (Math.abs(check.wireMbit - rateMbit) > LINK_TOLERANCE * rateMbit) {
        throw new Error(`site LAN set to ${rateMbit} Mbit/s measured ${check.wireMbit.toFixed(1)} Mbit/s on the wire (tolerance ${LINK_TOLERANCE * 100}%): refusing to report`);
      }
      return check;
    } finally {
      await server.stop();
    }
  }

  async stop(): Promise<void> {
    await this.stopClients();
    await Promise.all([...(this.router ? [this.router] : []), ...this.hostForwarders].map((f) => f.stop()));
    await this.wan.stop();
  }
}
