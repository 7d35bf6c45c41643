import type { Name } from "@ndn/packet";
import { type BlobId, blobName, ContentType, SEGMENT_SIZE, segmentByteRange, segmentCount } from "@ndnreg/shared/ndn";

import { describeStats, fetchSegments, newPipelineStats, PipelineError, type SegmentChannel, type SegmentPacket } from "./pipeline/segment-pipeline.js";

/** Why an NDN fetch stopped early; the caller turns every one of these into an HTTP fallback. */
export class NdnFetchError extends Error {
  constructor(readonly reason: "nack" | "first-byte-timeout" | "idle-timeout" | "bad-segment" | "size-mismatch" | "fetch-error", message: string) {
    super(message);
  }
}

export interface NdnBlobFetcherOptions {
  readonly channel: SegmentChannel;
  readonly prefix: Name;
  readonly firstByteTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Most Interests in flight per blob. */
  readonly maxWindow?: number;
}

/**
 * Fetches a blob's segments in order and checks each against the protocol (payload sizes, Nack
 * content type). Every fetch has a watchdog (first-byte and idle deadlines) and is always aborted
 * when iteration ends, which also releases its face.
 */
export class NdnBlobFetcher {
  constructor(private readonly opts: NdnBlobFetcherOptions) {}

  /** The blob's bytes in order, as batches of segment payloads (views, not copies). */
  async *payloads(id: BlobId, size: number, signal: AbortSignal, stats = newPipelineStats()): AsyncGenerator<Uint8Array[]> {
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

    const count = segmentCount(size);
    // Interests carry MustBeFresh: segments have a long FreshnessPeriod, so caches still answer,
    // but a short-lived Nack cached in a router cannot hide a blob pushed later.
    const { channel, maxWindow } = this.opts;
    const result = fetchSegments(blobName(this.opts.prefix, id), count, { channel, signal: ctrl.signal, maxWindow, stats });
    let segment = 0;
    try {
      for await (const batch of result) {
        const payloads: Uint8Array[] = [];
        let bad: NdnFetchError | undefined;
        for (const data of batch) {
          bad = checkSegment(data, segment, size);
          if (bad) {
            break;
          }
          payloads.push(data.content);
          ++segment;
        }
        // The idle deadline measures the network only: it is off while the caller holds the
        // payloads (a slow HTTP reader is back-pressure, not an NDN failure).
        clearTimeout(timer);
        if (payloads.length > 0) {
          yield payloads;
        }
        if (bad) {
          throw bad;
        }
        arm("idle-timeout", this.opts.idleTimeoutMs);
      }
      if (segment !== count) {
        throw new NdnFetchError("fetch-error", `fetch ended after ${segment} of ${count} segments`);
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
}

/**
 * A segment that breaks the protocol (producer Nack, wrong payload size) ends the NDN fetch. So
 * does one whose producer disagrees with the upstream about the blob's size (its FinalBlockId, or
 * the length of the last segment): `size` came from the upstream's HEAD, which may be the one wrong.
 */
function checkSegment(data: SegmentPacket, segment: number, size: number): NdnFetchError | undefined {
  if (data.contentType === ContentType.Nack) {
    return new NdnFetchError("nack", `producer: ${new TextDecoder().decode(data.content).slice(0, 200)}`);
  }
  const last = segmentCount(size) - 1;
  const [begin, end] = segmentByteRange(segment, size, SEGMENT_SIZE);
  if (data.finalSegment !== undefined && data.finalSegment !== last) {
    return new NdnFetchError("size-mismatch", `the upstream's HEAD says ${size} bytes (${last + 1} segments), the producer's FinalBlockId ${data.finalSegment + 1} segments`);
  }
  if (data.content.length !== end - begin) {
    return segment === last && data.content.length <= SEGMENT_SIZE
      ? new NdnFetchError("size-mismatch", `the upstream's HEAD says ${size} bytes, the producer's last segment makes ${begin + data.content.length}`)
      : new NdnFetchError("bad-segment", `segment ${segment} has ${data.content.length} bytes, expected ${end - begin}`);
  }
  return undefined;
}
