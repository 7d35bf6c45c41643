import { createHash } from "node:crypto";

import type { Dispatcher } from "undici";

import { MAX_MANIFEST_BYTES, parseSha256Digest, type Sha256Digest } from "@ndnreg/shared/ndn";

import { MANIFEST_ACCEPT } from "./manifest-reads.js";

/** The registry's answer for a manifest URL by tag, with the publishing identity (see RegistryClient). */
export type AskTag = (method: "GET" | "HEAD", headers: Record<string, string>, signal?: AbortSignal) => Promise<Dispatcher.ResponseData>;

export type TagStat =
  | { readonly found: true; readonly digest: Sha256Digest; readonly size: number; readonly mediaType: string }
  | { readonly found: false; readonly status: number };

/** A registry answer that says nothing about the tag (5xx, odd statuses): the caller answers "registry unavailable". */
class TagReadError extends Error {}

/**
 * What `/v2/<repository>/manifests/<tag>` names now (docs/protocol.md, "Tag records"): a HEAD
 * (Accept: every manifest and index type) gives the digest (Docker-Content-Digest), size and media
 * type. A registry that sends no digest gets a GET, and the digest is the bytes' sha256.
 */
export async function statTag(ask: AskTag, signal?: AbortSignal): Promise<TagStat> {
  const res = await ask("HEAD", { accept: MANIFEST_ACCEPT }, signal);
  await res.body.dump();
  if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) {
    return { found: false, status: res.statusCode };
  }
  const size = Number(res.headers["content-length"]);
  const mediaType = String(res.headers["content-type"] ?? "").split(";")[0]!.trim();
  if (res.statusCode !== 200 || !Number.isSafeInteger(size) || size <= 0 || size > MAX_MANIFEST_BYTES || mediaType === "") {
    throw new TagReadError(`HEAD manifest by tag: registry answered ${res.statusCode} (${size} bytes, type "${mediaType}")`);
  }
  const digest = parseSha256Digest(String(res.headers["docker-content-digest"] ?? "")) ?? await hashManifest(ask, size, signal);
  return { found: true, digest, size, mediaType };
}

/** The sha256 of the manifest's bytes, read whole (at most 4 MiB). */
async function hashManifest(ask: AskTag, size: number, signal?: AbortSignal): Promise<Sha256Digest> {
  const res = await ask("GET", { accept: MANIFEST_ACCEPT }, signal);
  if (res.statusCode !== 200 || Number(res.headers["content-length"]) !== size) {
    await res.body.dump();
    throw new TagReadError(`GET manifest by tag: registry answered ${res.statusCode}, not the ${size} bytes its HEAD announced`);
  }
  const body = new Uint8Array(await res.body.arrayBuffer());
  if (body.length !== size) {
    throw new TagReadError(`GET manifest by tag: ${body.length} bytes, its HEAD announced ${size}`);
  }
  return parseSha256Digest(`sha256:${createHash("sha256").update(body).digest("hex")}`)!;
}
