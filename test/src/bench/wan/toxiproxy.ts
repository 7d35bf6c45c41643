import path from "node:path";

import type { Netns } from "../netns.js";
import { ManagedProcess, waitUntil } from "../process.js";

const API_PORT = 8474;

/**
 * toxiproxy (the pinned module `.ci/install-toxiproxy` builds) in a namespace: TCP proxies whose
 * latency toxics add half a round trip in each direction. Its API listens on that namespace's
 * loopback only and is driven with curl from inside.
 */
export class Toxiproxy {
  private readonly proxies = new Set<string>();

  private constructor(private readonly ns: Netns, private readonly proc: ManagedProcess) {}

  static async start(runDir: string, ns: Netns): Promise<Toxiproxy> {
    const proc = new ManagedProcess(`toxiproxy-${ns.name}`, "toxiproxy-server", ["-host", "127.0.0.1", "-port", String(API_PORT)],
      { logFile: path.join(runDir, `toxiproxy-${ns.name}.log`), netns: ns.name });
    const t = new Toxiproxy(ns, proc);
    await waitUntil("toxiproxy API", async () => (await t.api("GET", "/version")).length > 0);
    return t;
  }

  private async api(method: string, route: string, body?: unknown): Promise<string> {
    return this.ns.exec("curl", ["-sSf", "-m", "5", "-X", method, ...(body === undefined ? [] : ["-H", "content-type: application/json", "-d", JSON.stringify(body)]),
      `http://127.0.0.1:${API_PORT}${route}`]);
  }

  /** A proxy listening on `listen` (host:port in the namespace) for `upstream`, no latency yet. */
  async addProxy(name: string, listen: string, upstream: string): Promise<void> {
    await this.api("POST", "/proxies", { name, listen, upstream, enabled: true });
    this.proxies.add(name);
  }

  /** Every proxy's round trip: half of it added to each direction. */
  async setRtt(rttMs: number): Promise<void> {
    for (const name of this.proxies) {
      for (const stream of ["upstream", "downstream"] as const) {
        const toxic = `latency-${stream}`;
        await this.api("DELETE", `/proxies/${name}/toxics/${toxic}`).catch(() => undefined);
        if (rttMs > 0) {
          await this.api("POST", `/proxies/${name}/toxics`, { name: toxic, type: "latency", stream, toxicity: 1, attributes: { latency: rttMs / 2, jitter: 0 } });
        }
      }
    }
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
