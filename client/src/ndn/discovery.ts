import type { Forwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Interest, type Name, type Verifier } from "@ndn/packet";
import { makeDiscoveryInterest } from "@ndn/rdr";
import { Encoder } from "@ndn/tlv";
import {
  type BlobId, blobKey, type BlobMetadata, canonicalBlobName, decodeBlobMetadata, ContentType, describesCanonicalBlob, legacyBlobName, metadataName,
  SEGMENT_SIZE, segmentCount,
} from "@ndnreg/shared/ndn";

import { NdnFetchError } from "./fetch-error.js";
import { fetchOnePacket, type OnePacket } from "./one-packet.js";
import type { SegmentPacket } from "./pipeline/channel.js";

/** How a blob is published: canonical names (with metadata), or the proof of concept's legacy names. */
export type Discovered =
  | { readonly kind: "canonical"; readonly name: Name; readonly count: number }
  | { readonly kind: "legacy"; readonly name: Name; readonly segmentSize: number; readonly count: number; readonly first: SegmentPacket };

/** How long a prefix whose metadata got no answer, but whose legacy names did, is asked by legacy names only. */
const LEGACY_MEMORY_MS = 10 * 60_000;

/** Attempts at the metadata when its signature does not verify (a second copy may come from elsewhere). */
const METADATA_ATTEMPTS = 2;

/** Metadata Interests sent ahead of discover() at once, at most (each waits for its answer or its lifetime). */
const MAX_EARLY = 256;

/** How long an early answer waits for its discover() (the upstream's HEAD) before it is dropped. */
const EARLY_KEEP_MS = 2000;

/**
 * Step 2 of the consumer procedure (docs/protocol.md): the metadata first; with no answer, the
 * legacy names, whose segment size segment 0 announces. A prefix that answered only legacy names
 * is remembered for a while, so its next blobs do not wait for metadata again.
 */
/** The RDR discovery Interest for a blob's metadata in its repository. */
export function metadataInterest(prefix: Name, id: BlobId, lifetimeMs: number): Interest {
  const interest = makeDiscoveryInterest(metadataName(prefix, id));
  interest.lifetime = lifetimeMs;
  return interest;
}

/** A metadata Interest sent ahead; `timer` drops its answer if no discover() takes it in time. */
interface Early {
  readonly got: Promise<OnePacket>;
  timer?: NodeJS.Timeout;
}

export class Discovery {
  private legacyUntil = 0;
  /** Metadata Interests sent by sendEarly(), by blob key, until discover() takes their answer. */
  private readonly early = new Map<string, Early>();

  constructor(
    private readonly fw: Forwarder,
    private readonly prefix: Name,
    /** Metadata must verify against the trust anchor when there is one. */
    private readonly verifier: Verifier | undefined,
  ) {}

  /** True while the prefix is taken to speak only legacy names. */
  get legacyOnly(): boolean {
    return Date.now() < this.legacyUntil;
  }

  /**
   * Sends the metadata Interest for `id` now, while the upstream's HEAD (consumer step 1) is on
   * its way: discover() then takes its answer instead of waiting one more round trip. The answer
   * is checked as any other (against the HEAD's size too) and nothing is fetched with it before
   * the HEAD said yes. A blob the HEAD refuses costs this one Interest. `keepMs`: how long an
   * answer waits for its discover() (longer when sent as a manifest is relayed, ahead of its blob
   * GETs: such Interests take at most half of MAX_EARLY, and only an answer is kept).
   */
  sendEarly(id: BlobId, budgetMs: number, keepMs = EARLY_KEEP_MS): void {
    const key = blobKey(id);
    const ahead = keepMs > EARLY_KEEP_MS;
    if (this.legacyOnly || this.early.size >= (ahead ? MAX_EARLY / 2 : MAX_EARLY) || this.early.has(key)) {
      return;
    }
    const lifetime = metadataLifetime(budgetMs);
    // Its own deadline, not the request's signal: a request that joins a shared fetch may take the answer.
    const got = fetchOnePacket(this.fw, this.discoveryInterest(id, lifetime), AbortSignal.timeout(lifetime + 1000), this.verifier)
      .catch((err: unknown): OnePacket => ({ error: String(err) }));
    const entry: Early = { got };
    this.early.set(key, entry);
    void got.then((answer) => {
      if (this.early.get(key) === entry) {
        entry.timer = setTimeout(() => this.early.delete(key), ahead && !("data" in answer) ? 0 : keepMs).unref();
      }
    });
  }

  /**
   * The early answer for `key`, if any, no longer waiting: its timer goes with it, since a pending
   * timer holds the answer (the decoded Data) until it fires (keepMs, up to a minute per blob).
   */
  private takeEarly(key: string): Promise<OnePacket> | undefined {
    const entry = this.early.get(key);
    this.early.delete(key);
    clearTimeout(entry?.timer);
    return entry?.got;
  }

