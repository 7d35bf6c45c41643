import type { Name } from "@ndn/packet";
import { Metadata } from "@ndn/rdr";
import { Decoder, Extensible, ExtensionRegistry, StructFieldNNI, StructFieldText } from "@ndn/tlv";

import { MANIFEST_FANOUT, SEGMENT_SIZE } from "./segments.js";

/**
 * TLV-TYPEs of the blob metadata fields (docs/protocol.md, "Metadata"). Even numbers in the
 * application range: non-critical, so a plain RDR decoder still reads the Name and skips them.
 */
export const MetadataTT = {
  BlobSize: 0xc0,
  SegmentSize: 0xc2,
  FinalSegment: 0xc4,
  ManifestFanout: 0xc6,
  /** UTF-8: present only when the digest names an image manifest or index (its Content-Type). */
  MediaType: 0xc8,
} as const;

/** FreshnessPeriod of metadata packets (docs/protocol.md explains the choice). */
export const METADATA_FRESHNESS_MS = 60_000;

/** Largest manifest published by digest or named by a tag record (docs/protocol.md 4a; distribution refuses larger ones at push). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const EXTENSIONS: ExtensionRegistry<BlobMetadata> = new ExtensionRegistry<BlobMetadata>();
for (const tt of [MetadataTT.BlobSize, MetadataTT.SegmentSize, MetadataTT.FinalSegment, MetadataTT.ManifestFanout]) {
  EXTENSIONS.register(tt, StructFieldNNI);
}
EXTENSIONS.register(MetadataTT.MediaType, StructFieldText);

/** RDR metadata content for one blob: the canonical name, its size and how it is segmented. */
export class BlobMetadata extends Metadata implements Extensible {
  readonly [Extensible.TAG]: ExtensionRegistry<BlobMetadata> = EXTENSIONS;
  declare blobSize: number;
  declare segmentSize: number;
  declare finalSegment: number;
  declare manifestFanout: number;
  /** The manifest's media type; undefined for a blob (a layer or config). */
  declare mediaType: string | undefined;

  static create(name: Name, f: { blobSize: number; segmentSize: number; finalSegment: number; manifestFanout: number; mediaType?: string }): BlobMetadata {
    const { mediaType, ...sizes } = f;
    const m = new BlobMetadata(name);
    Object.assign(m, sizes);
    if (mediaType !== undefined) {
      m.mediaType = mediaType;
    }
    return m;
  }
}
Extensible.defineGettersSetters(BlobMetadata, {
  blobSize: MetadataTT.BlobSize,
  segmentSize: MetadataTT.SegmentSize,
  finalSegment: MetadataTT.FinalSegment,
  manifestFanout: MetadataTT.ManifestFanout,
  mediaType: MetadataTT.MediaType,
});
Metadata.extend(BlobMetadata);

/** Decode metadata content; throws on malformed TLV. */
export function decodeBlobMetadata(content: Uint8Array): BlobMetadata {
  return new Decoder(content).decode(BlobMetadata) as BlobMetadata;
}

/**
 * Whether metadata describes the canonical form of a blob of `count` segments under `name`: the
 * protocol's segment size and fanout, and that last segment. Its size is compared apart, by the
 * caller: a size that differs from the upstream's has a cause of its own.
 */
export function describesCanonicalBlob(m: BlobMetadata, name: Name, count: number): boolean {
  return m.name.equals(name) && m.segmentSize === SEGMENT_SIZE && m.finalSegment === count - 1 && m.manifestFanout === MANIFEST_FANOUT;
}
