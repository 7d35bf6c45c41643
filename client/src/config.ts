import { readFileSync } from "node:fs";

import { Name } from "@ndn/packet";
import { parseListenAddress } from "@ndnreg/shared/http";
import { parseRouterAddress, type RouterAddress } from "@ndnreg/shared/ndn";
import yargs from "yargs";

import { DEFAULT_FCH_URL } from "./ndn/router-discovery.js";

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
}

/** Flags; each is also read from the environment as NDNREG_<FLAG> (e.g. NDNREG_UPSTREAM). */
export function loadClientConfig(argv: readonly string[]): ClientConfig {
  const args = yargs([...argv])
    .scriptName("ndn-registry-client")
    .usage("$0 --upstream https://registry.example --name /ndn/registry\n\nServes a local registry endpoint; blob GETs travel over NDN, everything else goes to --upstream.")
    .env("NDNREG")
    .option("upstream", { type: "string", demandOption: true, describe: "upstream registry base URL (http or https)" })
    .option("name", { type: "string", default: "/ndn-registry", describe: "NDN prefix the server publishes blobs under" })
    .option("listen", { type: "string", default: "127.0.0.1:5000", describe: "address of the local registry endpoint" })
    .option("router", {
      type: "string",
      describe: "NDN forwarder: unix:///path, tcp://host:port, udp://host:port; bare host:port is UDP, bare /path a Unix socket. "
        + "Without it, the nearest router of the global NDN testbed is found through NDN-FCH",
    })
    .option("fch", { type: "string", default: DEFAULT_FCH_URL, describe: "NDN-FCH service asked for a testbed router when --router is not given" })
    .option("first-byte-timeout", { type: "number", default: 4000, describe: "ms to wait for a blob's first segment before using HTTP" })
    .option("idle-timeout", { type: "number", default: 5000, describe: "ms without a segment before the rest of a blob goes over HTTP" })
    .option("metrics-listen", { type: "string", default: "", describe: "serve /metrics and /healthz on this host:port instead of the registry listener" })
    .option("upstream-timeout", { type: "number", default: 30_000, describe: "ms to wait for the upstream registry's response (and between body bytes) before answering 504" })
    .option("progress-interval", { type: "number", default: 5000, describe: "ms between progress lines (percent, MB/s) for blobs of 32 MiB and more" })
    .option("trust-anchor", {
      type: "string", default: "",
      describe: "the server's certificate (ndn-registry-server --print-certificate): metadata and manifests are verified against it, "
        + "each segment is checked on its own, and ranges fetch only the segments they cover",
    })
    .option("log-level", { type: "string", default: "info", choices: ["trace", "debug", "info", "warn", "error", "fatal", "silent"] })
    .version(packageVersion())
    .strict()
    .showHelpOnFail(false, "run with --help for the flags")
    .help()
    .parseSync();

  const upstream = new URL(args.upstream);
  if (upstream.protocol !== "http:" && upstream.protocol !== "https:") {
    throw new Error(`--upstream ${args.upstream}: must be an http(s) URL`);
  }
  for (const [flag, v] of [["first-byte-timeout", args.firstByteTimeout], ["idle-timeout", args.idleTimeout], ["progress-interval", args.progressInterval], ["upstream-timeout", args.upstreamTimeout]] as const) {
    if (!Number.isFinite(v) || v <= 0) {
      throw new Error(`--${flag} ${v}: expected a positive number of milliseconds`);
    }
  }
  return {
    upstream,
    prefix: new Name(args.name),
    listen: parseListenAddress(args.listen, "--listen"),
    router: args.router === undefined || args.router === "" ? undefined : parseRouterAddress(args.router),
    fch: args.fch,
    firstByteTimeoutMs: args.firstByteTimeout,
    idleTimeoutMs: args.idleTimeout,
    logLevel: args.logLevel,
    metricsListen: args.metricsListen ? parseListenAddress(args.metricsListen, "--metrics-listen") : undefined,
    progressIntervalMs: args.progressInterval,
    upstreamTimeoutMs: args.upstreamTimeout,
    trustAnchor: args.trustAnchor || undefined,
  };
}

/** This package's version (dist/config.js sits one level below package.json). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}
