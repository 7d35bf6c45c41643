import { median } from "../layer-rounds.js";
import type { LinkShape } from "./shaper.js";
import type { WanHost } from "./topology.js";
import { PROBE_MAIN, type WanLink } from "./wan-link.js";

/** How far a measured rate or round trip may be from what was set before the bench refuses. */
export const LINK_TOLERANCE = 0.1;

/** What the link measured: wire rates from the shapers' byte counters, round trips end to end. */
export interface LinkCheck {
  readonly set: LinkShape;
  /** Ethernet bytes per second the shapers sent during a bulk TCP transfer, in Mbit/s. */
  readonly downMbit: number;
  readonly upMbit: number;
  /** The same transfer's TCP payload rate, host side. */
  readonly goodputDownMbit: number;
  /** Wire bytes per payload byte of that transfer (TCP/IP and Ethernet headers). */
  readonly wireOverhead: number;
  /** Median of small round trips through toxiproxy (TCP) and the relay (UDP). */
  readonly tcpRttMs: number;
  readonly udpRttMs: number;
}

/**
 * Measure the WAN link as a host sees it: a bulk TCP transfer each way (about two seconds at the
 * set rate) and 20 round trips over each relay. Rejects, listing what is off, when any rate or
 * round trip is more than LINK_TOLERANCE from what was set: a figure taken over such a link would
 * describe the emulator, not the code.
 */
export async function checkLink(link: WanLink, from: WanHost): Promise<LinkCheck> {
  const set = link.shape;
  if (!set) {
    throw new Error("link not shaped yet");
  }
  const { host, port } = link.probeAddress;
  const probe = async (...args: Array<string | number>) => JSON.parse(await from.ns.exec(process.execPath, [PROBE_MAIN, ...args.map(String)], 120_000)) as
    { bytes: number; seconds: number; samplesMs: number[] };
  const bytes = Math.round(set.rateMbit * 1e6 / 8 * 2);
  const bulk = async (dir: "down" | "up") => {
    const c0 = await link.counters();
    const r = await probe(dir, host, port, bytes);
    const c1 = await link.counters();
    const wire = c1[dir].bytes - c0[dir].bytes;
    return { mbit: wire * 8 / r.seconds / 1e6, goodput: r.bytes * 8 / r.seconds / 1e6, overhead: wire / r.bytes };
  };
  const down = await bulk("down");
  const up = await bulk("up");
  const tcpRttMs = median((await probe("rtt", host, port, 20)).samplesMs);
  const udpRttMs = median((await probe("udp-rtt", host, port, 20)).samplesMs);
  const check: LinkCheck = { set, downMbit: down.mbit, upMbit: up.mbit, goodputDownMbit: down.goodput, wireOverhead: down.overhead, tcpRttMs, udpRttMs };
  const off = (measured: number, want: number) => Math.abs(measured - want) > Math.max(LINK_TOLERANCE * want, 1);
  const problems = [
    off(check.downMbit, set.rateMbit) && `rate towards the edge ${check.downMbit.toFixed(1)} Mbit/s`,
    off(check.upMbit, set.rateMbit) && `rate towards the origin ${check.upMbit.toFixed(1)} Mbit/s`,
    off(tcpRttMs, set.rttMs) && `TCP round trip ${tcpRttMs.toFixed(1)} ms`,
    off(udpRttMs, set.rttMs) && `UDP round trip ${udpRttMs.toFixed(1)} ms`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new Error(`emulated link set to ${describeShape(set)} measured ${problems.join(", ")} (tolerance ${LINK_TOLERANCE * 100}%): refusing to report`);
  }
  return check;
}

export function describeShape(s: LinkShape): string {
  return `${s.rateMbit} Mbit/s x ${s.rttMs} ms`;
}

/** One line for a table header: what was set and what was measured. */
export function describeCheck(c: LinkCheck): string {
  return `${describeShape(c.set)}: measured ${c.downMbit.toFixed(1)} / ${c.upMbit.toFixed(1)} Mbit/s on the wire (down / up; TCP payload ${c.goodputDownMbit.toFixed(1)}, `
    + `wire bytes ${c.wireOverhead.toFixed(3)}x payload), round trip ${c.tcpRttMs.toFixed(1)} ms TCP / ${c.udpRttMs.toFixed(1)} ms UDP`;
}
