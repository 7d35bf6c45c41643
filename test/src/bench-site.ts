/**
 * `pnpm bench:site`: a site of hosts that serve each other from their edge stores (issue 20,
 * docs/site.md). Network namespaces: the origin (registry, server, ndnd) across the emulated WAN
 * (100 Mbit/s x 40 ms, verified as bench:wan verifies it), a site router (ndnd + dv, a small
 * content store, SITE_ROUTER_CS) and SITE_HOSTS (8) hosts on a shaped LAN, each with its own
 * ndnd + dv (content store SITE_HOST_CS, 0: admitting nothing) and a client with a store. Rows:
 * - day 1: the first host pulls the image (SITE_IMAGE_MB, 100, five layers) across the WAN and stores it;
 * - day 2, once per LAN rate of SITE_LAN_MBIT ("1000,200", each verified): every forwarder
 *   restarted (caches empty), the other hosts, their stores empty, pull one after another;
 * - WAN cut (unless SITE_WAN_CUT=0): the WAN link down, the last host, its store emptied, pulls by digest,
 *   then, its store emptied again, by tag (resolved by the server-signed tag record a neighbour's store kept).
 * Each day-2 pull's CPU is split by process (the forwarders, the pulling and storing clients,
 * skopeo): 2 cores carry five processes per packet, so the 1 Gbit/s row is CPU-bound here
 * (docs/site.md, "How fast a neighbour serves"). Prints the tables and saves them as JSON under bench-results/.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  blobDone, checkLink, type ClientHandle, cpuBetween, type CpuSplit, describeCheck, describeCpu, type LanCheck, type LinkCheck, MB, pullImage, type PushedImage,
  sampleCpu, SiteRig, summarizeSources, verifyPulled, WAN_DEV,
} from "./bench/index.js";

const WAN = { rateMbit: 100, rttMs: 40 } as const;

interface SiteSettings {
  readonly hosts: number;
  readonly imageBytes: number;
  /** Day 2 runs once per LAN rate, in this order (SITE_LAN_MBIT="1000,200"). */
  readonly lanMbits: readonly number[];
  /** The site router's content store, in packets: small, so that day 2's bytes come from the stores, not its cache. */
  readonly routerCsPackets: number;
  /** Each host forwarder's content store, in packets (0: it admits nothing). */
  readonly hostCsPackets: number;
  readonly wanCut: boolean;
}

interface SiteRow {
  readonly row: string;
  readonly host: string;
  readonly lanMbit: number | null;
  readonly seconds: number | null;
  /** Image bytes per second over the LAN's rate (day 2) or the WAN's (day 1). */
  readonly lanShare: number | null;
  readonly wanShare: number | null;
  readonly wanDownBytes: number | null;
  readonly registryBytes: number | null;
  readonly serverSegments: number | null;
  /** Content-store hits on the site router while the pull ran (packets). */
  readonly routerCsHits: number | null;
  /** Interests the pulling client sent again (all blobs). */
  readonly retransmissions: number | null;
  readonly cpu: CpuSplit | null;
  readonly source: string | null;
  readonly notes?: string;
}

function settingsFromEnv(): SiteSettings {
  const num = (name: string, dflt: number, min = 1, text = process.env[name]) => {
    const v = Number(text ?? dflt);
    if (!(v >= min)) {
      throw new Error(`${name} must be a number >= ${min}`);
    }
    return v;
  };
  return {
    hosts: Math.round(num("SITE_HOSTS", 8, 3)),
    imageBytes: Math.round(num("SITE_IMAGE_MB", 100) * 1e6),
    lanMbits: (process.env["SITE_LAN_MBIT"] ?? "1000,200").split(",").map((t) => num("SITE_LAN_MBIT", 1000, 1, t.trim())),
    routerCsPackets: Math.round(num("SITE_ROUTER_CS", 256)),
    hostCsPackets: Math.round(num("SITE_HOST_CS", 2048, 0)),
    wanCut: process.env["SITE_WAN_CUT"] !== "0",
  };
}

