import { execFile } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { promisify } from "node:util";

import { Forwarder as NdnForwarder } from "@ndn/fw";
import { ControlParameters, invoke } from "@ndn/nfdmgmt";
import { UnixTransport } from "@ndn/node-transport";
import { Name } from "@ndn/packet";

import { freeTcpUdpPort } from "./ports.js";
import { ManagedProcess } from "./process.js";
import { udpLocalPorts } from "./proc-stats.js";

/**
 * How the bench and tests run ndnd, as the README advises operators to: freed heap pages stay
 * mapped until the kernel needs them (MADV_FREE, Go's default before 1.16), so ndnd, whose live
 * heap swings with the packets in flight, does not fault them back in after every burst
 * (docs/performance.md, "Memory given back").
 */
const FORWARDER_ENV = { GODEBUG: "madvdontneed=0" };

const run = promisify(execFile);

/** The NDN packet size limit (NFD, ndnd): a UDP MTU this large carries every packet whole. */
export const NDN_MAX_PACKET_BYTES = 8800;
/** ndnd's own `faces.udp.default_mtu`: an NDNLPv2 frame and its IPv6 and UDP headers fit a 1500-byte frame. */
export const STOCK_UDP_MTU = 1420;

export interface ForwarderOptions {
  readonly name?: string;
  /** Content store capacity in Data packets (whole forwarder). */
  readonly csCapacity?: number;
  /** false: the content store admits no Data (no insert per packet, nothing to serve). Default true. */
  readonly csAdmit?: boolean;
  /** Run inside this network namespace (ndnd listens on all its addresses). */
  readonly netns?: string;
  /** The address tcpUri and udpUri name (with `netns`: one of the namespace's addresses). */
  readonly host?: string;
  /**
   * "dv": run ndnd's distance-vector router beside the forwarder (`ndnd daemon`, docs/site.md): it
   * carries the routes apps register (origin client) to the neighbours added by addNeighbour.
   */
  readonly routing?: "dv";
  /** The dv network name, the same on every router of a site ("/site"); the router is `<network>/<name>`. */
  readonly dvNetwork?: string;
  /**
   * ndnd's `faces.udp.default_mtu`, the largest datagram it sends on a UDP face; larger packets
   * leave as NDNLPv2 fragments. Fitted to the link: 8800 (whole packets) on a loopback-only
   * forwarder (no `netns`, 127.0.0.1: loopback's MTU is 65536), 1420 otherwise (the namespaces'
   * veths carry 1500-byte frames). `NDND_UDP_MTU` overrides both.
   */
  readonly udpMtu?: number;
}

/** The UDP MTU a forwarder's configuration gets (docs/operations.md, "The forwarder's UDP MTU"). */
function fittedUdpMtu(opts: ForwarderOptions): number {
  const override = process.env["NDND_UDP_MTU"];
  if (override) {
    const mtu = Number(override);
    if (!Number.isInteger(mtu) || mtu < 64 || mtu > NDN_MAX_PACKET_BYTES) {
      throw new Error(`NDND_UDP_MTU=${override}: expected an integer from 64 to ${NDN_MAX_PACKET_BYTES}`);
    }
    return mtu;
  }
  const loopbackOnly = opts.netns === undefined && (opts.host ?? "127.0.0.1") === "127.0.0.1";
  return opts.udpMtu ?? (loopbackOnly ? NDN_MAX_PACKET_BYTES : STOCK_UDP_MTU);
}

/** How often dv routers advertise to neighbours, and when one is declared dead (ndnd's defaults: 5 s, 30 s). */
const DV_ADVERTISE_MS = 1000;
const DV_DEAD_MS = 5000;

/** A real ndnd forwarder with its own Unix socket and UDP/TCP port. */
export class Forwarder {
  private proc?: ManagedProcess;
  readonly socketPath: string;
  /** dv's neighbours (face URIs), kept in its configuration so that they survive restarts. */
  private readonly neighbours: string[] = [];
  private fwConfig: object = {};

  private constructor(private readonly dir: string, readonly name: string, readonly port: number, readonly host: string, readonly udpMtu: number,
    private readonly netns?: string, private readonly dvNetwork?: string) {
    this.socketPath = path.join(dir, "nfd.sock");
  }

  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  get uri(): string {
    return `unix://${this.socketPath}`;
  }

