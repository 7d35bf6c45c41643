/**
 * `pnpm bench:site`: a site of hosts that serve each other from their edge stores (issue 20,
 * docs/site.md). Network namespaces: the origin (registry, server, ndnd) across the emulated WAN
 * (100 Mbit/s x 40 ms, verified as bench:wan verifies it), a site router (ndnd + dv, a small
 * content store) and SITE_HOSTS (8) hosts on a shaped LAN (SITE_LAN_MBIT, 1000, verified), each
 * with its own ndnd + dv and a client with a store. Rows:
 * - day 1: the first host pulls the image (SITE_IMAGE_MB, 100, five layers) across the WAN and stores it;
 * - day 2: every forwarder restarted (caches empty), the other hosts pull one after another;
 * - WAN cut: the WAN link down, the last host, its store emptied, pulls by digest.
 * Prints one table and saves it as JSON under bench-results/.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  blobDone, checkLink, type ClientHandle, describeCheck, type LanCheck, type LinkCheck, MB, pullImage, type PushedImage, SiteRig, summarizeSources,
  type Traffic, verifyPulled, WAN_DEV,
} from "./bench/index.js";

const WAN = { rateMbit: 100, rttMs: 40 } as const;

interface SiteSettings {
  readonly hosts: number;
  readonly imageBytes: number;
  readonly lanMbit: number;
  /** The site router's content store, in packets: small, so that day 2's bytes come from the stores, not its cache. */
  readonly routerCsPackets: number;
}

interface SiteRow {
  readonly row: string;
  readonly host: string;
  readonly seconds: number | null;
  /** Image bytes per second over the LAN's rate (day 2) or the WAN's (day 1). */
  readonly lanShare: number | null;
  readonly wanShare: number | null;
  readonly wanDownBytes: number | null;
  readonly registryBytes: number | null;
  readonly serverSegments: number | null;
  /** Content-store hits on the site router while the pull ran (packets). */
  readonly routerCsHits: number | null;
  readonly source: string | null;
  readonly notes?: string;
}

function settingsFromEnv(): SiteSettings {
  const num = (name: string, dflt: number, min = 1) => {
    const v = Number(process.env[name] ?? dflt);
    if (!(v >= min)) {
      throw new Error(`${name} must be a number >= ${min}`);
    }
    return v;
  };
  return {
    hosts: Math.round(num("SITE_HOSTS", 8, 3)),
    imageBytes: Math.round(num("SITE_IMAGE_MB", 100) * 1e6),
    lanMbit: num("SITE_LAN_MBIT", 1000),
    routerCsPackets: Math.round(num("SITE_ROUTER_CS", 256)),
  };
}

