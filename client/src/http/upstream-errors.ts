import type { ServerResponse } from "node:http";

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"]);

/** The error code of an undici or socket error, looking through `cause`. */
export function errorCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, ++depth) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      return code;
    }
  }
  return undefined;
}

/**
 * Answer a request whose upstream exchange failed, in the registry API's error format:
 * 504 when the upstream was too slow, 502 when it could not be reached or broke the exchange.
 * Nothing is written if the response has already started (then the caller destroys it).
 */
export function sendUpstreamError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    return;
  }
  const code = errorCode(err);
  const timeout = code !== undefined && TIMEOUT_CODES.has(code);
  res.writeHead(timeout ? 504 : 502, { "content-type": "application/json" });
  res.end(JSON.stringify({
    errors: [{
      code: "UNAVAILABLE",
      message: timeout ? "upstream registry timed out" : "upstream registry unreachable",
      detail: { reason: code ?? (err instanceof Error ? err.message : String(err)) },
    }],
  }));
}