  get tcpUri(): string {
    return `tcp://${this.host}:${this.port}`;
  }

  get udpUri(): string {
    return `udp://${this.host}:${this.port}`;
  }

  static async start(runDir: string, opts: ForwarderOptions = {}): Promise<Forwarder> {
    const name = opts.name ?? "ndnd";
    const dvNetwork = opts.routing === "dv" ? opts.dvNetwork ?? "/site" : undefined;
    const f = new Forwarder(path.join(runDir, name), name, await freeTcpUdpPort(), opts.host ?? "127.0.0.1", fittedUdpMtu(opts),
      opts.netns, dvNetwork);
    mkdirSync(f.dir, { recursive: true });
    const threads = Number(process.env["NDND_THREADS"] ?? 2);
    // ndnd's capacity is per forwarding thread.
    const perThread = Math.ceil((opts.csCapacity ?? 65536) / threads);
    f.fwConfig = {
      core: { log_level: process.env["NDND_LOG_LEVEL"] ?? "WARN" },
      faces: {
        udp: {
          enabled_unicast: true, enabled_multicast: false, port_unicast: f.port, default_mtu: f.udpMtu,
        },
        tcp: { enabled: true, port_unicast: f.port },
        unix: { enabled: true, socket_path: f.socketPath },
        websocket: { enabled: false },
      },
      fw: { threads },
      tables: { content_store: { capacity: perThread, admit: opts.csAdmit ?? true, serve: true, replacement_policy: "lru" } },
    };
    await f.startProcess();
    return f;
  }

  /** The dv router's name (with routing "dv"). */
  get dvRouter(): string | undefined {
    return this.dvNetwork && `${this.dvNetwork}/${this.name}`;
  }

  /**
   * ndnd's configuration, written before each start. JSON is YAML, and ndnd reads it as strictly.
   * With dv: the combined daemon's `fw` and `dv` sections; security "insecure" (no keys or trust
   * schema: the site's routers trust each other; clients verify every blob they are routed to).
   */
  private writeConfig(): string {
    const dv = this.dvNetwork && {
      network: this.dvNetwork, router: this.dvRouter, keychain: "insecure",
      advertise_interval: DV_ADVERTISE_MS, router_dead_interval: DV_DEAD_MS,
      neighbors: this.neighbours.map((uri) => ({ uri })),
    };
    const file = path.join(this.dir, dv ? "ndnd.yml" : "fw.yml");
    writeFileSync(file, `${JSON.stringify(dv ? { fw: this.fwConfig, dv } : this.fwConfig, null, 2)}\n`);
    return file;
  }

