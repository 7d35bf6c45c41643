import { readFileSync } from "node:fs";

import type { Name } from "@ndn/packet";
import {
  flagOnlySetting, integer, loadSettings, logLevelSetting, metricsListenSetting, nameSetting, oneOf, optional, packageVersion, routerSetting,
  type SettingTable, type SettingValues, text, upstreamSetting,
} from "@ndnreg/shared/config";
import { LEGACY_SEGMENT_SIZE, parseRouterAddress, type RouterAddress, SEGMENT_SIZE } from "@ndnreg/shared/ndn";

import { parseRepositoryAllowList } from "./registry/repository-allow-list.js";
import type { RegistryCredentials } from "./registry/token-auth.js";

/**
 * The server's settings: each is a flag and an NDNREG_<FLAG> variable (see loadSettings). The
 * first five mean the same on the client.
 */
export const SERVER_SETTINGS = {
  upstream: upstreamSetting("the registry the server reads blobs from (http or https); token challenges are answered, redirects to storage followed",
    "http://127.0.0.1:5000"),
  name: nameSetting(),
  router: { ...routerSetting("the local NDN forwarder", "unix:///run/nfd/nfd.sock"), parse: parseRouterAddress },
  "metrics-listen": metricsListenSetting("serve /metrics and /healthz on this host:port; empty: not at all", "127.0.0.1:9464"),
  "log-level": logLevelSetting(),
  "upstream-username": { describe: "user name for the upstream (optional; needs --upstream-allow-repositories)", default: "", parse: optional(text) },
  "upstream-password": {
    describe: "password or access token for --upstream-username (prefer the variable or --upstream-password-file: flags show in ps)",
    default: "", secret: true, parse: optional(text),
  },
  "upstream-password-file": { describe: "file holding the password (e.g. a Docker secret), instead of --upstream-password", default: "", parse: optional(text) },
  "upstream-allow-repositories": {
    describe: "repositories (org/app) and namespaces (org/*), comma-separated, whose blobs may be read with the credentials and so become public over NDN",
    default: "", parse: optional(parseRepositoryAllowList),
  },
  keychain: {
    describe: "directory of the server's key, created on first start: it signs prefix registrations, metadata and manifest nodes, and its "
      + "certificate is the clients' --trust-anchor; empty: registrations digest-signed, metadata and manifests signed by a temporary key "
      + "that anchored clients refuse",
    default: "", parse: optional(text),
  },
  "print-certificate": flagOnlySetting("print the certificate of the --keychain key (base64, as ndnsec cert-dump writes it) for clients' "
    + "--trust-anchor, and exit"),
  // The proof of concept's DOCKER_NDN_CHUNK_SIZE; canonical segments are 8000 bytes, fixed by docs/protocol.md.
  "legacy-segment-size": {
    describe: "payload bytes of segments under legacy names (/<name>/<repository>/<digest>/<segment>, the proof of concept's), at most 8000",
    default: String(LEGACY_SEGMENT_SIZE), parse: integer(1, SEGMENT_SIZE),
  },
  // DigestSha256 authenticates nothing (anyone can recompute it) and costs a hash per packet, so
  // legacy segments go unsigned unless asked (the proof of concept's client accepts either).
  "data-signer": {
    describe: "signature of segments under legacy names: null (none) or digest (SHA-256); canonical segments are unsigned, bound to the signed manifest",
    default: "null", parse: oneOf("null", "digest"),
  },
  freshness: {
    describe: "FreshnessPeriod of segments under legacy names, ms (blobs never change); canonical segments have 24 h, fixed by the protocol",
    default: "86400000", parse: integer(1000, 2 ** 31),
  },
  // Pending Interests cost a few hundred bytes each; 4096 is 32 pulls' windows all waiting at once.
  "producer-max-pending": {
    describe: "Interests waiting for an upstream lookup or read, on every face and for every name kind; past it Interests get no answer "
      + "(their consumers retransmit) and count as dropped_overload",
    default: "4096", parse: integer(1, 65536),
  },
  // The registry client's connections (16): more would only queue there.
  "upstream-max-reads": {
    describe: "upstream range reads in flight; a few more wait up to 1 s for a slot, the rest are dropped", default: "16", parse: integer(1, 256),
  },
  // A burst of a quarter second's worth, so at most 1.25 x the rate (50 by default) in any second (docs/security.md).
  "upstream-lookup-rate": {
    describe: "upstream lookups (HEADs) per second of blobs the server does not know yet; known blobs never wait for them, a flood of "
      + "unknown digests gets dropped_rate_limited",
    default: "40", parse: integer(1, 100_000),
  },
  "upstream-lookup-repository-rate": {
    describe: "the same, per repository, so a flood in one repository leaves the others their share", default: "10", parse: integer(1, 100_000),
  },
  "route-cost": { describe: "cost of the prefix's route: a standby server on the same prefix registers a higher one", default: "0", parse: integer(0, 65535) },
  // 512 segments = 4 MB per Range request: the registry's cost is per request (docs/performance.md).
  // The largest read; a blob earns it by being read in sequence (producer/sequential-runs.ts).
  "upstream-range-segments": {
    describe: "the largest upstream read, in segments of 8000 bytes (one Range request); a blob earns it by being read in sequence, a "
      + "segment asked for alone reads its 48 KB block",
    default: "512", parse: integer(1, 4096),
  },
  // Fixed pools: the ranges being served and read ahead, for several blobs at once; twenty pulls
  // share them in 1 MB reads. A range stays until both the segments and, where anchored consumers
  // or stores ask manifest nodes, the manifest's hash have passed it, so one registry read feeds both.
  "range-cache-bytes": {
    describe: "memory for upstream ranges, in fixed pools: a quarter in 48 KB blocks, the rest in quarters of --upstream-range-segments "
      + "(a read takes 1 to 4 of them: fewer when many blobs are read at once); ranges not served for 5 s are let go (the routers' "
      + "content stores are the real cache)",
    default: "33554432", parse: integer(0, 2 ** 40),
  },
} as const satisfies SettingTable;

