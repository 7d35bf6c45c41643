/**
 * `pnpm bench:wan`: image pulls across an emulated WAN (network namespaces, `tc` rate limits,
 * toxiproxy and a UDP relay for latency; see test/src/bench/wan/), every case measured side by side
 * in one run, one table printed and saved as JSON under bench-results/. Environment:
 * WAN_CASES (single,k8,second-site,udp), WAN_MB (200: blob of the single-flow and UDP rows),
 * WAN_IMAGE_MB (200: image of the k8 and second-site rows), WAN_RUNS (3), WAN_HOSTS (8),
 * WAN_LINKS (single-flow links as RATExRTT in Mbit/s and ms, e.g. "100x200,400x50"; default: all three),
 * WAN_K8_PATHS (the shared-link variants, subset of direct,cache,ndn,ndn-warm; default: all),
 * WAN_PULL_DIR (where the hosts' skopeo write what they pull; default /dev/shm where it exists).
 * Each link is measured before it is used and the bench refuses to go on if it is off.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import {
  checkLink, describeCheck, describeShape, LINK_TOLERANCE, type LinkCheck, type LinkShape, queueBytes, secondSite, SHARED_PATHS, type SharedPath, sharedLink,
  singleFlows, udpAndTcpFaces, type WanContext, type WanRow, WanRig, type WanSettings,
} from "./bench/index.js";

/**
 * The emulated hosts share one disk, and skopeo fsyncs every blob it writes: eight hosts' 40 MB
 * layers flushed at once took 0.2-0.5 s per layer on this machine, which eight real hosts would
 * each spend on their own disk for their own 40 MB. A RAM directory takes that out for every path.
 */
const SHM = "/dev/shm";

const CASES = { single: singleFlows, k8: sharedLink, "second-site": secondSite, udp: udpAndTcpFaces } as const;
type CaseName = keyof typeof CASES;

function settingsFromEnv(): { cases: CaseName[]; settings: WanSettings } {
  const cases = (process.env["WAN_CASES"] ?? Object.keys(CASES).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  for (const c of cases) {
    if (!(c in CASES)) {
      throw new Error(`WAN_CASES: unknown case ${c} (known: ${Object.keys(CASES).join(", ")})`);
    }
  }
  const num = (name: string, dflt: number) => {
    const v = Number(process.env[name] ?? dflt);
    if (!(v > 0)) {
      throw new Error(`${name} must be a positive number`);
    }
    return v;
  };
  return {
    cases: cases as CaseName[],
    settings: {
      blobBytes: Math.round(num("WAN_MB", 200) * 1e6),
      imageBytes: Math.round(num("WAN_IMAGE_MB", 200) * 1e6),
      runs: Math.round(num("WAN_RUNS", 3)),
      hosts: Math.round(num("WAN_HOSTS", 8)),
      ...(process.env["WAN_LINKS"] && { singleShapes: parseLinks(process.env["WAN_LINKS"]) }),
      ...(process.env["WAN_K8_PATHS"] && { sharedPaths: parseSharedPaths(process.env["WAN_K8_PATHS"]) }),
      pullRoot: process.env["WAN_PULL_DIR"] ?? (existsSync(SHM) ? SHM : os.tmpdir()),
    },
  };
}

function parseLinks(text: string): LinkShape[] {
  return text.split(",").map((s) => {
    const m = /^\s*(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)\s*$/.exec(s);
    if (!m) {
      throw new Error(`WAN_LINKS: ${s} is not RATExRTT (Mbit/s x ms, e.g. 100x200)`);
    }
    return { rateMbit: Number(m[1]), rttMs: Number(m[2]) };
  });
}

function parseSharedPaths(text: string): SharedPath[] {
  const paths = text.split(",").map((s) => s.trim());
  for (const p of paths) {
    if (!(SHARED_PATHS as readonly string[]).includes(p)) {
      throw new Error(`WAN_K8_PATHS: unknown variant ${p} (known: ${SHARED_PATHS.join(", ")})`);
    }
  }
  return paths as SharedPath[];
}

async function main(): Promise<void> {
  const { cases, settings } = settingsFromEnv();
  const rig = await WanRig.start({ label: "wan-bench", edges: 2, hostsPerEdge: settings.hosts });
  const pullDir = mkdtempSync(path.join(settings.pullRoot, "ndnreg-wan-pulls-"));
  const checks = new Map<string, LinkCheck>();
  const ctx: WanContext = {
    rig, settings, pullDir,
    progress: (line) => console.error(`  ${line}`),
    useLink: async (shape: LinkShape) => {
      await rig.link.set(shape);
      const check = await checkLink(rig.link, rig.topo.edges[0]!.hosts[0]!);
      checks.set(describeShape(shape), check);
      console.error(`  link ${describeCheck(check)}`);
    },
  };
  const rows: WanRow[] = [];
  try {
    for (const name of cases) {
      console.error(`${name}:`);
      rows.push(...await CASES[name](ctx));
    }
  } finally {
    rmSync(pullDir, { recursive: true, force: true });
    await rig.stop();
  }
  printTable(rows, [...checks.values()], settings);
  const dir = fileURLToPath(new URL("../../bench-results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `wan-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ settings, cases, links: [...checks.values()], rows }, null, 2));
  console.log(`\nsaved ${file}`);
}

function printTable(rows: readonly WanRow[], checks: readonly LinkCheck[], s: WanSettings): void {
  const f = (v: number | null, d = 1) => (v === null || Number.isNaN(v) ? "-" : v.toFixed(d));
  console.log(`\nblob ${s.blobBytes / 1e6} MB (single flow, UDP/TCP: median of ${s.runs} runs), image ${s.imageBytes / 1e6} MB in 5 layers (${s.hosts} hosts, second site: one run); pulled into ${s.pullRoot}`);
  console.log(`links, each verified before use (tolerance ${LINK_TOLERANCE * 100}%; queue one bandwidth-delay product, at least 64 KB):`);
  for (const c of checks) {
    console.log(`- ${describeCheck(c)}; queue ${(queueBytes(c.set) / 1e3).toFixed(0)} KB`);
  }
  console.log("\n| case | link | path | seconds | % of link | retransmissions | WAN bytes / size | registry blob bytes | server segments | source | notes |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.case} | ${r.link} | ${r.path} | ${f(r.seconds, 2)} | ${f(r.linkShare === null ? null : r.linkShare * 100, 0)} | ${f(r.retransmissions, 0)} | ${f(r.wanRatio, 3)} | ${r.registryBytes ?? "-"} | ${f(r.serverSegments, 0)} | ${r.source ?? "-"} | ${r.notes ?? ""} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
