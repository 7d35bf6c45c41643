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
 * Bytes [begin, end) of the blob over HTTP with the caller's headers: one segment no NDN copy of
 * which matched the signed manifest (the fetcher checks these bytes against it too).
 */
export async function readRangeOverHttp(
  upstream: Upstream, req: IncomingMessage, path: string, begin: number, end: number, signal: AbortSignal,
): Promise<Uint8Array> {
  const res = await upstream.request({
    method: "GET", path, signal, followRedirects: true,
    headers: { ...req.headers, range: `bytes=${begin}-${end - 1}` }, dropHeaders: ["if-range"],
  });
  if (res.statusCode !== 206) {
    await res.body.dump();
    throw new Error(`upstream answered ${res.statusCode} to a read of bytes ${begin}-${end - 1}`);
  }
  const body = Buffer.from(await res.body.arrayBuffer());
  if (body.length !== end - begin) {
    throw new Error(`upstream sent ${body.length} bytes for bytes ${begin}-${end - 1}`);
  }
  return body;
}

/**
 * The rest of the blob (or of the window) over HTTP from where NDN stopped (`Range: bytes=<position>-`), through the
 * same verified writer. Returns the bytes it read.
 */
export async function resumeOverHttp(
  upstream: Upstream, req: IncomingMessage, path: string, id: BlobId, writer: VerifiedWriter, size: number, signal: AbortSignal,
): Promise<number> {
  const from = writer.position;
  const last = Math.min(size - 1, writer.lastNeeded);
  if (from > last) {
    return 0;
  }
  const res = await upstream.request({
    method: "GET", path, signal, followRedirects: true,
    headers: { ...req.headers, range: `bytes=${from}-${last}` }, dropHeaders: ["if-range"],
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