/**
 * The server's variables before the NDNREG_* scheme, with the flag that replaced each. LOG_LEVEL is
 * left out: it is too common a name for a stale one to stop the server (NDNREG_LOG_LEVEL is read).
 */
const RETIRED: Readonly<Record<string, keyof typeof SERVER_SETTINGS>> = {
  REGISTRY_URL: "upstream", NDN_PREFIX: "name", METRICS_LISTEN: "metrics-listen",
  REGISTRY_USERNAME: "upstream-username", REGISTRY_PASSWORD: "upstream-password", REGISTRY_PASSWORD_FILE: "upstream-password-file",
  REGISTRY_ALLOW_REPOSITORIES: "upstream-allow-repositories", NDN_KEYCHAIN: "keychain", NDN_DATA_SIGNER: "data-signer",
  NDN_FRESHNESS_MS: "freshness", NDN_PRODUCER_CONCURRENCY: "producer-max-pending", NDN_ROUTE_COST: "route-cost",
  REGISTRY_RANGE_SEGMENTS: "upstream-range-segments", RANGE_CACHE_BYTES: "range-cache-bytes",
  // Bounded only the NDNts path; producer-max-pending bounds every face.
  NDNREG_PRODUCER_CONCURRENCY: "producer-max-pending",
};

export interface ServerConfig {
  readonly uplink: RouterAddress;
  readonly prefix: Name;
  readonly registryUrl: URL;
  /** Absent: the registry is read anonymously, so only blobs anyone may pull are published. */
  readonly registryCredentials?: RegistryCredentials;
  readonly keychainDir?: string;
  /** Print the keychain key's certificate and exit, instead of serving. */
  readonly printCertificate: boolean;
  /** Signature and FreshnessPeriod of segments under legacy names (canonical segments are fixed by the protocol). */
  readonly dataSigner: "digest" | "null";
  readonly freshnessMs: number;
  /** Payload bytes per segment under legacy names (the proof of concept's DOCKER_NDN_CHUNK_SIZE). */
  readonly legacySegmentSize: number;
  /** Interests waiting for a registry lookup or read, every face and name kind. */
  readonly maxPending: number;
  /** Registry range reads in flight. */
  readonly maxReads: number;
  /** Registry lookups (HEADs) of blobs not known yet, per second: overall and per repository. */
  readonly lookupRate: number;
  readonly lookupRepositoryRate: number;
  /** Route cost registered for the prefix: a standby server on the same prefix registers a higher one. */
  readonly routeCost: number;
  readonly rangeChunkSegments: number;
  readonly rangeCacheBytes: number;
  readonly logLevel: string;
  /** Where /metrics and /healthz are served; undefined: not served. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
}

/** Flags, then the environment, then ./.env (`envFile`), then defaults. */
export function loadServerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}, envFile?: string): ServerConfig {
  const s = loadSettings(SERVER_SETTINGS, {
    program: "ndn-registry-server", version: packageVersion(new URL("../package.json", import.meta.url)), argv, env, envFile, retired: RETIRED,
    usage: "$0 --upstream http://registry.example:5000 --name /example/registry\n\n"
      + "Publishes the blobs of --upstream under --name over NDN, through the local forwarder.\n"
      + "Each flag can also be set by its environment variable, or in ./.env; flags win over both.",
  });
  if (s["print-certificate"] && s.keychain === undefined) {
    throw new Error("--print-certificate needs --keychain (or NDNREG_KEYCHAIN): without one the server signs with a temporary key");
  }
  return {
    uplink: s.router, prefix: s.name, registryUrl: s.upstream, registryCredentials: registryCredentials(s), keychainDir: s.keychain,
    printCertificate: s["print-certificate"], dataSigner: s["data-signer"], freshnessMs: s.freshness, legacySegmentSize: s["legacy-segment-size"],
    maxPending: s["producer-max-pending"], maxReads: s["upstream-max-reads"], lookupRate: s["upstream-lookup-rate"],
    lookupRepositoryRate: s["upstream-lookup-repository-rate"], routeCost: s["route-cost"],
    rangeChunkSegments: s["upstream-range-segments"], rangeCacheBytes: s["range-cache-bytes"], logLevel: s["log-level"],
    metricsListen: s["metrics-listen"],
  };
}