  async startProcess(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    // NDND_CPU_PROFILE=<dir>: a Go CPU profile per forwarder start (`go tool pprof -top ndnd <file>`); not with dv (`ndnd daemon` has no such flag).
    const profile = process.env["NDND_CPU_PROFILE"];
    const profileArgs = profile ? ["--cpu-profile", path.join(profile, `${this.name}-${Date.now()}.pprof`)] : [];
    const config = this.writeConfig();
    const command = this.dvNetwork ? ["daemon", config] : ["fw", "run", ...profileArgs, config];
    this.proc = new ManagedProcess(this.name, "ndnd", command,
      { logFile: path.join(this.dir, "ndnd.log"), env: { ...process.env, ...FORWARDER_ENV }, netns: this.netns });
    await this.proc.waitUntil(`${this.name}'s socket accepted a connection`, () => new Promise<boolean>((resolve) => {
      if (!existsSync(this.socketPath)) {
        resolve(false);
        return;
      }
      const s = connect(this.socketPath, () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    }));
    if (this.dvNetwork) {
      // The daemon starts dv a second after the forwarder; a route registered before dv listens
      // is not readvertised until the app refreshes it.
      await this.proc.waitUntil(`${this.name}'s dv router answered`, () => this.dv("status").then(() => true, () => false));
    }
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, downMs));
    await this.startProcess();
  }

  /** `ndnd fw <args>` against this forwarder. */
  async control(...args: string[]): Promise<string> {
    const { stdout } = await run("ndnd", ["fw", ...args], { env: { ...process.env, NDN_CLIENT_TRANSPORT: this.uri }, timeout: 10_000 });
    return stdout;
  }

  /** Route a prefix towards another forwarder or a face URI (creates the face). */
  async addRoute(prefix: string, faceUri: string, cost = 0): Promise<void> {
    await this.control("route-add", `prefix=${prefix}`, `face=${faceUri}`, `cost=${cost}`);
  }

  /** `ndnd dv <args>` against this forwarder's router (routing "dv"). */
  async dv(...args: string[]): Promise<string> {
    const { stdout } = await run("ndnd", ["dv", ...args], { env: { ...process.env, NDN_CLIENT_TRANSPORT: this.uri }, timeout: 10_000 });
    return stdout;
  }

  /** A dv neighbour at `faceUri` (another router's tcpUri or udpUri), now and after restarts. */
  async addNeighbour(faceUri: string): Promise<void> {
    if (!this.dvNetwork) {
      throw new Error(`${this.name} runs no dv router`);
    }
    this.neighbours.push(faceUri);
    await this.dv("link-create", faceUri);
  }

  /**
   * Link dv's neighbours again (idempotent). dv creates its faces to neighbours once, at start: a
   * TCP neighbour that was not listening then (restarted at the same time) stays unlinked until this.
   */
  async linkNeighbours(): Promise<void> {
    for (const uri of this.neighbours) {
      await this.dv("link-create", uri);
    }
  }

  async routes(): Promise<string> {
    return this.control("route-list");
  }

  /** IDs of the forwarder's faces, those whose remote URI matches `remote` if given. */
  async faceIds(remote?: RegExp): Promise<number[]> {
    return (await this.control("face-list")).split("\n").flatMap((line) => {
      const m = /faceid=(\d+) remote=(\S+)/.exec(line);
      return m && (!remote || remote.test(m[2]!)) ? [Number(m[1])] : [];
    });
  }

  /**
   * The face of a process's UDP socket (the process must have sent already: ndnd creates a UDP
   * face on its first datagram).
   */
  async udpFaceOf(pid: number): Promise<number> {
    const ports = udpLocalPorts(pid);
    const faces = await this.faceIds(new RegExp(`^udp[46]?://\\S+:(${ports.join("|")})$`));
    if (faces.length !== 1) {
      throw new Error(`${this.name}: expected one UDP face of process ${pid} (local ports ${ports.join(", ")}), found ${faces.length}`);
    }
    return faces[0]!;
  }

  /**
   * Set one face's MTU (NFD's `faces/update`; ndnd's CLI has no such verb): a UDP face of a
   * forwarder fitted to loopback can be given ndnd's stock 1420 to show what fragments cost.
   */
  async setFaceMtu(faceId: number, mtu: number): Promise<void> {
    const fw = NdnForwarder.create();
    const prefix = new Name("/localhost/nfd");
    const face = await UnixTransport.createFace({ fw, addRoutes: [prefix] }, this.socketPath);
    try {
      const res = await invoke("faces/update", { faceId, mtu }, { cOpts: { fw }, prefix });
      const set = res.statusCode === 200 ? ControlParameters.decodeFromResponseBody(res).mtu : undefined;
      if (set !== mtu) {
        throw new Error(`${this.name}: faces/update of face ${faceId} to MTU ${mtu}: ${res.statusCode} ${res.statusText}, MTU ${set}`);
      }
    } finally {
      face.close();
    }
  }

  /** Content-store counters from `ndnd fw cs-info`. */
  async csInfo(): Promise<{ entries: number; hits: number; misses: number }> {
    const text = await this.control("cs-info");
    const num = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(text)?.[1] ?? NaN);
    return { entries: num("nEntries"), hits: num("nHits"), misses: num("nMisses") };
  }
}

/** One line of `ndnd fw route-list`. */
export interface RouteEntry {
  readonly prefix: Name;
  readonly faceId: number;
  /** "client" (registered by an app), "static", "nlsr" (installed by dv), ... */
  readonly origin: string;
  readonly cost: number;
}

/** The forwarder's RIB, prefixes parsed as names (ndnd prints them in the URI format NDNts reads). */
export async function routePrefixes(fw: Forwarder): Promise<RouteEntry[]> {
  return (await fw.routes()).split("\n").flatMap((line) => {
    const m = /prefix=(\S+) nexthop=(\d+) origin=(\S+) cost=(\d+)/.exec(line);
    return m ? [{ prefix: new Name(m[1]), faceId: Number(m[2]), origin: m[3]!, cost: Number(m[4]) }] : [];
  });
}
