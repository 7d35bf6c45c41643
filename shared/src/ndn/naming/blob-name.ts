import { Keyword, Segment } from "@ndn/naming-convention2";
import { Component, ImplicitDigest, Name, TT } from "@ndn/packet";
import { MetadataKeyword } from "@ndn/rdr";

import { parseSha256Digest, sha256DigestFromBytes, type Sha256Digest } from "./digest.js";
import { isValidRepository, repositoryComponent } from "./repository.js";
import { isValidTag, StoredTagKeyword, type TagId, TagKeyword } from "./tag-name.js";

/**
 * The five name kinds under the server's prefix (docs/protocol.md, "Names"):
 * - canonical segment `/<prefix>/<digest>/seg=N`: no repository, so a layer is one object in every cache;
 * - manifest node `/<prefix>/<digest>/32=manifest/seg=I`;
 * - metadata `/<prefix>/<repository>/<digest>/32=metadata` (RDR discovery);
 * - legacy segment `/<prefix>/<repository>/<digest>/seg=N` (the proof of concept's names);
 * - tag record `/<prefix>/<repository>/32=tag/<tag>`, and a store's copy of it under `32=stored-tag` (see tag-name.ts).
 * The repository is ONE generic component holding the full name ("org/team/app"), so a
 * single-word repository encodes exactly as in the proof of concept. Segments and manifest nodes
 * may end with an ImplicitSha256DigestComponent (an Interest for exactly one packet).
 */
export interface BlobId {
  readonly repository: string;
  readonly digest: Sha256Digest;
}

export const ManifestKeyword = Keyword.create("manifest");

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export function makeBlobId(repository: string, digestText: string): BlobId | undefined {
  const digest = parseSha256Digest(digestText);
  if (!digest || !isValidRepository(repository)) {
    return undefined;
  }
  return { repository, digest };
}

function digestComponent(digest: Sha256Digest): Component {
  return new Component(TT.GenericNameComponent, digest.bytes);
}

/** `/<prefix>/<digest>`: the canonical segmented object (append seg=N). */
export function canonicalBlobName(prefix: Name, digest: Sha256Digest): Name {
  return prefix.append(digestComponent(digest));
}

/** `/<prefix>/<digest>/32=manifest`: the manifest's segmented object (append seg=I). */
export function manifestName(prefix: Name, digest: Sha256Digest): Name {
  return canonicalBlobName(prefix, digest).append(ManifestKeyword);
}

/** `/<prefix>/<repository>/<digest>`: the legacy segmented object, and where metadata lives. */
export function legacyBlobName(prefix: Name, id: BlobId): Name {
  return prefix.append(repositoryComponent(id.repository), digestComponent(id.digest));
}

/** `/<prefix>/<repository>/<digest>/32=metadata`: the discovery Interest's name. */
export function metadataName(prefix: Name, id: BlobId): Name {
  return legacyBlobName(prefix, id).append(MetadataKeyword);
}

/** What a name under the prefix asks for. `implicitDigest`: the Interest wants exactly that packet. */
type RegistryName =
  | { readonly kind: "segment"; readonly digest: Sha256Digest; readonly segment: number; readonly implicitDigest?: Uint8Array }
  | { readonly kind: "manifest"; readonly digest: Sha256Digest; readonly node: number; readonly implicitDigest?: Uint8Array }
  | { readonly kind: "metadata"; readonly id: BlobId }
  | { readonly kind: "legacy"; readonly id: BlobId; readonly segment: number; readonly implicitDigest?: Uint8Array }
  | { readonly kind: "tag"; readonly id: TagId }
  | { readonly kind: "stored-tag"; readonly id: TagId };

export type ParsedName = ({ readonly ok: true } & RegistryName) | { readonly ok: false; readonly reason: string };

type Failure = { readonly ok: false; readonly reason: string };
const fail = (reason: string): Failure => ({ ok: false, reason });

/**
 * Parse a name under the prefix (an Interest's, or a Data's for metadata with its version and
 * segment removed by the caller). Every malformed name gets a reason, never a throw.
 */
