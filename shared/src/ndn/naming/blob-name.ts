import { Component, Name, TT } from "@ndn/packet";
import { Segment } from "@ndn/naming-convention2";

import { parseSha256Digest, sha256DigestFromBytes, type Sha256Digest } from "./digest.js";
import { isValidRepository } from "./repository.js";

/**
 * Wire names: /<prefix>/<repository>/<sha256 32 bytes>/<segment>.
 * The repository is ONE generic component holding the full name ("org/team/app"), so a
 * single-word repository encodes exactly as in the original proof of concept.
 */
export interface BlobId {
  readonly repository: string;
  readonly digest: Sha256Digest;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export function makeBlobId(repository: string, digestText: string): BlobId | undefined {
  const digest = parseSha256Digest(digestText);
  if (!digest || !isValidRepository(repository)) {
    return undefined;
  }
  return { repository, digest };
}

/** Name of a blob's segmented object (without the segment component). */
export function blobName(prefix: Name, id: BlobId): Name {
  return prefix.append(new Component(TT.GenericNameComponent, utf8.encode(id.repository)),
    new Component(TT.GenericNameComponent, id.digest.bytes));
}

export type ParsedSegmentName =
  | { readonly ok: true; readonly id: BlobId; readonly segment: number }
  | { readonly ok: false; readonly reason: string };

/** Parse an Interest name under the prefix; every malformed name gets a reason, never a throw. */
export function parseSegmentName(prefix: Name, name: Name): ParsedSegmentName {
  if (!prefix.isPrefixOf(name)) {
    return { ok: false, reason: "outside prefix" };
  }
  if (name.length !== prefix.length + 3) {
    return { ok: false, reason: "wrong number of components" };
  }
  const [repoComp, digestComp, segComp] = [name.get(prefix.length)!, name.get(prefix.length + 1)!, name.get(-1)!];
  if (repoComp.type !== TT.GenericNameComponent || digestComp.type !== TT.GenericNameComponent) {
    return { ok: false, reason: "component type" };
  }
  let repository: string;
  try {
    repository = utf8Strict.decode(repoComp.value);
  } catch {
    return { ok: false, reason: "repository not UTF-8" };
  }
  if (!isValidRepository(repository)) {
    return { ok: false, reason: "invalid repository" };
  }
  const digest = sha256DigestFromBytes(digestComp.value);
  if (!digest) {
    return { ok: false, reason: "digest length" };
  }
  if (!Segment.match(segComp)) {
    return { ok: false, reason: "not a segment" };
  }
  const segment = Segment.parse(segComp);
  if (!Number.isSafeInteger(segment)) {
    return { ok: false, reason: "segment out of range" };
  }
  return { ok: true, id: { repository, digest }, segment };
}

/** The key a blob is remembered by in maps and caches: `<repository>@<sha256 hex>`. */
export function blobKey(id: BlobId): string {
  return `${id.repository}@${id.digest.hex}`;
}
