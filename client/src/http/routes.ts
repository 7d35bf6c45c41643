import { type BlobId, isValidRepository, isValidTag, makeBlobId } from "@ndnreg/shared/ndn";

export type Route =
  | { readonly kind: "blob"; readonly id: BlobId }
  /** `followRedirects`: a blob read the upstream may redirect to storage; the caller stays here. */
  | { readonly kind: "proxy"; readonly followRedirects: boolean };

/** A read the client can answer without the upstream (outage mode), or refuse clearly. */
export type OfflineRoute =
  | { readonly kind: "ping" }
  | { readonly kind: "blob" | "manifest"; readonly id: BlobId; readonly head: boolean }
  | { readonly kind: "tag"; readonly repository: string; readonly tag: string; readonly head: boolean };

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/**
 * Classify a /v2/ request by method and path. The query (e.g. containerd's `?ns=docker.io`) plays
 * no part: it is passed to the upstream unchanged. Only GETs of sha256 blobs in a valid repository
 * go over NDN; anything else (other digests, odd names, uploads) is the upstream's business.
 */
export function classify(method: string, pathname: string): Route {
  const m = BLOB_PATH.exec(pathname);
  const isBlobRead = m !== null && m[2] !== "uploads" && (method === "GET" || method === "HEAD");
  const id = isBlobRead && method === "GET" ? makeBlobId(m[1]!, m[2]!) : undefined;
  return id ? { kind: "blob", id } : { kind: "proxy", followRedirects: isBlobRead };
}

/**
 * The reads outage mode answers: the API version check, blobs and manifests by sha256 digest,
 * manifests by tag (resolved by a signed tag record, or refused with the reason). Undefined: the
 * request is the upstream's alone (pushes, listings, other digests).
 */
export function offlineRoute(method: string, pathname: string): OfflineRoute | undefined {
  if (method !== "GET" && method !== "HEAD") {
    return undefined;
  }
  if (pathname === "/v2" || pathname === "/v2/") {
    return { kind: "ping" };
  }
  const head = method === "HEAD";
  const blob = BLOB_PATH.exec(pathname);
  const blobId = blob && makeBlobId(blob[1]!, blob[2]!);
  if (blobId) {
    return { kind: "blob", id: blobId, head };
  }
  const manifest = MANIFEST_PATH.exec(pathname);
  if (!manifest) {
    return undefined;
  }
  const id = makeBlobId(manifest[1]!, manifest[2]!);
  if (id) {
    return { kind: "manifest", id, head };
  }
  return isValidRepository(manifest[1]!) && isValidTag(manifest[2]!) ? { kind: "tag", repository: manifest[1]!, tag: manifest[2]!, head } : undefined;
}

/** The repository of a manifest path (by tag or digest); undefined for any other path. */
export function manifestRepository(pathname: string): string | undefined {
  const m = MANIFEST_PATH.exec(pathname);
  return m && isValidRepository(m[1]!) ? m[1] : undefined;
}