export function parseRegistryName(prefix: Name, name: Name): ParsedName {
  if (!prefix.isPrefixOf(name)) {
    return fail("outside prefix");
  }
  let comps = name.comps.slice(prefix.length);
  let implicitDigest: Uint8Array | undefined;
  if (comps.length > 0 && ImplicitDigest.match(comps.at(-1)!)) {
    implicitDigest = comps.at(-1)!.value;
    comps = comps.slice(0, -1);
  }
  if (comps.length === 2) {
    const digest = parseDigestComponent(comps[0]!);
    if (!digest.ok) {
      return digest;
    }
    const segment = parseSegmentComponent(comps[1]!);
    return segment.ok ? { ok: true, kind: "segment", digest: digest.digest, segment: segment.value, implicitDigest } : segment;
  }
  if (comps.length !== 3) {
    return fail("wrong number of components");
  }
  if (comps[1]!.equals(ManifestKeyword)) {
    const digest = parseDigestComponent(comps[0]!);
    if (!digest.ok) {
      return digest;
    }
    const node = parseSegmentComponent(comps[2]!);
    return node.ok ? { ok: true, kind: "manifest", digest: digest.digest, node: node.value, implicitDigest } : node;
  }
  const repository = parseRepositoryComponent(comps[0]!);
  if (!repository.ok) {
    return repository;
  }
  const stored = comps[1]!.equals(StoredTagKeyword);
  if (stored || comps[1]!.equals(TagKeyword)) {
    if (implicitDigest) {
      return fail("implicit digest on a tag name");
    }
    const tag = parseTagComponent(comps[2]!);
    if (!tag.ok) {
      return tag;
    }
    const id: TagId = { repository: repository.repository, tag: tag.tag };
    return stored ? { ok: true, kind: "stored-tag", id } : { ok: true, kind: "tag", id };
  }
  const digest = parseDigestComponent(comps[1]!);
  if (!digest.ok) {
    return digest;
  }
  const id: BlobId = { repository: repository.repository, digest: digest.digest };
  if (comps[2]!.equals(MetadataKeyword)) {
    return implicitDigest ? fail("implicit digest on a metadata name") : { ok: true, kind: "metadata", id };
  }
  const segment = parseSegmentComponent(comps[2]!);
  return segment.ok ? { ok: true, kind: "legacy", id, segment: segment.value, implicitDigest } : segment;
}

function parseDigestComponent(c: Component): { ok: true; digest: Sha256Digest } | Failure {
  if (c.type !== TT.GenericNameComponent) {
    return fail("component type");
  }
  const digest = sha256DigestFromBytes(c.value);
  return digest ? { ok: true, digest } : fail("digest length");
}

function parseRepositoryComponent(c: Component): { ok: true; repository: string } | Failure {
  if (c.type !== TT.GenericNameComponent) {
    return fail("component type");
  }
  let repository: string;
  try {
    repository = utf8Strict.decode(c.value);
  } catch {
    return fail("repository not UTF-8");
  }
  return isValidRepository(repository) ? { ok: true, repository } : fail("invalid repository");
}

function parseTagComponent(c: Component): { ok: true; tag: string } | Failure {
  if (c.type !== TT.GenericNameComponent) {
    return fail("component type");
  }
  if (c.value.length > 128) {
    return fail("invalid tag");
  }
  const tag = String.fromCharCode(...c.value);
  return isValidTag(tag) ? { ok: true, tag } : fail("invalid tag");
}

function parseSegmentComponent(c: Component): { ok: true; value: number } | Failure {
  if (!Segment.match(c)) {
    return fail("not a segment");
  }
  const value = Segment.parse(c);
  return Number.isSafeInteger(value) ? { ok: true, value } : fail("segment out of range");
}

/** The key a blob is remembered by in maps and caches: `<repository>@<sha256 hex>`. */
export function blobKey(id: BlobId): string {
  return `${id.repository}@${id.digest.hex}`;
}
