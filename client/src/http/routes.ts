import { type BlobId, makeBlobId } from "@ndnreg/shared/ndn";

export type Route =
  | { readonly kind: "blob"; readonly id: BlobId }
  /** `followRedirects`: a blob read the upstream may redirect to storage; the caller stays here. */
  | { readonly kind: "proxy"; readonly followRedirects: boolean };

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

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
