import type { Name } from "@ndn/packet";
import {
  httpUrl, integer, loadSettings, logLevelSetting, metricsListenSetting, milliseconds, nameSetting, optional, packageVersion, routerSetting, type SettingTable,
  text, upstreamSetting,
} from "@ndnreg/shared/config";
import { parseListenAddress } from "@ndnreg/shared/http";
import type { RouterAddress } from "@ndnreg/shared/ndn";

import { DEFAULT_FCH_URL } from "./ndn/router-discovery.js";

/**
 * The client's settings: each is a flag and an NDNREG_<FLAG> variable (see loadSettings). The
 * first five mean the same on the server.
 */
export const CLIENT_SETTINGS = {
  upstream: upstreamSetting("the registry the client proxies to (http or https); it authorises every blob GET"),
  name: nameSetting(),
  router: routerSetting("the NDN forwarder", "", "NDN-FCH"),
  "metrics-listen": metricsListenSetting("serve /metrics and /healthz on this host:port; empty: on the registry listener", ""),
  "log-level": logLevelSetting(),
  listen: { describe: "host:port of the local registry endpoint", default: "127.0.0.1:5000", parse: parseListenAddress },
  fch: { describe: "NDN-FCH service asked for the nearest testbed routers when no --router is given", default: DEFAULT_FCH_URL, parse: httpUrl },
  "first-byte-timeout": { describe: "ms to wait for a blob's first segment before using HTTP", default: "4000", parse: milliseconds },
  "idle-timeout": { describe: "ms without a segment before the rest of a blob comes over HTTP", default: "5000", parse: milliseconds },
  "upstream-timeout": { describe: "ms to wait for the upstream's response (and between body bytes) before answering 504", default: "30000", parse: milliseconds },
  "progress-interval": { describe: "ms between progress lines (percent, MB/s) for blobs of 32 MiB and more", default: "5000", parse: milliseconds },
  "trust-anchor": {
    describe: "the server's certificate file (ndn-registry-server --print-certificate): metadata and manifests are verified against it, each "
      + "segment is checked on its own as it arrives, and ranges fetch only the segments they cover; empty: every blob is hashed against its digest",
    default: "", parse: optional(text),
  },
  "store-dir": {
    describe: "directory of the edge store: blobs fetched over NDN and verified are kept there, served to local pulls and to neighbours over NDN; "
      + "empty: no store", default: "", parse: optional(text),
  },
  "store-bytes": { describe: "byte budget of the edge store (blobs and their signed packets); the least recently used blobs are evicted beyond it",
    default: "10737418240", parse: integer(0, 2 ** 50) },
} as const satisfies SettingTable;

export interface ClientConfig {
  readonly upstream: URL;
  readonly prefix: Name;
  readonly listen: { readonly host: string; readonly port: number };
  /** Undefined: find a testbed router through NDN-FCH at `fch`. */
  readonly router?: RouterAddress;
  readonly fch: string;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly logLevel: string;
  /** Separate address for /metrics and /healthz; undefined: served on the registry listener. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /** ms between progress lines for blobs of 32 MiB and more. */
  readonly progressIntervalMs: number;
  /** ms to wait for the upstream's response headers (and between body bytes) before a 504. */
  readonly upstreamTimeoutMs: number;
  /** The server's certificate file: metadata and manifests are verified, segments checked one by one. */
  readonly trustAnchor?: string;
  /** The edge store: its directory (undefined: no store) and byte budget. */
  readonly store?: { readonly dir: string; readonly bytes: number };
}

/** Flags, then the environment, then ./.env (`envFile`), then defaults. */
export function loadClientConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}, envFile?: string): ClientConfig {
  const s = loadSettings(CLIENT_SETTINGS, {
    program: "ndn-registry-client", version: packageVersion(new URL("../package.json", import.meta.url)), argv, env, envFile,
    usage: "$0 --upstream https://registry.example --name /example/registry --router unix:///run/nfd/nfd.sock\n\n"
      + "Serves a local registry endpoint: blob GETs travel over NDN, everything else goes to --upstream.\n"
      + "Each flag can also be set by its environment variable, or in ./.env; flags win over both.",
  });
  return {
    upstream: s.upstream, prefix: s.name, listen: s.listen, router: s.router, fch: s.fch.href,
    firstByteTimeoutMs: s["first-byte-timeout"], idleTimeoutMs: s["idle-timeout"], logLevel: s["log-level"],
    metricsListen: s["metrics-listen"], progressIntervalMs: s["progress-interval"], upstreamTimeoutMs: s["upstream-timeout"],
    trustAnchor: s["trust-anchor"], store: s["store-dir"] === undefined ? undefined : { dir: s["store-dir"], bytes: s["store-bytes"] },
  };
}
