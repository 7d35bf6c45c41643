import type { Netns } from "../netns.js";

/**
 * Datagrams a namespace's UDP sockets dropped because their receive buffer was full (the
 * kernel's RcvbufErrors): a client whose uplink socket is too small for its window shows here.
 */
export async function udpReceiveBufferDrops(ns: Netns): Promise<number> {
  const lines = (await ns.exec("cat", ["/proc/net/snmp"])).split("\n").filter((l) => l.startsWith("Udp:"));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/).slice(1));
  const i = names?.indexOf("RcvbufErrors") ?? -1;
  if (i < 0 || !values) {
    throw new Error(`${ns.name}: no RcvbufErrors in /proc/net/snmp`);
  }
  return Number(values[i]);
}
