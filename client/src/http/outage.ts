import type { Logger } from "@ndnreg/shared";

import type { ClientMetrics } from "../ops/metrics.js";
import { errorCode } from "./upstream-errors.js";
import type { Upstream } from "./upstream.js";

/**
 * Failures that mean the upstream gave no answer at all: it could not be connected to, the
 * connection broke before a response, or no response came within --upstream-timeout. Any answer,
 * even a 401, 404 or 5xx, is not one of these: it is passed on as it is.
 */
const UNREACHABLE = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT",
  "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT",
]);

function isUnreachable(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && UNREACHABLE.has(code);
}

/**
 * How long a read outage mode can answer keeps trying an upstream that gives no answer before the
 * client enters outage mode: a registry restarting for a few seconds is waited for, a cut WAN link
 * costs the first request 5 s rather than the whole --upstream-timeout.
 */
export const OUTAGE_GRACE_MS = 5000;

/** How often the upstream is asked whether it is back, while in outage mode. */
const PROBE_INTERVAL_MS = 5000;

/** What outage mode serves without a trust anchor: by digest only (docs/protocol.md, "Outage mode"). */
export const OUTAGE_SCOPE = "pulls by digest are served from the edge store and over NDN; tags cannot be resolved without the registry";

/** With a trust anchor, tags too, by the server's signed tag records. */
export const OUTAGE_SCOPE_WITH_TAGS = "pulls by digest are served from the edge store and over NDN, pulls by tag where a tag record signed by the server is found";

/**
 * Whether the client is in outage mode: entered when a request got no answer from the upstream
 * (never on an answer), left when the upstream answers again. While in it, reads that outage
 * mode can answer do not wait for the upstream (each would cost the whole --upstream-timeout);
 * a probe asks the upstream every few seconds instead. Entering and leaving are logged once each.
 */
export class OutageMode {
  private since?: number;
  private probe?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly upstream: Upstream, private readonly log: Logger, private readonly metrics: ClientMetrics, private readonly scope = OUTAGE_SCOPE,
  ) {}

  get active(): boolean {
    return this.since !== undefined;
  }

  /** A request to the upstream failed with `err`: true when that means an outage (now in outage mode). */
  failed(err: unknown): boolean {
    if (!isUnreachable(err)) {
      return false;
    }
    if (this.since === undefined && !this.closed) {
      this.since = Date.now();
      this.metrics.outages.inc();
      this.metrics.outage.set(1);
      this.log.warn({ reason: errorCode(err), upstream: this.upstream.base.href }, `upstream unreachable: outage mode (${this.scope})`);
      this.scheduleProbe();
    }
    return true;
  }

  /** The upstream answered a request (whatever the status): outage mode ends. */
  answered(): void {
    if (this.since === undefined) {
      return;
    }
    this.log.info({ seconds: Math.round((Date.now() - this.since) / 1000) }, "upstream answers again: outage mode ended");
    this.since = undefined;
    this.metrics.outage.set(0);
    clearTimeout(this.probe);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.probe);
  }

  private scheduleProbe(): void {
    this.probe = setTimeout(() => void this.ask(), PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  /** GET /v2/ without credentials: any status means the upstream is back. */
  private async ask(): Promise<void> {
    try {
      const res = await this.upstream.request({ method: "GET", path: "/v2/", headers: {} });
      await res.body.dump();
      this.answered();
    } catch {
      if (this.active && !this.closed) {
        this.scheduleProbe();
      }
    }
  }
}
