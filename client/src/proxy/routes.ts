import { makeBlobId, type BlobId } from "@ndnreg/shared";

export type Route =
  | { readonly kind: "blob"; readonly id: BlobId }
  | { readonly kind: "proxy" };

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([^/]+)$/;

/**
 * Classify a /v2/ request path (without query). Only GETs of sha256 blobs in a valid repository
 * go over NDN; anything else (other digests, odd names, uploads) is the upstream's business.
 */
export function classify(method: string, pathname: string): Route {
  if (method !== "GET") {
    return { kind: "proxy" };
  }
  const m = BLOB_PATH.exec(pathname);
  const id = m ? makeBlobId(m[1]!, m[2]!) : undefined;
  return id ? { kind: "blob", id } : { kind: "proxy" };
}