  /** `budgetMs`: the first-byte deadline; the metadata may use half of it. `bytes` counts packets received. */
  async discover(id: BlobId, size: number, signal: AbortSignal, budgetMs: number, bytes: { n: number }): Promise<Discovered> {
    const lifetime = metadataLifetime(budgetMs);
    if (!this.legacyOnly) {
      const canonical = await this.metadata(id, size, signal, lifetime, bytes);
      if (canonical) {
        return canonical;
      }
    } else {
      // A metadata answer that was merely slow (a registry slow to answer the server's HEAD) must
      // not keep the prefix on legacy names: ask on the side, and any answer ends legacy-only.
      void fetchOnePacket(this.fw, this.discoveryInterest(id, lifetime), AbortSignal.timeout(lifetime + 1000)).then((r) => {
        if ("data" in r) {
          this.legacyUntil = 0;
        }
      }, () => undefined);
    }
    const legacy = await this.legacy(id, size, signal, budgetMs, bytes);
    this.legacyUntil = Date.now() + LEGACY_MEMORY_MS;
    return legacy;
  }

  /** Undefined: no answer in time (then legacy names are tried). */
  private async metadata(id: BlobId, size: number, signal: AbortSignal, lifetimeMs: number, bytes: { n: number }): Promise<Discovered | undefined> {
    let last = "";
    const key = blobKey(id);
    const early = this.takeEarly(key);
    for (let attempt = 0; attempt < METADATA_ATTEMPTS; ++attempt) {
      const got = attempt === 0 && early ? await early : await fetchOnePacket(this.fw, this.discoveryInterest(id, lifetimeMs), signal, this.verifier);
      signal.throwIfAborted();
      if ("timeout" in got) {
        return attempt === 0 ? undefined : failMetadata(`no answer after a refused copy (${last})`);
      }
      if ("error" in got) {
        last = got.error;
        continue;
      }
      const { data } = got;
      bytes.n += Encoder.encode(data).length;
      if (data.contentType === ContentType.Nack) {
        throw new NdnFetchError("nack", `metadata: producer: ${new TextDecoder().decode(data.content).slice(0, 200)}`);
      }
      let m: BlobMetadata;
      try {
        m = decodeBlobMetadata(data.content);
      } catch (err: unknown) {
        last = `undecodable content (${String(err)})`;
        continue;
      }
      const name = canonicalBlobName(this.prefix, id.digest);
      if (m.blobSize !== size) {
        throw new NdnFetchError("size-mismatch", `metadata says ${m.blobSize} bytes, the upstream ${size}`);
      }
      const count = segmentCount(size);
      if (!describesCanonicalBlob(m, name, count)) {
        last = `unexpected fields (name ${m.name.toString()}, segment size ${m.segmentSize}, final segment ${m.finalSegment}, fanout ${m.manifestFanout})`;
        continue;
      }
      return { kind: "canonical", name, count };
    }
    return failMetadata(last);
  }

  private discoveryInterest(id: BlobId, lifetimeMs: number): Interest {
    return metadataInterest(this.prefix, id, lifetimeMs);
  }

  private async legacy(id: BlobId, size: number, signal: AbortSignal, lifetimeMs: number, bytes: { n: number }): Promise<Discovered> {
    const name = legacyBlobName(this.prefix, id);
    const got = await fetchOnePacket(this.fw, new Interest(name.append(Segment, 0), Interest.MustBeFresh, Interest.Lifetime(lifetimeMs)), signal);
    if ("timeout" in got) {
      throw new NdnFetchError("first-byte-timeout", "no answer to the metadata nor to legacy segment 0");
    }
    if ("error" in got) {
      throw new NdnFetchError("fetch-error", `legacy segment 0: ${got.error}`);
    }
    const { data } = got;
    const wire = Encoder.encode(data);
    bytes.n += wire.length;
    if (data.contentType === ContentType.Nack) {
      throw new NdnFetchError("nack", "legacy segment 0: producer Nack");
    }
    const segmentSize = data.content.length;
    const final = data.finalBlockId && Segment.match(data.finalBlockId) ? Segment.parse(data.finalBlockId) : undefined;
    const count = size === 0 ? 1 : segmentSize > 0 ? segmentCount(size, segmentSize) : NaN;
    if (segmentSize > SEGMENT_SIZE || (size > 0 && segmentSize === 0) || (size === 0 && segmentSize !== 0) || final !== count - 1) {
      throw new NdnFetchError("bad-segment", `legacy segment 0 has ${segmentSize} bytes and final segment ${final ?? "none"} for a blob of ${size}`);
    }
    return { kind: "legacy", name, segmentSize: Math.max(1, segmentSize), count, first: { segment: 0, contentType: data.contentType, content: data.content, wire, finalSegment: final } };
  }
}

/** The metadata Interest's lifetime: half the first-byte deadline, 200 ms at least. */
function metadataLifetime(budgetMs: number): number {
  return Math.max(200, Math.floor(budgetMs / 2));
}

function failMetadata(why: string): never {
  throw new NdnFetchError("bad-metadata", `metadata refused: ${why}`);
}
