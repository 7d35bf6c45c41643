import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { Netns, sweepStaleNetns } from "../netns.js";

const run = promisify(execFile);

/** A host: a namespace with one address, its default route towards its site's router. */
export interface WanHost {
  readonly ns: Netns;
  readonly address: string;
}

/** An edge site: a router namespace (the site's forwarder, caches, relays) and its hosts. */
export interface EdgeSite {
  readonly router: Netns;
  /** The router's address towards the core. */
  readonly address: string;
  /** The router's address as its hosts see it (any of its LAN addresses routes to it). */
  readonly lanAddress: string;
  readonly hosts: readonly WanHost[];
}

/** Name of the WAN veth at both of its ends (origin and core). */
export const WAN_DEV = "wb-wan";

/**
 * The emulated network, one namespace per box:
 *
 *   bench (this process) -- mgmt -- origin  ==== WAN (shaped) ====  core -- edge 1 -- hosts 1..K
 *                                                                        \- edge 2 -- hosts ...
 *
 * The origin site is one namespace (registry, server, its forwarder); the core is a router (IP
 * forwarding; the latency relays and the core forwarder run there); each edge site is a router
 * with hosts behind point-to-point links. Only the WAN link is shaped; every other link is a plain
 * veth. The bench reaches the origin over `mgmt` (to push images and read the server's metrics);
 * everything else it runs through `ip netns exec`.
 */
export class WanTopology {
  private constructor(
    readonly origin: Netns,
    /** The origin's address on the mgmt link, reachable from this process. */
    readonly originMgmtAddress: string,
    /** The origin's address on the WAN link: what the core's relays connect to. */
    readonly originAddress: string,
    readonly core: Netns,
    /** The core's address on the WAN link, reachable from every host. */
    readonly coreAddress: string,
    readonly edges: readonly EdgeSite[],
  ) {}

  static async create(opts: { edges: number; hostsPerEdge: number }): Promise<WanTopology> {
    if (opts.hostsPerEdge > 60 || opts.edges > 50) {
      throw new Error("at most 50 edge sites of 60 hosts");
    }
    await sweepStaleNetns();
    const net = await freeSubnet();
    const created: Netns[] = [];
    const ns = async (label: string, forwarding: boolean) => {
      const n = await Netns.create(label, { forwarding });
      created.push(n);
      return n;
    };
    try {
      const origin = await ns("origin", false);
      const core = await ns("core", true);
      // mgmt: this process <-> origin. The root end needs a name unique on the whole machine.
      const mgmt = `wb${process.pid}m`.slice(0, 15);
      await run("ip", ["link", "add", mgmt, "type", "veth", "peer", "name", "wb-mgmt", "netns", origin.name]);
      await run("ip", ["addr", "add", `${net}.255.1/30`, "dev", mgmt]);
      await run("ip", ["link", "set", mgmt, "up"]);
      await address(origin, "wb-mgmt", `${net}.255.2/30`);
      await veth(origin, WAN_DEV, `${net}.0.1/30`, core, WAN_DEV, `${net}.0.2/30`);
      await origin.ip("route", "add", "default", "via", `${net}.0.2`);
      const edges: EdgeSite[] = [];
      for (let i = 1; i <= opts.edges; ++i) {
        const router = await ns(`e${i}`, true);
        await veth(core, `wb-e${i}`, `${net}.${i}.1/30`, router, "wb-core", `${net}.${i}.2/30`);
        await core.ip("route", "add", `${net}.${100 + i}.0/24`, "via", `${net}.${i}.2`);
        await router.ip("route", "add", "default", "via", `${net}.${i}.1`);
        const hosts: WanHost[] = [];
        for (let h = 0; h < opts.hostsPerEdge; ++h) {
          const host = await ns(`e${i}h${h + 1}`, false);
          const gw = `${net}.${100 + i}.${4 * h + 1}`;
          await veth(router, `wb-h${h + 1}`, `${gw}/30`, host, "wb-lan", `${net}.${100 + i}.${4 * h + 2}/30`);
          await host.ip("route", "add", "default", "via", gw);
          hosts.push({ ns: host, address: `${net}.${100 + i}.${4 * h + 2}` });
        }
        edges.push({ router, address: `${net}.${i}.2`, lanAddress: `${net}.${100 + i}.1`, hosts });
      }
      return new WanTopology(origin, `${net}.255.2`, `${net}.0.1`, core, `${net}.0.2`, edges);
    } catch (err) {
      await Promise.all(created.map((n) => n.delete()));
      throw err;
    }
  }

  /** Every namespace, e.g. to look for a process's leftovers. */
  get namespaces(): Netns[] {
    return [this.origin, this.core, ...this.edges.flatMap((e) => [e.router, ...e.hosts.map((h) => h.ns)])];
  }

  async destroy(): Promise<void> {
    await Promise.all(this.namespaces.map((n) => n.delete()));
  }
}

/** A veth pair created straight into its two namespaces, addressed and up. */
async function veth(a: Netns, devA: string, addrA: string, b: Netns, devB: string, addrB: string): Promise<void> {
  await run("ip", ["link", "add", devA, "netns", a.name, "type", "veth", "peer", "name", devB, "netns", b.name]);
  await address(a, devA, addrA);
  await address(b, devB, addrB);
}

async function address(ns: Netns, dev: string, cidr: string): Promise<void> {
  await ns.ip("addr", "add", cidr, "dev", dev);
  await ns.ip("link", "set", dev, "up");
}

/**
 * "10.N": a /16 that no route of this machine's own namespace touches (the mgmt link's /30 is the
 * only one of ours it sees), so two benches or a real network never collide with it.
 */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run("ip", ["-4", "route", "show", "table", "all"]);
  for (let k = 0; k < 128; ++k) {
    const n = 100 + ((process.pid + k) % 128);
    if (!stdout.includes(`10.${n}.`) && !stdout.includes("10.0.0.0/8 ")) {
      return `10.${n}`;
    }
  }
  throw new Error("no free 10.N.0.0/16 for the emulated WAN");
}
