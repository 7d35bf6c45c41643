import type { IncomingMessage, ServerResponse } from "node:http";

import type { BlobId } from "@ndnreg/shared/ndn";

import type { Upstream } from "../http/upstream.js";
import type { VerifiedWriter } from "./verified-writer.js";

/**
 * The whole request as a plain GET to the upstream, relayed unchanged (redirects followed so the
 * caller never leaves the proxy). Returns the body's length when the upstream sent the blob (2xx).
 */
export async function proxyWholeBlob(
  upstream: Upstream, req: IncomingMessage, res: ServerResponse, path: string, signal: AbortSignal,
): Promise<number | undefined> {
  const up = await upstream.request({ method: "GET", path, headers: req.headers, signal, followRedirects: true });
  await upstream.relay(up, res);
  return up.statusCode < 300 ? Number(up.headers["content-length"] ?? 0) : undefined;
}

/**
 * The rest of the blob over HTTP from where NDN stopped (`Range: bytes=<position>-`), through the
 * same verified writer. Returns the bytes it read.
 */
export async function resumeOverHttp(
  upstream: Upstream, req: IncomingMessage, path: string, id: BlobId, writer: VerifiedWriter, size: number, signal: AbortSignal,
): Promise<number> {
  const from = writer.position;
  if (from >= size) {
    return 0;
  }
  const res = await upstream.request({
    method: "GET", path, signal, followRedirects: true,
    headers: { ...req.headers, range: `bytes=${from}-${size - 1}` }, dropHeaders: ["if-range"],
  });
  if (res.statusCode !== 206) {
    await res.body.dump();
    throw new Error(`upstream answered ${res.statusCode} to a resume at byte ${from} of ${id.digest.text}`);
  }
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    await writer.push(chunk);
    n += chunk.length;
  }
  return n;
}
