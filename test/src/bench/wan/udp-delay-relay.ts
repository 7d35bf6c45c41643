import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Netns } from "../netns.js";
import { ManagedProcess } from "../process.js";

const MAIN = fileURLToPath(new URL("./udp-delay-relay-main.js", import.meta.url));

/** The UDP counterpart of a toxiproxy proxy: a relay process adding half a round trip each way. */
export class UdpDelayRelay {
  private constructor(private readonly proc: ManagedProcess) {}

  /** Datagrams to each `listen` (host:port in `ns`) go to its upstream, answers come back, each way `rttMs / 2` later. */
  static async start(runDir: string, ns: Netns, routes: ReadonlyArray<{ listen: string; host: string; port: number }>, rttMs: number): Promise<UdpDelayRelay> {
    const proc = new ManagedProcess(`udp-relay-${ns.name}`, process.execPath, [MAIN, String(rttMs / 2), ...routes.map((r) => `${r.listen}=${r.host}:${r.port}`)],
      { logFile: path.join(runDir, `udp-relay-${ns.name}.log`), netns: ns.name });
    await proc.waitForLine(/relay ready/);
    return new UdpDelayRelay(proc);
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
