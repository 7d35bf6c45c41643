import type { Forwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { type Data, Interest, type Name, type Verifier } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { type BlobId, canonicalBlobName, ContentType, decodeBlobMetadata, describesCanonicalBlob, manifestName, manifestNodeCount, segmentCount } from "@ndnreg/shared/ndn";

import { metadataInterest } from "../ndn/discovery.js";
import { manifestNodeProblem } from "../ndn/manifest-reader.js";
import { fetchOnePacket } from "../ndn/one-packet.js";
import type { PacketSource } from "./blob-store.js";
import type { StoredPackets } from "./packet-file.js";

/** Manifest nodes fetched at once for a blob being stored. */
const NODE_CONCURRENCY = 8;
/**
 * Patient: the server signs a blob's last node only once it has hashed the whole blob, which takes
 * a busy server seconds when a cache served the caller; storing is on no caller's path.
 */
const ATTEMPTS = 4;
const LIFETIME_MS = 4000;

/**
 * Where a stored blob's signed packets come from: NDN, after its bytes were verified. The
 * metadata proves the server publishes the digest (the store keeps nothing else), and the nodes
 * let neighbours with a trust anchor check each segment the store serves. Fetched with the anchor
 * when there is one; the client's own fetch usually left them in the forwarder's cache (nodes are
 * 0.4% of the blob).
 */
export function ndnPacketSource(fw: Forwarder, prefix: Name, verifier?: Verifier): PacketSource {
  return async (id: BlobId, size: number, signal: AbortSignal): Promise<StoredPackets> => {
    const one = async (interest: () => Interest, what: string, check: (data: Data) => string | undefined): Promise<Uint8Array> => {
      let last = "no answer";
      for (let attempt = 0; attempt < ATTEMPTS; ++attempt) {
        const got = await fetchOnePacket(fw, interest(), signal, verifier);
        if ("data" in got) {
          const bad = got.data.contentType === ContentType.Nack ? "producer Nack" : check(got.data);
          if (bad === undefined) {
            return Encoder.encode(got.data);
          }
          last = bad;
        } else {
          last = "timeout" in got ? "no answer" : got.error;
        }
      }
      throw new Error(`${what}: ${last}`);
    };
    const count = segmentCount(size);
    const metadata = await one(() => metadataInterest(prefix, id, LIFETIME_MS), "metadata", (data) => {
      const m = decodeBlobMetadata(data.content);
      return m.blobSize === size && describesCanonicalBlob(m, canonicalBlobName(prefix, id.digest), count) ? undefined : "fields do not match the blob";
    });
    const nodeCount = manifestNodeCount(count);
    const nodes = new Array<Uint8Array>(nodeCount);
    const base = manifestName(prefix, id.digest);
    let next = 0;
    const worker = async () => {
      for (let n = next++; n < nodeCount; n = next++) {
        nodes[n] = await one(() => new Interest(base.append(Segment, n), Interest.Lifetime(LIFETIME_MS)), `manifest node ${n}`,
          (data) => manifestNodeProblem(data, n, count));
      }
    };
    await Promise.all(Array.from({ length: Math.min(NODE_CONCURRENCY, nodeCount) }, worker));
    return { metadata, nodes };
  };
}
