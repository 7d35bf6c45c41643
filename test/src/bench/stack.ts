import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { CountingProxy } from "./counting-proxy.js";
import { entryCommand } from "./entry.js";
import { Forwarder } from "./forwarder.js";
import { scrapeMetrics } from "./metrics-scrape.js";
import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";
import { Redirector } from "./redirector.js";
import { Registry, type RegistryAuth } from "./registry.js";
import { makeRunDir } from "./run-dir.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));
export const SERVER_MAIN = path.join(root, "server/dist/main.js");
export const CLIENT_MAIN = path.join(root, "client/dist/main.js");

export interface ClientHandle {
  readonly proc: ManagedProcess;
  /** host:port of the client's registry endpoint. */
  readonly host: string;
  readonly url: string;
  stop(): Promise<void>;
  /** JSON "blob done" log lines printed so far. */
  blobLogs(): BlobLog[];
}

export interface BlobLog {
  repository: string;
  digest: string;
  bytes: number;
  source: "ndn" | "http" | "ndn+http";
  /** With NDN: bytes that came over it, and Interests sent again. */
  ndnBytes?: number;
  retransmissions?: number;
  /** Name kind the segments came under, and bytes of every Data packet received (segments, metadata, manifest nodes). */
  names?: "canonical" | "legacy";
  ndnPacketBytes?: number;
  badSegments?: number;
  refetched?: number;
  repaired?: number;
  /** The fetch's smoothed round trip and final window at its end, and congestion marks seen. */
  srttMs?: number;
  window?: number;
  congestionMarks?: number;
  seconds?: number;
  mbps?: number;
}

export interface StackOptions {
  readonly label: string;
  readonly prefix?: string;
  readonly csCapacity?: number;
  readonly serverEnv?: Record<string, string>;
  readonly registryAuth?: RegistryAuth;
  /**
   * Put a Redirector in front of the registry: blob GETs and HEADs are answered with 307 to
   * signed storage URLs valid this long. The server and clients then use it as their registry.
   */
  readonly redirectExpiresMs?: number;
  /**
   * Run registry, forwarder and server inside this network namespace; `host` is the namespace's
   * address that this process reaches them by (their listeners take every address there).
   */
  readonly netns?: string;
  readonly host?: string;
}

/** registry + ndnd + server, with clients started on demand; on loopback, or in network namespaces. */
export class Stack {
  server?: ManagedProcess;
  private readonly clients: ClientHandle[] = [];
  private readonly proxies: CountingProxy[] = [];
  private serverStarts = 0;
  /** Counted at each start, not from `clients`: clients started at once get their own log files. */
  private clientStarts = 0;
  private readonly extraServers: ManagedProcess[] = [];
  /** Base URL of the running server's /metrics and /healthz. */
  serverMetricsUrl?: string;

  private constructor(
    readonly runDir: string,
    private readonly cleanup: () => void,
    readonly registry: Registry,
    readonly forwarder: Forwarder,
    readonly prefix: string,
    private readonly serverEnv: Record<string, string>,
    readonly redirector?: Redirector,
    readonly netns?: string,
    /** The address this process reaches the stack's listeners by. */
    private readonly address = "127.0.0.1",
  ) {}

  /** What the server and clients talk to: the redirector if there is one, else the registry. */
  get registryFrontUrl(): string {
    return this.redirector?.url ?? this.registry.url;
  }

  static async start(opts: StackOptions): Promise<Stack> {
    const { dir, cleanup } = makeRunDir(opts.label);
    const registry = await Registry.start(dir, { auth: opts.registryAuth, netns: opts.netns, host: opts.host });
    const issuer = registry.tokenIssuer;
    const redirector = opts.redirectExpiresMs === undefined ? undefined : await Redirector.start(registry.url, {
      expiresMs: opts.redirectExpiresMs,
      storageAuthorization: issuer && ((name) => `Bearer ${issuer.mint("storage", [{ type: "repository", name, actions: ["pull"] }])}`),
    });
    const forwarder = await Forwarder.start(dir, { csCapacity: opts.csCapacity, netns: opts.netns, host: opts.host });
    const stack = new Stack(dir, cleanup, registry, forwarder, opts.prefix ?? "/ndnreg/test", opts.serverEnv ?? {}, redirector, opts.netns, opts.host);
    await stack.startServer();
    return stack;
  }

  /**
   * Start the server and wait until its prefix is registered in the forwarder. ndnd takes prefix
   * registrations only from Unix faces: with a TCP or UDP uplink (NDNREG_ROUTER) the route to the
   * server's face is added here, as an operator would.
   */
  async startServer(extraEnv: Record<string, string> = {}, fw: Forwarder = this.forwarder): Promise<ManagedProcess> {
    await this.stopServer(); // never leak the previous one (its pipes would keep the test alive)
    const uplink = extraEnv["NDNREG_ROUTER"] ?? this.serverEnv["NDNREG_ROUTER"] ?? fw.uri;
    const facesBefore = uplink.startsWith("unix:") ? undefined : await fw.faceIds();
    const n = ++this.serverStarts;
    const metricsPort = await freePort();
    const metricsHost = `${this.address}:${metricsPort}`;
    this.serverMetricsUrl = `http://${metricsHost}`;
    const entry = entryCommand(SERVER_MAIN, []);
    this.server = new ManagedProcess(`server${n}`, entry.cmd, entry.args, {
      logFile: path.join(this.runDir, `server${n}.log`),
      cwd: this.runDir,
      netns: this.netns,
      env: {
        ...process.env, NDNREG_ROUTER: fw.uri, NDNREG_UPSTREAM: this.registryFrontUrl, NDNREG_NAME: this.prefix,
        NDNREG_LOG_LEVEL: "info", NDNREG_METRICS_LISTEN: metricsHost, ...this.serverEnv, ...extraEnv, ...entry.env,
      },
    });
    await this.server.waitForLine(/"uplink up"/);
    if (facesBefore) {
      let face: number | undefined;
      await waitUntil(`the server's face on ${fw.name}`, async () => {
        face = (await fw.faceIds(/^(tcp|udp)4:/)).find((id) => !facesBefore.includes(id));
        return face !== undefined;
      });
      await fw.control("route-add", `prefix=${this.prefix}`, `face=${face}`);
    }
    await this.waitForRoute(fw);
    return this.server;
  }

