import type { Forwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { ImplicitDigest, Interest, type Name } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import {
  type BlobId, canonicalSegmentFields, ContentType, encodeSegmentData, implicitDigestText, ManifestKeyword, SEGMENT_SIZE, segmentByteRange,
} from "@ndnreg/shared/ndn";

import type { TrustAnchor } from "../security/trust-anchor.js";
import { Discovery } from "./discovery.js";
import { NdnFetchError } from "./fetch-error.js";
import { ManifestReader } from "./manifest-reader.js";
import { fetchOnePacket } from "./one-packet.js";
import type { SegmentChannel, SegmentPacket } from "./pipeline/channel.js";
import { describeStats, fetchSegments, newPipelineStats, PipelineError, type PipelineStats } from "./pipeline/segment-pipeline.js";
import type { SharedWindow } from "./pipeline/shared-window.js";

export { NdnFetchError } from "./fetch-error.js";

export interface NdnBlobFetcherOptions {
  readonly channel: SegmentChannel;
  /** Metadata and exact re-fetches go through NDNts on this forwarder; manifest nodes through `channel`. */
  readonly fw: Forwarder;
  readonly prefix: Name;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** The uplink's congestion window, shared by its fetches (default: one per fetch). */
  readonly window?: SharedWindow;
  /** Verifies metadata and manifest nodes (the server's certificate); without it the caller hashes whole blobs. */
  readonly anchor?: Pick<TrustAnchor, "verifier" | "key">;
}

/** Retransmissions of an exact re-fetch (by implicit digest) before the bytes come over HTTP. */
const EXACT_RETX = 2;

/** A fetch's figures beyond the pipeline's: where its packets came from and what was dropped. */
export interface FetchStats extends PipelineStats {
  names?: "canonical" | "legacy";
  /** Segments received and passed on. */
  segments: number;
  /** Wire bytes of every Data received: segments, metadata, manifest nodes. */
  packetBytes: number;
  /** Segments whose implicit digest did not match the signed manifest. */
  badSegments: number;
  /** Of those, segments fetched again by their exact name, and segments whose bytes came over HTTP. */
  refetched: number;
  repaired: number;
}

export function newFetchStats(): FetchStats {
  return { ...newPipelineStats(), segments: 0, packetBytes: 0, badSegments: 0, refetched: 0, repaired: 0 };
}

/** Bytes [begin, end) of the blob over HTTP, for a segment no NDN copy of which was right. */
export type SegmentRepair = (begin: number, end: number, signal: AbortSignal) => Promise<Uint8Array>;

/**
 * Payload batches of a fetch, in order from byte `offset`. `verified`: every segment was checked
 * against the signed manifest, so the bytes need no whole-blob hash (the server signs the last
 * node only after hashing the whole blob); otherwise the batches start at byte 0 and the caller
 * hashes them.
 */
export interface FetchBatch {
  readonly offset: number;
  readonly verified: boolean;
  readonly payloads: Uint8Array[];
}

/** The bytes a request wants: inclusive byte positions. */
export interface ByteWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * Fetches a blob over NDN (docs/protocol.md, "Consumer procedure"): metadata first (or legacy
 * names when it gets no answer), then the segments; with a trust anchor only those covering the
 * window, each checked against the signed manifest as it arrives, a bad one fetched again by its
 * exact name and then over HTTP before it reaches the caller. Every fetch has a watchdog
 * (first-byte and idle deadlines) and is aborted when iteration ends, which releases its face.
 */
export class NdnBlobFetcher {
  private readonly discovery: Discovery;

  constructor(private readonly opts: NdnBlobFetcherOptions) {
    this.discovery = new Discovery(opts.fw, opts.prefix, opts.anchor?.verifier);
  }

  get anchored(): boolean {
    return this.opts.anchor !== undefined;
  }

  /** The metadata Interest for `id` leaves now, ahead of payloads() (Discovery.sendEarly). */
  sendMetadataEarly(id: BlobId, keepMs?: number): void {
    this.discovery.sendEarly(id, this.opts.firstByteTimeoutMs, keepMs);
  }

  async *payloads(
    id: BlobId, size: number, window: ByteWindow, signal: AbortSignal, repair: SegmentRepair, stats = newFetchStats(),
  ): AsyncGenerator<FetchBatch> {
    const ctrl = new AbortController();
    let timeout: NdnFetchError | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (reason: "first-byte-timeout" | "idle-timeout", ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timeout = new NdnFetchError(reason, `no segment within ${ms} ms (${describeStats(stats)})`);
        ctrl.abort(timeout);
      }, ms);
    };
    const onCallerAbort = () => ctrl.abort(signal.reason);
    signal.addEventListener("abort", onCallerAbort, { once: true });
    arm("first-byte-timeout", this.opts.firstByteTimeoutMs);
    const bytes = { n: 0 };
    try {
      const found = await this.discovery.discover(id, size, ctrl.signal, this.opts.firstByteTimeoutMs, bytes);
      stats.names = found.kind;
      stats.packetBytes = bytes.n;
      // Nodes only after the metadata: canonical names carry no repository, so the server learns
      // where a digest lives from the metadata Interest, and answers a node asked before with a Nack.
      const anchor = found.kind === "canonical" ? this.opts.anchor : undefined;
      const first = anchor ? Math.floor(window.start / SEGMENT_SIZE) : 0;
      const manifest = anchor && new ManifestReader(
        this.opts.channel, found.name.append(ManifestKeyword), found.count, anchor.key, ctrl.signal, Math.min(4000, this.opts.firstByteTimeoutMs),
        Math.min(found.count - 1, Math.floor(window.end / SEGMENT_SIZE)),
      );
      manifest?.prefetch(first);
      const segmentSize = found.kind === "legacy" ? found.segmentSize : SEGMENT_SIZE;
      // Only segments covering the window when each can be checked on its own; else all of them.
      const end = manifest ? Math.min(found.count, Math.floor(window.end / segmentSize) + 1) : found.count;
      const check = (data: SegmentPacket) => this.check(data, size, segmentSize, found.count);
      let next = manifest ? first : 0;
      if (found.kind === "legacy") {
        const bad = check(found.first);
        if (bad) {
          throw bad;
        }
        clearTimeout(timer);
        ++stats.segments;
        yield { offset: 0, verified: false, payloads: [found.first.content] };
        arm("idle-timeout", this.opts.idleTimeoutMs);
        next = 1;
      }
      if (next >= end) {
        return;
      }
      const { channel, window: congestion } = this.opts;
      const offset = manifest ? first * SEGMENT_SIZE : 0; // where the bytes start: legacy segment 0 went out above
      const reader = manifest;
      const onRequest = reader && ((segment: number) => reader.prefetch(segment));
      // The idle deadline measures the network only: it is off while the caller holds the
      // payloads (a slow HTTP reader is back-pressure, not an NDN failure).
      const out = (payloads: Uint8Array[]): FetchBatch => {
        clearTimeout(timer);
        if (reader) {
          stats.packetBytes += reader.bytes;
          reader.bytes = 0;
        }
        return { offset, verified: reader !== undefined, payloads };
      };
      const result = fetchSegments(found.name, end, { channel, signal: ctrl.signal, window: congestion, stats, first: next, onRequest });
      for await (const batch of result) {
        let payloads: Uint8Array[] = [];
        for (const data of batch) {
          stats.packetBytes += data.wire.length;
          const bad = check(data);
          if (bad) {
            throw bad;
          }
          if (!manifest) {
            payloads.push(data.content);
          } else {
            // With the node here (the usual case) this stays synchronous: no promise and no buffer per segment.
            const digest = implicitDigestText(data.wire);
            let good = manifest.matchesNow(data.segment, digest);
            if (good === undefined) {
              // The node is late: what is checked goes out first, the rest of the batch waits in it.
              if (payloads.length > 0) {
                yield out(payloads);
                arm("idle-timeout", this.opts.idleTimeoutMs);
                payloads = [];
              }
              await manifest.ready(data.segment);
              good = manifest.matchesNow(data.segment, digest)!;
            }
            payloads.push(good
              ? data.content
              : await this.refetch(data, manifest.digestNow(data.segment)!, found.name, size, found.count, ctrl.signal, repair, stats));
            manifest.passed(data.segment);
          }
          ++next;
          ++stats.segments;
        }
        if (payloads.length > 0) {
          yield out(payloads);
        }
        arm("idle-timeout", this.opts.idleTimeoutMs);
      }
      if (next !== end) {
        throw new NdnFetchError("fetch-error", `fetch ended after segment ${next} of ${end}`);
      }
    } catch (err: unknown) {
      if (timeout) {
        throw timeout;
      }
      if (err instanceof NdnFetchError || signal.aborted) {
        throw err;
      }
      throw new NdnFetchError("fetch-error", err instanceof PipelineError ? err.message : String(err));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onCallerAbort);
      ctrl.abort();
    }
  }

  /**
   * A segment that breaks the protocol (producer Nack, wrong payload size) ends the NDN fetch. So
   * does one whose producer disagrees with the upstream about the blob's size (its FinalBlockId,
   * or the length of the last segment): `size` came from the upstream's HEAD, which may be the one
   * wrong, so that is a size-mismatch, not a bad segment.
   */
  private check(data: SegmentPacket, size: number, segmentSize: number, count: number): NdnFetchError | undefined {
    if (data.contentType === ContentType.Nack) {
      return new NdnFetchError("nack", `producer: ${new TextDecoder().decode(data.content).slice(0, 200)}`);
    }
    if (data.finalSegment !== undefined && data.finalSegment !== count - 1) {
      return new NdnFetchError("size-mismatch", `the upstream's HEAD says ${size} bytes (${count} segments), the producer's FinalBlockId ${data.finalSegment + 1} segments`);
    }
    const [begin, end] = segmentByteRange(data.segment, size, segmentSize);
    if (data.content.length !== end - begin) {
      return data.segment === count - 1 && data.content.length <= segmentSize
        ? new NdnFetchError("size-mismatch", `the upstream's HEAD says ${size} bytes, the producer's last segment makes ${begin + data.content.length}`)
        : new NdnFetchError("bad-segment", `segment ${data.segment} has ${data.content.length} bytes, expected ${end - begin}`);
    }
    return undefined;
  }

  /**
   * The payload of a segment whose copy does not match `expected`, its implicit digest in the
   * signed manifest: a copy fetched by its exact name (no cache can answer that with another
   * packet), else the bytes over HTTP, which must rebuild the listed packet.
   */
  private async refetch(
    data: SegmentPacket, expected: string, name: Name, size: number, count: number, signal: AbortSignal, repair: SegmentRepair, stats: FetchStats,
  ): Promise<Uint8Array> {
    const seg = data.segment;
    ++stats.badSegments;
    const exactName = name.append(Segment, seg).append(ImplicitDigest.create(Buffer.from(expected, "latin1")));
    // Sent again at half its lifetime while the forwarders' PIT entries live: best-route then tries
    // another nexthop (a neighbour's store that sent the wrong copy is routed around).
    const exact = await fetchOnePacket(this.opts.fw, new Interest(exactName, Interest.Lifetime(1000)), signal, undefined, EXACT_RETX);
    if ("data" in exact && implicitDigestText(Encoder.encode(exact.data)) === expected) {
      ++stats.refetched;
      return exact.data.content;
    }
    const [begin, end] = segmentByteRange(seg, size);
    const content = await repair(begin, end, signal);
    const rebuilt = encodeSegmentData({ ...canonicalSegmentFields(count - 1, content), nameValue: name.append(Segment, seg).value });
    if (implicitDigestText(rebuilt) !== expected) {
      throw new NdnFetchError("bad-segment", `segment ${seg}: neither NDN nor the upstream's bytes match the signed manifest`);
    }
    ++stats.repaired;
    return content;
  }
}
