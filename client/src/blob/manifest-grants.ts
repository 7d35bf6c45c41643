import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { Transform } from "node:stream";

import { type BlobId, makeBlobId, MAX_MANIFEST_BYTES } from "@ndnreg/shared/ndn";

/** What an image manifest says of a blob it lists. */
export interface Descriptor {
  readonly size: number;
  readonly mediaType: string;
}

/**
 * How long a relayed manifest vouches for its blobs. Long enough for a pull's layers, which
 * follow the manifest one after another (20 s for 8 hosts on the WAN bench), short next to the
 * bearer tokens registries hand out (Docker Hub: 300 s), so a permission the registry withdraws
 * stops counting within a minute.
 */
export const GRANT_MS = 60_000;

/** Scopes (repository, query, credentials) remembered at once: the least recently granted goes first. */
const MAX_SCOPES = 256;
/** Blobs remembered per scope (Docker caps an image at 127 layers): the least recently listed go first. */
const MAX_PER_SCOPE = 256;

interface Grant extends Descriptor {
  readonly until: number;
}

/**
 * The blob part of an image manifest (OCI image manifest, Docker schema 2): its config and its
 * layers, by digest. An index or manifest list lists manifests, not blobs: nothing (the caller
 * fetches those manifests, which count when they are relayed). Foreign layers (with `urls`) live
 * elsewhere and are left out. Undefined: not an image manifest this reads.
 */
function listedBlobs(body: Buffer): Map<string, Descriptor> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!isObject(doc) || "manifests" in doc || !isObject(doc["config"]) || !Array.isArray(doc["layers"])) {
    return undefined;
  }
  const listed = new Map<string, Descriptor>();
  for (const d of [doc["config"], ...(doc["layers"] as unknown[])]) {
    if (!isObject(d) || typeof d["digest"] !== "string" || typeof d["mediaType"] !== "string" || "urls" in d) {
      continue;
    }
    const size = d["size"];
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      continue;
    }
    listed.set(d["digest"], { size, mediaType: d["mediaType"] });
  }
  return listed;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Who asks: a hash of the caller's Authorization and Cookie headers (never kept in clear), the
 * same for every anonymous caller. A caller with other credentials is another caller.
 */
function credentialKey(headers: IncomingHttpHeaders): string {
  const authorization = headers["authorization"];
  const cookie = headers["cookie"];
  if (authorization === undefined && cookie === undefined) {
    return "anonymous";
  }
  return createHash("sha256").update(JSON.stringify([authorization ?? null, cookie ?? null])).digest("base64url");
}

/**
 * Authorization from the relayed manifest: an upstream that answered a caller's manifest GET with
 * 200 let that caller pull the repository, and the blobs the manifest lists are the repository's
 * (the registry checked them at push). For GRANT_MS such a blob GET, with the same credentials in
 * the same repository (and query), is planned from the manifest's descriptor instead of asking the
 * upstream's HEAD first. Anything else keeps the HEAD. The descriptor's size is checked against
 * the producer's metadata before a byte is sent (see BlobHandler).
 */
export class ManifestGrants {
  /** scope -> digest text -> grant; both in order of the latest listing. */
  private readonly scopes = new Map<string, Map<string, Grant>>();

  /**
   * A pass-through for the relayed body of a manifest GET that the upstream answered 200: once
   * the whole body went through (before the caller's response ends), the blobs it lists are
   * granted, and `onListed` is told of them. Undefined when the body is too large to read.
   */
  tap(repository: string, query: string, headers: IncomingHttpHeaders, contentLength: number, onListed: (ids: BlobId[]) => void): Transform | undefined {
    if (contentLength > MAX_MANIFEST_BYTES) {
      return undefined;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        length += chunk.length;
        if (length <= MAX_MANIFEST_BYTES) {
          chunks.push(chunk);
        } else {
          chunks.length = 0; // too large to read: nothing is kept while the rest goes through
        }
        done(null, chunk);
      },
      flush: (done) => {
        const listed = length <= MAX_MANIFEST_BYTES ? listedBlobs(Buffer.concat(chunks)) : undefined;
        if (listed && listed.size > 0) {
          onListed(this.grant(repository, query, headers, listed));
        }
        done();
      },
    });
  }

  /** The descriptor of a blob the caller may be served without the upstream's HEAD, if any. */
  find(id: BlobId, query: string, headers: IncomingHttpHeaders): Descriptor | undefined {
    const scope = this.scopes.get(scopeKey(id.repository, query, headers));
    const grant = scope?.get(id.digest.text);
    if (!grant) {
      return undefined;
    }
    if (grant.until <= performance.now()) {
      scope!.delete(id.digest.text);
      return undefined;
    }
    return grant;
  }

  /** The descriptor proved wrong (the producer's size differs): the HEAD decides this blob again. */
  forget(id: BlobId, query: string, headers: IncomingHttpHeaders): void {
    this.scopes.get(scopeKey(id.repository, query, headers))?.delete(id.digest.text);
  }

  /** Grants `listed` for GRANT_MS; returns the blobs granted. */
  private grant(repository: string, query: string, headers: IncomingHttpHeaders, listed: Map<string, Descriptor>): BlobId[] {
    const key = scopeKey(repository, query, headers);
    const scope = this.scopes.get(key) ?? new Map<string, Grant>();
    this.scopes.delete(key);
    this.scopes.set(key, scope);
    if (this.scopes.size > MAX_SCOPES) {
      this.scopes.delete(this.scopes.keys().next().value!);
    }
    const until = performance.now() + GRANT_MS;
    const ids: BlobId[] = [];
    for (const [digest, d] of listed) {
      const id = makeBlobId(repository, digest);
      if (!id || ids.length >= MAX_PER_SCOPE) {
        continue;
      }
      scope.delete(digest);
      scope.set(digest, { size: d.size, mediaType: d.mediaType, until });
      ids.push(id);
    }
    while (scope.size > MAX_PER_SCOPE) {
      scope.delete(scope.keys().next().value!);
    }
    return ids;
  }
}

function scopeKey(repository: string, query: string, headers: IncomingHttpHeaders): string {
  return `${repository}\n${query}\n${credentialKey(headers)}`;
}