async function main(): Promise<void> {
  const settings = settingsFromEnv();
  const progress = (line: string) => console.error(`  ${line}`);
  const site = await SiteRig.start({ label: "site-bench", hosts: settings.hosts, routerCsPackets: settings.routerCsPackets });
  const rows: SiteRow[] = [];
  let wanCheck: LinkCheck | undefined;
  let lanCheck: LanCheck | undefined;
  const dv = { convergeSeconds: NaN };
  try {
    const { wan } = site;
    await wan.link.set(WAN);
    wanCheck = await checkLink(wan.link, site.hosts[0]!);
    progress(`WAN ${describeCheck(wanCheck)}`);
    await site.shapeLan(settings.lanMbit);
    lanCheck = await site.checkLan(settings.lanMbit);
    progress(`LAN ${describeLan(lanCheck)}`);
    const image = await wan.pushImage("site/app", Array<number>(5).fill(Math.round(settings.imageBytes / 5)));
    await site.startForwarders();

    /** Pull the image on host `i` through `client`, verify it, and count what it cost. */
    const pull = async (i: number, client: ClientHandle, label: string) => {
      const out = path.join(wan.stack.runDir, `out-${label}-host${i + 1}`);
      const cs0 = await site.router!.csInfo();
      const { traffic } = await wan.measure(() => pullImage(client.host, image.ref, out, { netns: site.hosts[i]!.ns.name, timeoutMs: 1_800_000 }));
      const hits = (await site.router!.csInfo()).hits - cs0.hits;
      await verifyPulled(image, out);
      rmSync(out, { recursive: true, force: true });
      const logs = await Promise.all(image.blobs.map((b) => blobDone(client, b.digest)));
      progress(`${label}, host ${i + 1}: ${traffic.seconds.toFixed(2)} s, WAN ${(traffic.wanDownBytes / MB).toFixed(2)} MB, router CS hits ${hits}, ${summarizeSources(logs)}`);
      return { traffic, hits, logs };
    };
    const row = (name: string, i: number, image: PushedImage, t: Traffic, hits: number, source: string, lan: boolean, notes?: string): SiteRow => {
      const mbit = image.bytes * 8 / t.seconds / 1e6;
      return {
        row: name, host: `host ${i + 1}`, seconds: t.seconds, lanShare: lan ? mbit / settings.lanMbit : null, wanShare: lan ? null : mbit / WAN.rateMbit,
        wanDownBytes: t.wanDownBytes, registryBytes: t.registryBytes, serverSegments: t.serverSegments, routerCsHits: hits, source, notes,
      };
    };

    // Day 1: one host pulls across the WAN; its store keeps what came over NDN.
    const first = await site.startClient(0);
    const day1 = await pull(0, first, "day 1");
    const stored = day1.logs.filter((l) => l.source === "ndn").map((l) => l.digest);
    await Promise.all(stored.map((d) => first.proc.waitForLine(new RegExp(`"digest":"${d}".*"store: blob stored"`), 60_000)));
    rows.push(row("day 1: one host pulls across the WAN", 0, image, day1.traffic, day1.hits, summarizeSources(day1.logs), false, `${stored.length} of ${image.blobs.length} blobs stored`));

    // Day 2: every router restarted; the stores announce again; the other hosts pull one after another.
    await site.stopClients();
    await site.restartForwarders();
    await site.startClient(0);
    dv.convergeSeconds = await site.waitForBlobRoutes(stored);
    progress(`day 2: the first host's ${stored.length} blob prefixes on every host's forwarder after ${dv.convergeSeconds.toFixed(1)} s`);
    for (let i = 1; i < settings.hosts; ++i) {
      const r = await pull(i, await site.startClient(i), "day 2");
      rows.push(row("day 2: routers restarted, the next host pulls", i, image, r.traffic, r.hits, summarizeSources(r.logs), true));
    }

    // WAN cut: the last host, its store emptied, pulls by digest from its neighbours' stores.
    const last = settings.hosts - 1;
    const client = await site.startClient(last, { freshStore: true });
    await wan.topo.core.ip("link", "set", WAN_DEV, "down");
    const ref = `${image.repository}@${image.manifestDigest}`;
    const out = path.join(wan.stack.runDir, "out-wan-cut");
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
    progress(`WAN cut, host ${last + 1}: ${outcome}`);
    const logs = client.blobLogs();
    rows.push({
      row: "WAN cut: a host with an empty store pulls by digest", host: `host ${last + 1}`, seconds: traffic.seconds, lanShare: null, wanShare: null,
      wanDownBytes: traffic.wanDownBytes, registryBytes: traffic.registryBytes, serverSegments: traffic.serverSegments, routerCsHits: null,
      source: logs.length > 0 ? summarizeSources(logs) : null, notes: `\`docker://<client>/${ref.replace(/@sha256:(.{12}).*/, "@sha256:$1…")}\` ${outcome}`,
    });
  } finally {
    await site.stop();
  }
  printTable(rows, settings, wanCheck, lanCheck, dv.convergeSeconds);
  const dir = fileURLToPath(new URL("../../bench-results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `site-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ settings, wan: wanCheck, lan: lanCheck, convergeSeconds: dv.convergeSeconds, rows }, null, 2));
  console.log(`\nsaved ${file}`);
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

function printTable(rows: readonly SiteRow[], s: SiteSettings, wan: LinkCheck | undefined, lan: LanCheck | undefined, convergeSeconds: number): void {
  const f = (v: number | null, d = 1) => (v === null || Number.isNaN(v) ? "-" : v.toFixed(d));
  console.log(`\nimage ${s.imageBytes / 1e6} MB in 5 layers, ${s.hosts} hosts, site router content store ${s.routerCsPackets} packets`);
  console.log(`- WAN: ${wan ? describeCheck(wan) : "not verified"}`);
  console.log(`- site LAN: ${lan ? describeLan(lan) : "not verified"} (every host link shaped both ways)`);
  console.log(`- day 2: the first host's blob prefixes reached every host's forwarder through dv ${f(convergeSeconds)} s after its client started`);
  console.log("\n| row | host | seconds | % of LAN | % of WAN | WAN bytes down | registry blob bytes | server segments | router CS hits | source | notes |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.row} | ${r.host} | ${f(r.seconds, 2)} | ${f(r.lanShare === null ? null : r.lanShare * 100, 0)} | ${f(r.wanShare === null ? null : r.wanShare * 100, 0)} `
      + `| ${r.wanDownBytes ?? "-"} | ${r.registryBytes ?? "-"} | ${r.serverSegments ?? "-"} | ${r.routerCsHits ?? "-"} | ${r.source ?? "-"} | ${r.notes ?? ""} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
