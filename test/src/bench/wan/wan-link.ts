import path from "node:path";
import { fileURLToPath } from "node:url";

import { ManagedProcess } from "../process.js";
import { type LinkShape, shapeEgress, shaperCounters, type ShaperCounters } from "./shaper.js";
import { WAN_DEV, type WanTopology } from "./topology.js";
import { Toxiproxy } from "./toxiproxy.js";
import { UdpDelayRelay } from "./udp-delay-relay.js";

export const PROBE_MAIN = fileURLToPath(new URL("./probe-main.js", import.meta.url));
/** Ports in the core's namespace (fresh, so fixed numbers are free). */
const CORE_PORT = { ndnd: 16363, registry: 15000, probe: 17000 } as const;
const PROBE_PORT = 7000;

/** Where the origin's services listen, on its WAN address. */
export interface OriginPorts {
  /** ndnd's TCP and UDP port. */
  readonly ndnd: number;
  readonly registry: number;
}

/** Bytes the WAN link's shapers sent: `down` from the origin towards the core, `up` back. */
export interface WanCounters {
  readonly down: ShaperCounters;
  readonly up: ShaperCounters;
}

/**
 * The WAN between the origin and the core: rate and queue by `tc` at both ends, latency by relays
 * in the core on every path that crosses it (toxiproxy for TCP, a delaying relay for UDP). Hosts
 * reach the origin's services across it at these addresses only; routed straight to the origin
 * they would see the rate but not the latency.
 */
export class WanLink {
  private relay?: UdpDelayRelay;
  shape?: LinkShape;

  private constructor(
    private readonly runDir: string,
    private readonly topo: WanTopology,
    private readonly origin: OriginPorts,
    private readonly toxiproxy: Toxiproxy,
    private readonly probe: ManagedProcess,
  ) {}

  static async create(runDir: string, topo: WanTopology, origin: OriginPorts): Promise<WanLink> {
    const probe = new ManagedProcess("probe-origin", process.execPath, [PROBE_MAIN, "serve", String(PROBE_PORT)],
      { logFile: path.join(runDir, "probe-origin.log"), netns: topo.origin.name });
    await probe.waitForLine(/probe ready/);
    const toxiproxy = await Toxiproxy.start(runDir, topo.core);
    const o = topo.originAddress;
    await toxiproxy.addProxy("ndnd", `0.0.0.0:${CORE_PORT.ndnd}`, `${o}:${origin.ndnd}`);
    await toxiproxy.addProxy("registry", `0.0.0.0:${CORE_PORT.registry}`, `${o}:${origin.registry}`);
    await toxiproxy.addProxy("probe", `0.0.0.0:${CORE_PORT.probe}`, `${o}:${PROBE_PORT}`);
    return new WanLink(runDir, topo, origin, toxiproxy, probe);
  }

  /** The origin's registry across the WAN (host:port, and as a URL). */
  get registryHost(): string {
    return `${this.topo.coreAddress}:${CORE_PORT.registry}`;
  }

  get registryUrl(): string {
    return `http://${this.registryHost}`;
  }

  /** The origin's forwarder across the WAN, over TCP (through toxiproxy) and UDP (the relay). */
  get ndndTcpUri(): string {
    return `tcp://${this.topo.coreAddress}:${CORE_PORT.ndnd}`;
  }

  get ndndUdpUri(): string {
    return `udp://${this.topo.coreAddress}:${CORE_PORT.ndnd}`;
  }

  /** host:port of the probe server across the WAN (TCP through toxiproxy, UDP through the relay). */
  get probeAddress(): { host: string; port: number } {
    return { host: this.topo.coreAddress, port: CORE_PORT.probe };
  }

  /** Set rate, queue and round trip (new UDP flows only: the relay is restarted). */
  async set(shape: LinkShape): Promise<void> {
    await shapeEgress(this.topo.origin, WAN_DEV, shape);
    await shapeEgress(this.topo.core, WAN_DEV, shape);
    await this.toxiproxy.setRtt(shape.rttMs);
    await this.relay?.stop();
    const [o, c] = [this.topo.originAddress, this.topo.coreAddress];
    this.relay = await UdpDelayRelay.start(this.runDir, this.topo.core, [
      { listen: `${c}:${CORE_PORT.ndnd}`, host: o, port: this.origin.ndnd },
      { listen: `${c}:${CORE_PORT.probe}`, host: o, port: PROBE_PORT },
    ], shape.rttMs);
    this.shape = shape;
  }

  async counters(): Promise<WanCounters> {
    const [down, up] = await Promise.all([shaperCounters(this.topo.origin, WAN_DEV), shaperCounters(this.topo.core, WAN_DEV)]);
    return { down, up };
  }

  async stop(): Promise<void> {
    await this.relay?.stop();
    await this.toxiproxy.stop();
    await this.probe.stop();
  }
}
