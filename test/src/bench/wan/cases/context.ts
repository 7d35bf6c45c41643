import type { BlobLog, ClientHandle } from "../../stack.js";
import type { LinkShape } from "../shaper.js";
import type { WanHost } from "../topology.js";
import type { WanRig } from "../wan-rig.js";

export const MB = 1e6;

/** One line of the WAN table. Fields a case does not measure are null. */
export interface WanRow {
  readonly case: string;
  /** The WAN link's rate and round trip, as set (and verified). */
  readonly link: string;
  /** How the bytes travelled. */
  readonly path: string;
  readonly seconds: number;
  /** Payload bytes per second over the link's rate (several hosts: the image's size once). */
  readonly linkShare: number | null;
  /** Interests the clients sent again. */
  readonly retransmissions: number | null;
  /** Wire bytes the WAN carried towards the edge, over the payload's size. */
  readonly wanRatio: number | null;
  readonly registryBytes: number | null;
  readonly serverSegments: number | null;
  /** Where the clients' blobs came from, by their "blob done" lines. */
  readonly source: string | null;
  /** Anything else the row measured. */
  readonly notes?: string;
}

/** The shared-link case's variants: straight from the registry, a pull-through cache, NDN. */
export const SHARED_PATHS = ["direct", "cache", "ndn", "ndn-warm"] as const;
export type SharedPath = (typeof SHARED_PATHS)[number];

export interface WanSettings {
  /** Blob size of the single-flow and UDP rows. */
  readonly blobBytes: number;
  /** Image of the shared-link and second-site rows (five layers). */
  readonly imageBytes: number;
  /** Repeats of the single-flow and UDP rows (median taken). */
  readonly runs: number;
  /** Hosts sharing the link. */
  readonly hosts: number;
  /** The single-flow links to run (default: the three). */
  readonly singleShapes?: readonly LinkShape[];
  /** The shared-link variants to run (default: all three). */
  readonly sharedPaths?: readonly SharedPath[];
  /** The directory under which the hosts write what they pull (each a directory of its own). */
  readonly pullRoot: string;
}

/** What every case gets: the rig, the settings, and the link set and verified for it. */
export interface WanContext {
  readonly rig: WanRig;
  readonly settings: WanSettings;
  /** This run's directory under `settings.pullRoot`, removed at the end. */
  readonly pullDir: string;
  /** Set the WAN to `shape` and verify it (rejects if the link is off). */
  useLink(shape: LinkShape): Promise<void>;
  progress(line: string): void;
}

/** The client's "blob done" line for `digest` (waited for: it is written just after the response ends). */
export async function blobDone(client: ClientHandle, digest: string): Promise<BlobLog> {
  await client.proc.waitForLine(new RegExp(`"digest":"${digest}".*"blob done"`), 10_000);
  return client.blobLogs().findLast((l) => l.digest === digest)!;
}

/** The sample with the median time. */
export function medianBySeconds<T extends { seconds: number }>(samples: readonly T[]): T {
  return [...samples].sort((a, b) => a.seconds - b.seconds)[Math.floor(samples.length / 2)]!;
}

/** "ndn" or e.g. "ndn x7, ndn+http x1". */
export function summarizeSources(logs: readonly BlobLog[]): string {
  const counts = new Map<string, number>();
  for (const l of logs) {
    counts.set(l.source, (counts.get(l.source) ?? 0) + 1);
  }
  return counts.size === 1 ? [...counts.keys()][0]! : [...counts].map(([s, n]) => `${s} x${n}`).join(", ");
}

/** The edge site's first `n` hosts (the topology has at least that many). */
export function hostsOf(ctx: WanContext, site: number, n: number): WanHost[] {
  return ctx.rig.topo.edges[site]!.hosts.slice(0, n);
}