/**
 * Credentials come with an allow-list or not at all: whatever the server reads is published to
 * the whole NDN network, so they are refused without an explicit list of the repositories they
 * may read.
 */
function registryCredentials(s: SettingValues<typeof SERVER_SETTINGS>): RegistryCredentials | undefined {
  const username = s["upstream-username"];
  const inline = s["upstream-password"];
  const file = s["upstream-password-file"];
  const allow = s["upstream-allow-repositories"];
  if (inline !== undefined && file !== undefined) {
    throw new Error("--upstream-password and --upstream-password-file: set one, not both");
  }
  if (username === undefined) {
    if (inline !== undefined || file !== undefined) {
      throw new Error("--upstream-password(-file) without --upstream-username");
    }
    if (allow !== undefined) {
      throw new Error("--upstream-allow-repositories applies to upstream credentials: set --upstream-username and --upstream-password too, "
        + "or unset it (anonymous reads need no list)");
    }
    return undefined;
  }
  if (username.includes(":")) {
    throw new Error("--upstream-username must not contain \":\" (HTTP Basic authentication)");
  }
  let password = inline;
  if (file !== undefined) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err: unknown) {
      throw new Error(`--upstream-password-file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  if (!password) {
    throw new Error("--upstream-username without --upstream-password or --upstream-password-file");
  }
  if (allow === undefined) {
    throw new Error("--upstream-username needs --upstream-allow-repositories: the repositories (org/app) or namespaces (org/*) "
      + "whose blobs may be published over NDN with these credentials");
  }
  return { login: { username, password }, allowList: allow };
}
