import type { Forwarder } from "@ndn/fw";
import { Data, type Name, type Verifier } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";
import {
  type BlobId, type BlobMetadata, canonicalBlobName, ContentType, decodeBlobMetadata, describesCanonicalBlob, metadataName, segmentCount,
} from "@ndnreg/shared/ndn";

import { metadataInterest } from "../ndn/discovery.js";
import { fetchOnePacket } from "../ndn/one-packet.js";
import type { BlobStore } from "../store/blob-store.js";

/** What the server's metadata says of a digest in a repository: its size, and its media type when it is a manifest. */
export interface Published {
  readonly size: number;
  readonly mediaType?: string;
}

/** Why a digest could not be described: `answered`, a producer refused it (Nack); else no usable answer came. */
export class NotPublishedError extends Error {
  constructor(message: string, readonly answered: boolean) {
    super(message);
  }
}

const ATTEMPTS = 2;

/**
 * The server's canonical metadata for a digest in a repository, without the upstream: from the
 * edge store when it holds the digest under that repository's discovery name, else over NDN
 * (`/<prefix>/<repository>/<digest>/32=metadata`, answered by a neighbour's store from the packet
 * it stored, or by the server). Verified against the trust anchor when there is one. Only what the
 * server published is described, so only that can be served from it.
 */
export class PublishedLookup {
  constructor(
    private readonly fw: Forwarder,
    private readonly prefix: Name,
    private readonly verifier: Verifier | undefined,
    private readonly lifetimeMs: number,
    private readonly store?: BlobStore,
  ) {}

  async describe(id: BlobId, signal: AbortSignal): Promise<Published> {
    const stored = await this.fromStore(id);
    if (stored) {
      return stored;
    }
    let last = "no answer";
    for (let attempt = 0; attempt < ATTEMPTS; ++attempt) {
      const got = await fetchOnePacket(this.fw, metadataInterest(this.prefix, id, this.lifetimeMs), signal, this.verifier);
      if ("timeout" in got) {
        continue;
      }
      if ("error" in got) {
        last = got.error; // a network Nack (no route), or a packet that did not verify
        continue;
      }
      if (got.data.contentType === ContentType.Nack) {
        throw new NotPublishedError(`metadata: ${new TextDecoder().decode(got.data.content).slice(0, 200)}`, true);
      }
      const described = this.check(id, got.data);
      if (typeof described !== "string") {
        return described;
      }
      last = described;
    }
    throw new NotPublishedError(`metadata of ${id.repository}@${id.digest.text}: ${last}`, false);
  }

  /** The stored metadata, if the store holds the digest as published under this repository. */
  private async fromStore(id: BlobId): Promise<Published | undefined> {
    const info = this.store?.info(id.digest.hex);
    if (!info?.discoveryName.equals(metadataName(this.prefix, id))) {
      return undefined;
    }
    const packets = await this.store!.readPackets(id.digest.hex);
    if (!packets) {
      return undefined;
    }
    const described = this.check(id, new Decoder(packets.metadata).decode(Data));
    return typeof described === "string" ? undefined : described;
  }

  /** The metadata's size and media type, or why it is refused. */
  private check(id: BlobId, data: Data): Published | string {
    let m: BlobMetadata;
    try {
      m = decodeBlobMetadata(data.content);
    } catch (err: unknown) {
      return `undecodable metadata (${String(err)})`;
    }
    if (!Number.isSafeInteger(m.blobSize) || !describesCanonicalBlob(m, canonicalBlobName(this.prefix, id.digest), segmentCount(m.blobSize))) {
      return "metadata fields do not describe the digest's canonical blob";
    }
    return m.mediaType === undefined ? { size: m.blobSize } : { size: m.blobSize, mediaType: m.mediaType };
  }
}
