import type { Netns } from "../netns.js";

/** Rate and round-trip time of an emulated link. */
export interface LinkShape {
  readonly rateMbit: number;
  readonly rttMs: number;
}

/** Bytes and packets a device's shaper has sent (Ethernet frames, headers included). */
export interface ShaperCounters {
  readonly bytes: number;
  readonly packets: number;
  readonly drops: number;
}

/**
 * The bottleneck queue: one bandwidth-delay product (the classic rule for a router buffer that lets
 * a single flow keep the link busy), never under two 64 KB GSO frames (a veth passes them whole; a
 * FIFO that cannot hold two drops nearly every one, and a short LAN's TCP falls to a few Mbit/s).
 * The latency itself is added by the relays, outside this queue, so it holds only what a sender
 * pushes beyond the link's rate.
 */
export function queueBytes(shape: LinkShape): number {
  return Math.max(140_000, Math.round((shape.rateMbit * 1e6 / 8) * (shape.rttMs / 1000)));
}

/**
 * Egress rate limit on `dev`: an HTB class at the link rate over a byte FIFO of `queueBytes`
 * (drop-tail: fq_codel and netem are not built into this kernel). HTB, not tbf: it keeps GSO
 * frames whole, where tbf splits them and costs CPU the bench needs at 400 Mbit/s. Replaces
 * whatever was there.
 */
export async function shapeEgress(ns: Netns, dev: string, shape: LinkShape): Promise<void> {
  const rate = `${shape.rateMbit}mbit`;
  const burst = Math.max(32_000, Math.round(shape.rateMbit * 1e6 / 8 * 0.002)); // 2 ms at the rate
  await ns.exec("tc", ["qdisc", "del", "dev", dev, "root"]).catch(() => undefined);
  await ns.exec("tc", ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1"]);
  await ns.exec("tc", ["class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", rate, "ceil", rate,
    "burst", `${burst}b`, "cburst", `${burst}b`, "quantum", "60000"]);
  await ns.exec("tc", ["qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "bfifo", "limit", `${queueBytes(shape)}b`]);
}

/** What the shaper on `dev` has sent and dropped so far. */
export async function shaperCounters(ns: Netns, dev: string): Promise<ShaperCounters> {
  // This iproute2 prints classes as text even with -j; qdiscs come as JSON.
  const qdiscs = JSON.parse(await ns.exec("tc", ["-j", "-s", "qdisc", "show", "dev", dev])) as Array<{ kind: string; root?: boolean; bytes: number; packets: number; drops: number }>;
  const root = qdiscs.find((q) => q.root && q.kind === "htb");
  if (!root) {
    throw new Error(`${ns.name} ${dev}: no shaper`);
  }
  return { bytes: root.bytes, packets: root.packets, drops: qdiscs.reduce((n, q) => n + q.drops, 0) };
}