  /**
   * Another server process on the same prefix (e.g. a rogue producer reading a corrupting
   * proxy); stopped with the stack.
   */
  async startExtraServer(env: Record<string, string>): Promise<ManagedProcess> {
    const n = ++this.serverStarts;
    const entry = entryCommand(SERVER_MAIN, []);
    const proc = new ManagedProcess(`server${n}`, entry.cmd, entry.args, {
      logFile: path.join(this.runDir, `server${n}.log`),
      cwd: this.runDir,
      env: {
        ...process.env, NDNREG_ROUTER: this.forwarder.uri, NDNREG_UPSTREAM: this.registry.url, NDNREG_NAME: this.prefix,
        NDNREG_LOG_LEVEL: "info", NDNREG_METRICS_LISTEN: "", ...env, ...entry.env,
      },
    });
    this.extraServers.push(proc);
    await proc.waitForLine(/"uplink up"/);
    return proc;
  }

  /**
   * A keychain for a server (give it `env`) and its certificate, exported by the server's own
   * --print-certificate, in a file for clients' --trust-anchor.
   */
  async serverKey(name = "keychain"): Promise<{ env: Record<string, string>; certFile: string }> {
    const dir = path.join(this.runDir, name);
    const env = { NDNREG_KEYCHAIN: dir };
    const entry = entryCommand(SERVER_MAIN, ["--print-certificate", "--name", this.prefix]);
    const { stdout } = await run(entry.cmd, entry.args, { cwd: this.runDir, env: { ...process.env, ...env, ...entry.env } });
    const certFile = path.join(this.runDir, `${name}.cert`);
    writeFileSync(certFile, stdout);
    return { env, certFile };
  }

  async waitForRoute(fw: Forwarder = this.forwarder, timeoutMs = 10_000, prefix = this.prefix): Promise<void> {
    await waitUntil(`route ${prefix} on ${fw.name}`, async () => (await fw.routes()).includes(`prefix=${prefix} `), timeoutMs, 100);
  }

  /** Segment Data the running server has produced (its Interests answered with Data), from its /metrics. */
  async serverSegments(): Promise<number> {
    return (await scrapeMetrics(`${this.serverMetricsUrl}/metrics`)).get('ndnreg_server_interests_total{outcome="data"}') ?? NaN;
  }

  async stopServer(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.server?.stop(signal);
  }

  /** A proxy in front of the registry (or its redirector) that counts (and optionally refuses) blob GETs. */
  async proxy(refuseBlobs: boolean): Promise<CountingProxy> {
    const p = await CountingProxy.start(this.registryFrontUrl, { refuseBlobs });
    this.proxies.push(p);
    return p;
  }

  /** `fch`: no --router; the client asks this NDN-FCH service instead. */
  /** `netns`: run it in that network namespace (then `upstream` and `router` must be reachable from there, and its url only is). */
  async startClient(opts: { upstream?: string; router?: string; fch?: string; name?: string; args?: string[]; netns?: string } = {}): Promise<ClientHandle> {
    const port = await freePort();
    const n = ++this.clientStarts;
    const entry = entryCommand(CLIENT_MAIN, [
      "--upstream", opts.upstream ?? this.registryFrontUrl,
      "--name", opts.name ?? this.prefix,
      "--listen", `127.0.0.1:${port}`,
      ...(opts.fch === undefined ? ["--router", opts.router ?? this.forwarder.uri] : ["--fch", opts.fch]),
      ...(opts.args ?? []),
    ], "client");
    // In the run directory, as the servers: a .env in the checkout is not the test's.
    const proc = new ManagedProcess(`client${n}`, entry.cmd, entry.args, {
      logFile: path.join(this.runDir, `client${n}.log`), cwd: this.runDir, env: { ...process.env, ...entry.env }, netns: opts.netns,
    });
    await proc.waitForLine(/"client ready"/);
    const host = `127.0.0.1:${port}`;
    const handle: ClientHandle = {
      proc, host, url: `http://${host}`,
      stop: () => proc.stop(),
      blobLogs: () => proc.grep(/"blob done"/).map((l) => JSON.parse(l) as BlobLog),
    };
    this.clients.push(handle);
    return handle;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop()));
    await Promise.all(this.proxies.map((p) => p.stop()));
    await this.stopServer();
    await Promise.all(this.extraServers.map((p) => p.stop()));
    await this.forwarder.stop();
    await this.redirector?.stop();
    await this.registry.stop();
    this.cleanup();
  }
}
