import type { Name } from "@ndn/packet";

import { parseListenAddress } from "../http/listen-address.js";
import { parseRouterAddress, type RouterAddress } from "../ndn/uplink/router-uri.js";
import type { Setting } from "./settings.js";
import { httpUrl, ndnName, oneOf, optional } from "./values.js";

/**
 * The settings both processes have, declared once so that the same thing has the same flag,
 * variable and grammar on both sides; each process says what it means for it.
 */

/** --upstream: the registry the server reads, or the one the client proxies to. */
export function upstreamSetting(describe: string, dflt?: string): Setting<URL> {
  return { describe, default: dflt, parse: httpUrl };
}

/** --name: the NDN prefix blobs are published under; the server and its clients must agree. */
export function nameSetting(): Setting<Name> {
  return { describe: "NDN prefix blobs are published under (the same for the server and its clients)", default: "/ndn-registry", parse: ndnName };
}

/**
 * --router: the NDN forwarder; NDNTS_UPLINK, which NDNts programs read, means the same. Empty
 * means none (a process that must have one replaces `parse` with parseRouterAddress).
 */
export function routerSetting(describe: string, dflt: string, defaultText?: string): Setting<RouterAddress | undefined> {
  return {
    describe: `${describe}: unix:///path, tcp://host:port or udp://host:port (a bare /path is Unix, a bare host:port UDP)`,
    default: dflt, defaultText, envAliases: ["NDNTS_UPLINK"], parse: optional(parseRouterAddress),
  };
}

/** --metrics-listen: host:port of /metrics and /healthz; empty: see `describe`. */
export function metricsListenSetting(describe: string, dflt: string): Setting<{ host: string; port: number } | undefined> {
  return { describe, default: dflt, parse: optional(parseListenAddress) };
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export function logLevelSetting(): Setting<typeof LOG_LEVELS[number]> {
  return { describe: `log level (${LOG_LEVELS.join(", ")})`, default: "info", parse: oneOf(...LOG_LEVELS) };
}
