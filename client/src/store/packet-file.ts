import { createHash } from "node:crypto";

import { Data, type Name } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";
import { decodeBlobMetadata, manifestNodeCount, readTlv, segmentCount, TLV } from "@ndnreg/shared/ndn";

/**
 * The signed packets a stored blob is served with, as the server made them: the metadata packet
 * (RDR, of the repository it was fetched through) and every manifest node, in order.
 */
export interface StoredPackets {
  /** The metadata Data element. */
  readonly metadata: Uint8Array;
  /** Manifest node I's Data element at index I. */
  readonly nodes: readonly Uint8Array[];
}

const CHECKSUM_BYTES = 32;

/** A packet file's packets, and the discovery name its metadata answers: `/<prefix>/<repository>/<digest>/32=metadata`. */
export interface DecodedPackets extends StoredPackets {
  readonly discoveryName: Name;
}

/** File body: sha256 of the rest, then the Data elements back to back (metadata first, then nodes in order). */
export function encodePacketFile(p: StoredPackets): Buffer {
  const body = Buffer.concat([p.metadata, ...p.nodes]);
  return Buffer.concat([createHash("sha256").update(body).digest(), body]);
}

/**
 * The packets of a packet file written for a blob of `blobSize` bytes; throws if the checksum,
 * the TLVs, the metadata's blob size or the number of nodes is wrong.
 */
export function decodePacketFile(file: Uint8Array, blobSize: number): DecodedPackets {
  if (file.length < CHECKSUM_BYTES) {
    throw new Error("packet file shorter than its checksum");
  }
  const body = file.subarray(CHECKSUM_BYTES);
  if (!createHash("sha256").update(body).digest().equals(file.subarray(0, CHECKSUM_BYTES))) {
    throw new Error("packet file checksum mismatch");
  }
  const packets: Uint8Array[] = [];
  for (let off = 0; off < body.length;) {
    const e = readTlv(body, off);
    if (e?.type !== TLV.Data) {
      throw new Error(`packet file: no Data element at byte ${off}`);
    }
    packets.push(body.subarray(off, e.end));
    off = e.end;
  }
  const [metadata, ...nodes] = packets;
  if (!metadata) {
    throw new Error("packet file holds no metadata packet");
  }
  const data = new Decoder(metadata).decode(Data);
  const size = decodeBlobMetadata(data.content).blobSize;
  if (size !== blobSize) {
    throw new Error(`metadata says ${size} bytes, the stored blob has ${blobSize}`);
  }
  const expected = manifestNodeCount(segmentCount(blobSize));
  if (nodes.length !== expected) {
    throw new Error(`packet file holds ${nodes.length} manifest nodes, the blob has ${expected}`);
  }
  return { metadata, nodes, discoveryName: data.name.getPrefix(-2) }; // without v=T and seg=0
}
