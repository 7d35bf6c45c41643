import { Version } from "@ndn/naming-convention2";
import { Data, type Name, nullSigner } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";

import { canonicalBlobName } from "./blob-name.js";
import { ContentType } from "./content-type.js";
import { sha256DigestFromBytes, type Sha256Digest } from "./digest.js";
import { BlobMetadata, decodeBlobMetadata, describesCanonicalBlob, MAX_MANIFEST_BYTES } from "./metadata.js";
import { MANIFEST_FANOUT, SEGMENT_SIZE, segmentCount } from "./segments.js";
import { storedTagName, TAG_RECORD_FRESHNESS_MS, type TagId, tagName } from "./tag-name.js";

/** What a tag pointed to when the server signed its record (docs/protocol.md, "Tag records"). */
export interface TagRecord {
  readonly digest: Sha256Digest;
  readonly size: number;
  readonly mediaType: string;
  /** When the server made the record (its version), ms since 1970. */
  readonly madeAt: number;
}

/**
 * The unsigned Data of a tag record: `/<prefix>/<repository>/32=tag/<tag>/v=<madeAt>`, fresh for
 * a second, its content the metadata of the manifest the tag points to (the same TLVs as the
 * manifest's own metadata packet). The caller signs it.
 */
export function makeTagRecordData(prefix: Name, id: TagId, record: TagRecord): Data {
  const metadata = BlobMetadata.create(canonicalBlobName(prefix, record.digest), {
    blobSize: record.size, segmentSize: SEGMENT_SIZE, finalSegment: segmentCount(record.size) - 1, manifestFanout: MANIFEST_FANOUT,
    mediaType: record.mediaType,
  });
  return new Data(tagName(prefix, id).append(Version, record.madeAt), Data.FreshnessPeriod(TAG_RECORD_FRESHNESS_MS), Encoder.encode(metadata));
}

/**
 * The record a Data carries for `id` (its signature is the caller's to check), or why it is not
 * one: named `tagName(prefix, id)/v=T`, not a Nack, and content that describes the canonical
 * form of a manifest (a media type, at most 4 MiB) under this prefix.
 */
export function readTagRecord(prefix: Name, id: TagId, data: Data): TagRecord | string {
  const name = tagName(prefix, id);
  if (data.name.length !== name.length + 1 || !name.isPrefixOf(data.name) || !data.name.at(-1).is(Version)) {
    return "not a tag record's name";
  }
  const madeAt = data.name.at(-1).as(Version);
  if (data.contentType !== ContentType.Blob || !Number.isSafeInteger(madeAt)) {
    return data.contentType === ContentType.Nack ? "Nack" : "not a tag record";
  }
  let m: BlobMetadata;
  try {
    m = decodeBlobMetadata(data.content);
  } catch (err: unknown) {
    return `undecodable record (${String(err)})`;
  }
  const digest = m.name.length === prefix.length + 1 && prefix.isPrefixOf(m.name) ? sha256DigestFromBytes(m.name.at(-1).value) : undefined;
  if (!digest || m.mediaType === undefined || !Number.isSafeInteger(m.blobSize) || m.blobSize <= 0 || m.blobSize > MAX_MANIFEST_BYTES
    || !describesCanonicalBlob(m, canonicalBlobName(prefix, digest), segmentCount(m.blobSize))) {
    return "record fields do not describe a manifest";
  }
  return { digest, size: m.blobSize, mediaType: m.mediaType, madeAt };
}

/**
 * A store's copy of a record it holds: `/<prefix>/<repository>/32=stored-tag/<tag>/v=<madeAt>`,
 * fresh for a second, its content the record's Data exactly as the server signed it, itself
 * unsigned (the record inside is what consumers check).
 */
export async function makeStoredTagData(prefix: Name, id: TagId, madeAt: number, record: Uint8Array): Promise<Data> {
  const data = new Data(storedTagName(prefix, id).append(Version, madeAt), Data.FreshnessPeriod(TAG_RECORD_FRESHNESS_MS), record);
  await nullSigner.sign(data);
  return data;
}

/** The record a store's copy carries (to be checked like any record), or why there is none. */
export function openStoredTagData(data: Data): Data | string {
  if (data.contentType !== ContentType.Blob) {
    return "not a stored tag record";
  }
  try {
    return new Decoder(data.content).decode(Data);
  } catch (err: unknown) {
    return `undecodable stored tag record (${String(err)})`;
  }
}
