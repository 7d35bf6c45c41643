import { readFileSync } from "node:fs";

import { Name } from "@ndn/packet";
import { parseListenAddress } from "@ndnreg/shared/http";
import { parseRouterAddress, type RouterAddress } from "@ndnreg/shared/ndn";

import { parseRepositoryAllowList } from "./registry/repository-allow-list.js";
import type { RegistryCredentials } from "./registry/token-auth.js";

/** Server settings, all from the environment (see sample.env). */
export interface ServerConfig {
  readonly uplink: RouterAddress;
  readonly prefix: Name;
  readonly registryUrl: URL;
  /** Absent: the registry is read anonymously, so only blobs anyone may pull are published. */
  readonly registryCredentials?: RegistryCredentials;
  readonly keychainDir?: string;
  readonly dataSigner: "digest" | "null";
  readonly freshnessMs: number;
  /** Interests waiting for a registry lookup or read, on every face (NDN_PRODUCER_MAX_PENDING). */
  readonly maxPending: number;
  /** Registry range reads in flight (REGISTRY_MAX_READS). */
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
  /** Settings that are set but no longer read, for a warning at start. */
  readonly obsolete: readonly string[];
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, key: string, dflt: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") {
    return dflt;
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new Error(`${key}=${raw}: expected an integer in [${min}, ${max}]`);
  }
  return v;
}

export function loadServerConfig(env: Env = process.env): ServerConfig {
  const registry = new URL(env["REGISTRY_URL"] ?? "http://127.0.0.1:5000");
  if (registry.protocol !== "http:" && registry.protocol !== "https:") {
    throw new Error(`REGISTRY_URL=${registry.href}: must be http(s)`);
  }
  // DigestSha256 authenticates nothing (anyone can recompute it) and costs a hash per packet; the
  // client checks every blob against its sha256 digest, so packets go unsigned unless asked.
  const signer = env["NDN_DATA_SIGNER"] || "null";
  if (signer !== "digest" && signer !== "null") {
    throw new Error(`NDN_DATA_SIGNER=${signer}: expected digest or null`);
  }
  const metricsListen = env["METRICS_LISTEN"] ?? "127.0.0.1:9464";
  return {
    uplink: parseRouterAddress(env["NDNTS_UPLINK"] ?? "unix:///run/nfd/nfd.sock"),
    prefix: new Name(env["NDN_PREFIX"] ?? "/ndn-registry"),
    registryUrl: registry,
    registryCredentials: loadRegistryCredentials(env),
    keychainDir: env["NDN_KEYCHAIN"] || undefined,
    dataSigner: signer,
    freshnessMs: int(env, "NDN_FRESHNESS_MS", 24 * 3600_000, 1000, 2 ** 31),
    // Pending Interests cost a few hundred bytes each; 4096 is 32 pulls' windows all waiting at once.
    maxPending: int(env, "NDN_PRODUCER_MAX_PENDING", 4096, 1, 65536),
    // The registry client's connections (16): more would only queue there.
    maxReads: int(env, "REGISTRY_MAX_READS", 16, 1, 256),
    // At most 50 lookups in any one second (docs: "Security and threat model").
    lookupRate: int(env, "REGISTRY_LOOKUP_RATE", 40, 1, 100_000),
    lookupRepositoryRate: int(env, "REGISTRY_LOOKUP_REPOSITORY_RATE", 10, 1, 100_000),
    routeCost: int(env, "NDN_ROUTE_COST", 0, 0, 65535),
    // 512 segments = 4 MB per Range request: the registry's cost is per request (docs/performance.md).
    // The largest read; a blob earns it by being read in sequence (producer/sequential-runs.ts).
    rangeChunkSegments: int(env, "REGISTRY_RANGE_SEGMENTS", 512, 1, 4096),
    // Fixed pools of range buffers: a quarter in 64 KB blocks, the rest in REGISTRY_RANGE_SEGMENTS
    // ranges (the ranges being served and read ahead, for several blobs at once).
    rangeCacheBytes: int(env, "RANGE_CACHE_BYTES", 64 * 1024 * 1024, 0, 2 ** 40),
    logLevel: env["LOG_LEVEL"] ?? "info",
    metricsListen: metricsListen === "" ? undefined : parseListenAddress(metricsListen, "METRICS_LISTEN="),
    obsolete: env["NDN_PRODUCER_CONCURRENCY"] ? ["NDN_PRODUCER_CONCURRENCY (replaced by NDN_PRODUCER_MAX_PENDING, which bounds every face)"] : [],
  };
}

/**
 * REGISTRY_USERNAME with REGISTRY_PASSWORD (or REGISTRY_PASSWORD_FILE, e.g. a Docker secret) and
 * REGISTRY_ALLOW_REPOSITORIES. Whatever the server reads is published to the whole NDN network,
 * so credentials are refused without an explicit list of the repositories they may read.
 */
function loadRegistryCredentials(env: Env): RegistryCredentials | undefined {
  const username = env["REGISTRY_USERNAME"] || undefined;
  const inline = env["REGISTRY_PASSWORD"] || undefined;
  const file = env["REGISTRY_PASSWORD_FILE"] || undefined;
  const allow = env["REGISTRY_ALLOW_REPOSITORIES"] || undefined;
  if (inline !== undefined && file !== undefined) {
    throw new Error("REGISTRY_PASSWORD and REGISTRY_PASSWORD_FILE: set one, not both");
  }
  if (username === undefined) {
    if (inline !== undefined || file !== undefined) {
      throw new Error("REGISTRY_PASSWORD(_FILE) without REGISTRY_USERNAME");
    }
    if (allow !== undefined) {
      throw new Error("REGISTRY_ALLOW_REPOSITORIES applies to registry credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD too, or unset it (anonymous reads need no list)");
    }
    return undefined;
  }
  if (username.includes(":")) {
    throw new Error("REGISTRY_USERNAME must not contain \":\" (HTTP Basic authentication)");
  }
  let password = inline;
  if (file !== undefined) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err: unknown) {
      throw new Error(`REGISTRY_PASSWORD_FILE=${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  if (!password) {
    throw new Error("REGISTRY_USERNAME without REGISTRY_PASSWORD or REGISTRY_PASSWORD_FILE");
  }
  if (allow === undefined) {
    throw new Error("REGISTRY_USERNAME needs REGISTRY_ALLOW_REPOSITORIES: the repositories (org/app) or namespaces (org/*) "
      + "whose blobs may be published over NDN with these credentials");
  }
  return { login: { username, password }, allowList: parseRepositoryAllowList(allow) };
}