async function main(): Promise<void> {
  const settings = settingsFromEnv();
  const progress = (line: string) => console.error(`  ${line}`);
  const site = await SiteRig.start({ label: "site-bench", hosts: settings.hosts, routerCsPackets: settings.routerCsPackets, hostCsPackets: settings.hostCsPackets });
  const rows: SiteRow[] = [];
  let wanCheck: LinkCheck | undefined;
  const lanChecks: LanCheck[] = [];
  const convergeSeconds: number[] = [];
  try {
    const { wan } = site;
    await wan.link.set(WAN);
    wanCheck = await checkLink(wan.link, site.hosts[0]!);
    progress(`WAN ${describeCheck(wanCheck)}`);
    const image = await wan.pushImage("site/app", Array<number>(5).fill(Math.round(settings.imageBytes / 5)));
    await site.startForwarders();

    /** Pull the image on host `i` through `client`, verify it, and count what it cost. */
    const pull = async (i: number, client: ClientHandle, label: string) => {
      const out = path.join(wan.stack.runDir, `out-${label.replace(/\W+/g, "-")}-host${i + 1}`);
      const cs0 = await site.router!.csInfo();
      const roles = site.cpuRoles(i);
      const cpu0 = sampleCpu(roles);
      const { traffic } = await wan.measure(() => pullImage(client.host, image.ref, out, { netns: site.hosts[i]!.ns.name, timeoutMs: 1_800_000 }));
      const cpu = cpuBetween(cpu0, sampleCpu(roles));
      const hits = (await site.router!.csInfo()).hits - cs0.hits;
      await verifyPulled(image, out);
      rmSync(out, { recursive: true, force: true });
      const logs = await Promise.all(image.blobs.map((b) => blobDone(client, b.digest)));
      progress(`${label}, host ${i + 1}: ${traffic.seconds.toFixed(2)} s, WAN ${(traffic.wanDownBytes / MB).toFixed(2)} MB, router CS hits ${hits}, ${summarizeSources(logs)}`);
      progress(`  ${describeCpu(cpu)}`);
      for (const l of logs.filter((l) => l.bytes > 1e6)) {
        progress(`  blob ${l.digest.slice(7, 19)}: ${l.mbps} MB/s, srtt ${l.srttMs} ms, window ${l.window}, retransmissions ${l.retransmissions}, marks ${l.congestionMarks}`);
      }
      const retransmissions = logs.reduce((n, l) => n + (l.retransmissions ?? 0), 0);
      return { traffic, hits, logs, cpu, retransmissions };
    };
    type Pulled = Awaited<ReturnType<typeof pull>>;
    const row = (name: string, i: number, p: Pulled, lanMbit: number | null, notes?: string): SiteRow => {
      const mbit = image.bytes * 8 / p.traffic.seconds / 1e6;
      const t = p.traffic;
      return {
        row: name, host: `host ${i + 1}`, lanMbit, seconds: t.seconds, lanShare: lanMbit === null ? null : mbit / lanMbit, wanShare: lanMbit === null ? mbit / WAN.rateMbit : null,
        wanDownBytes: t.wanDownBytes, registryBytes: t.registryBytes, serverSegments: t.serverSegments, routerCsHits: p.hits,
        retransmissions: p.retransmissions,
        cpu: p.cpu, source: summarizeSources(p.logs), notes,
      };
    };

    // Day 1: one host pulls across the WAN; its store keeps what came over NDN.
    await site.shapeLan(settings.lanMbits[0]!);
    const first = await site.startClient(0);
    const day1 = await pull(0, first, "day 1");
    const stored = day1.logs.filter((l) => l.source === "ndn").map((l) => l.digest);
    await Promise.all(stored.map((d) => first.proc.waitForLine(new RegExp(`"digest":"${d}".*"store: blob stored"`), 60_000)));
    rows.push(row("day 1: one host pulls across the WAN", 0, day1, null, `${stored.length} of ${image.blobs.length} blobs stored`));

    // Day 2, once per LAN rate: every router restarted; the first host's store announces again;
    // the other hosts, their stores empty, pull one after another (from the stores of those before).
    for (const lanMbit of settings.lanMbits) {
      await site.shapeLan(lanMbit);
      const lan = await site.checkLan(lanMbit);
      lanChecks.push(lan);
      progress(`LAN ${describeLan(lan)}`);
      await site.stopClients();
      await site.restartForwarders();
      await site.startClient(0);
      convergeSeconds.push(await site.waitForBlobRoutes(stored));
      progress(`day 2 at ${lanMbit} Mbit/s: the first host's ${stored.length} blob prefixes on every host's forwarder after ${convergeSeconds.at(-1)!.toFixed(1)} s`);
      for (let i = 1; i < settings.hosts; ++i) {
        const r = await pull(i, await site.startClient(i, { freshStore: true }), `day 2 at ${lanMbit} Mbit/s`);
        rows.push(row("day 2: routers restarted, the next host pulls", i, r, lanMbit));
      }
    }

    if (settings.wanCut) {
      rows.push(await wanCut(site, image, settings.hosts - 1, "digest", progress));
      rows.push(await wanCut(site, image, settings.hosts - 1, "tag", progress));
    }
  } finally {
    await site.stop();
  }
  printTable(rows, settings, wanCheck, lanChecks, convergeSeconds);
  const dir = fileURLToPath(new URL("../../bench-results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `site-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ settings, wan: wanCheck, lan: lanChecks, convergeSeconds, rows }, null, 2));
  console.log(`\nsaved ${file}`);
}

/** WAN cut: host `last`, its store emptied, pulls by digest or by tag from its neighbours' stores with the WAN link down. */
async function wanCut(site: SiteRig, image: PushedImage, last: number, by: "digest" | "tag", progress: (line: string) => void): Promise<SiteRow> {
  const { wan } = site;
  const client = await site.startClient(last, { freshStore: true });
  await wan.topo.core.ip("link", "set", WAN_DEV, "down");
  const ref = by === "digest" ? `${image.repository}@${image.manifestDigest}` : image.ref;
  const out = path.join(wan.stack.runDir, `out-wan-cut-${by}`);
  let outcome = "completed, every blob verified";
  const { traffic } = await wan.measure(async () => {
    try {
      await pullImage(client.host, ref, out, { netns: site.hosts[last]!.ns.name, timeoutMs: 180_000 });
      await verifyPulled(image, out);
    } catch (err: unknown) {
      outcome = `failed: ${firstLine(err)}`;
    }
  });
  await wan.topo.core.ip("link", "set", WAN_DEV, "up");
  progress(`WAN cut by ${by}, host ${last + 1}: ${outcome}`);
  const logs = client.blobLogs();
  return {
    row: `WAN cut: a host with an empty store pulls by ${by}`, host: `host ${last + 1}`, lanMbit: null, seconds: traffic.seconds, lanShare: null, wanShare: null,
    wanDownBytes: traffic.wanDownBytes, registryBytes: traffic.registryBytes, serverSegments: traffic.serverSegments, routerCsHits: null,
    retransmissions: null, cpu: null,
    source: logs.length > 0 ? summarizeSources(logs) : null, notes: `\`docker://<client>/${ref.replace(/@sha256:(.{12}).*/, "@sha256:$1…")}\` ${outcome}`,
  };
}

/** skopeo's fatal message (`msg="..."`), else the error's last line. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
  return (msg ?? text.trim().split("\n").at(-1)!).slice(0, 200);
}

function describeLan(c: LanCheck): string {
  return `${c.setMbit} Mbit/s: measured ${c.wireMbit.toFixed(1)} Mbit/s on the wire (TCP payload ${c.goodputMbit.toFixed(1)}), round trip ${c.rttMs.toFixed(2)} ms`;
}

function printTable(
  rows: readonly SiteRow[], s: SiteSettings, wan: LinkCheck | undefined, lans: readonly LanCheck[], convergeSeconds: readonly number[],
): void {
  const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));
  const hostCs = s.hostCsPackets > 0 ? `${s.hostCsPackets} packets` : "admitting nothing";
  console.log(`\nimage ${s.imageBytes / 1e6} MB in 5 layers, ${s.hosts} hosts, site router content store ${s.routerCsPackets} packets, host forwarders' ${hostCs}`);
  console.log(`- WAN: ${wan ? describeCheck(wan) : "not verified"}`);
  for (const lan of lans) {
    console.log(`- site LAN: ${describeLan(lan)} (every host link shaped both ways)`);
  }
  console.log(`- day 2: the first host's blob prefixes reached every host's forwarder through dv ${convergeSeconds.map((c) => f(c)).join(", ")} s after its client started`);
  console.log("\n| row | host | LAN Mbit/s | seconds | % of LAN | % of WAN | WAN bytes down | registry blob bytes | server segments | router CS hits | retransmissions | machine busy % | source | notes |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  const pct = (v: number | null | undefined) => f(v === null || v === undefined ? null : v * 100, 0);
  for (const r of rows) {
    console.log(`| ${r.row} | ${r.host} | ${r.lanMbit ?? "-"} | ${f(r.seconds, 2)} | ${pct(r.lanShare)} | ${pct(r.wanShare)} `
      + `| ${r.wanDownBytes ?? "-"} | ${r.registryBytes ?? "-"} | ${r.serverSegments ?? "-"} | ${r.routerCsHits ?? "-"} | ${r.retransmissions ?? "-"} | ${pct(r.cpu?.busyShare)} | ${r.source ?? "-"} | ${r.notes ?? ""} |`);
  }
  // Where the CPU of each day-2 pull went, per 100 MB of image, and the cores the LAN's rate needs at that cost.
  const day2 = rows.filter((r) => r.cpu && r.lanMbit !== null);
  if (day2.length === 0) {
    return;
  }
  const roles = Object.keys(day2[0]!.cpu!.roles);
  console.log(`\nCPU-seconds per 100 MB of image during each day-2 pull (${day2[0]!.cpu!.cores} cores). "pull's": every role before it; "other jobs":`
    + " the machine's busy time outside them; the last column: cores the LAN's rate would need at the pull's cost.\n");
  console.log(`| host | LAN Mbit/s | ${roles.join(" | ")} | pull's | other jobs | cores the LAN rate needs |`);
  console.log(`|---|---|${roles.map(() => "---|").join("")}---|---|---|`);
  for (const r of day2) {
    const per = 100e6 / s.imageBytes;
    const cpu = r.cpu!;
    const own = Object.values(cpu.roles).reduce((n, v) => n + v, 0);
    const cores = own / s.imageBytes * (r.lanMbit! * 1e6 / 8);
    console.log(`| ${r.host} | ${r.lanMbit} | ${roles.map((k) => f(cpu.roles[k]! * per, 2)).join(" | ")} | ${f(own * per, 2)} | ${f(cpu.other * per, 2)} | ${f(cores, 1)} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
