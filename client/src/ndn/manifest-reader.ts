import { Segment } from "@ndn/naming-convention2";
import type { Data, Name } from "@ndn/packet";
import { ContentType, latin1Text, MANIFEST_FANOUT, manifestNodeCount, manifestNodeSegments } from "@ndnreg/shared/ndn";

import type { AnchorKey } from "../security/anchor-key.js";
import { NdnFetchError } from "./fetch-error.js";
import type { SegmentChannel, SegmentFlow, SegmentPacket } from "./pipeline/channel.js";

/** Nodes fetched ahead of the one the next segment needs: 2 MB of segments each. */
const LOOKAHEAD = 2;

/** Attempts per node: a bad signature may be one rogue copy, a second one ends NDN for the blob. */
const ATTEMPTS = 2;

/** Why a node of `contentLength` bytes and this FinalBlockId cannot be node `n` of the manifest of a blob of `count` segments (undefined: it can). */
function nodeShapeProblem(contentLength: number, finalSegment: number | undefined, n: number, count: number): string | undefined {
  const [first, end] = manifestNodeSegments(n, count);
  if (contentLength !== (end - first) * 32 || finalSegment !== manifestNodeCount(count) - 1) {
    return `node has ${contentLength} bytes for ${end - first} segments`;
  }
  return undefined;
}

/** Why `data` cannot be node `n` of the manifest of a blob of `count` segments (undefined: it can). */
export function manifestNodeProblem(data: Data, n: number, count: number): string | undefined {
  const final = data.finalBlockId;
  return nodeShapeProblem(data.content.length, final && Segment.match(final) ? Segment.parse(final) : undefined, n, count);
}

/** A node asked for and not yet accepted. */
interface PendingNode {
  readonly promise: Promise<string>;
  readonly resolve: (entries: string) => void;
  readonly reject: (err: unknown) => void;
  attempts: number;
  timer?: NodeJS.Timeout;
}

/**
 * The signed manifest of one blob, read as segments need it (docs/protocol.md, "Manifest
 * nodes"): each node is verified against the trust anchor, then lists the implicit digests of 250
 * segments. Nodes are fetched ahead of the segments they cover, so checking a segment rarely waits.
 * They travel on the segments' own channel (Interests under `<blob>/32=manifest`) and are checked
 * from their wire bytes: no NDNts consumer or Data object per node.
 * A node's entries are kept as one latin1 text (see implicitDigestText), 32 characters per segment:
 * checking a segment compares its digest text in place, and a node is one object to keep, not 250.
 */
export class ManifestReader {
  /** Per node, the implicit digests of the segments it lists, back to back, as latin1 text. */
  private readonly nodes: Array<string | undefined>;
  private readonly pending = new Map<number, PendingNode>();
  private readonly nodeCount: number;
  private readonly flow: SegmentFlow;
  /** Wire bytes of the nodes received (for the bytes-over-NDN figure). */
  bytes = 0;

  constructor(
    channel: SegmentChannel,
    /** `/<prefix>/<digest>/32=manifest` */
    name: Name,
    private readonly count: number,
    private readonly key: AnchorKey,
    private readonly signal: AbortSignal,
    private readonly lifetimeMs: number,
    /** Segments past this one are not wanted: their nodes are never fetched (a range's end). */
    private readonly lastWanted = count - 1,
  ) {
    this.nodeCount = manifestNodeCount(count);
    this.nodes = new Array<string | undefined>(this.nodeCount).fill(undefined);
    this.flow = channel.open(name, {
      data: (packet) => this.received(packet),
      nack: (n, reason) => this.failed(n, `network Nack (reason ${reason})`),
    });
    // The fetch's signal ends the reader: its flow is closed and waiting nodes fail with the reason.
    signal.addEventListener("abort", () => this.close(), { once: true });
    if (signal.aborted) {
      this.close();
    }
  }

  /** The expected implicit digest of `segment` as latin1 text, if its node is already here (the per-segment fast path). */
  digestNow(segment: number): string | undefined {
    const node = Math.floor(segment / MANIFEST_FANOUT);
    const at = (segment - node * MANIFEST_FANOUT) * 32;
    return this.nodes[node]?.slice(at, at + 32);
  }

  /**
   * Whether `digestText` (implicitDigestText of a Data) is the entry of `segment`, if its node is
   * already here (the per-segment fast path: no string is made).
   */
  matchesNow(segment: number, digestText: string): boolean | undefined {
    const node = Math.floor(segment / MANIFEST_FANOUT);
    return digestText.length === 32 ? this.nodes[node]?.startsWith(digestText, (segment - node * MANIFEST_FANOUT) * 32) : false;
  }

  /** The expected implicit digest of `segment` as latin1 text; fetches its node (and the next ones) as needed. */
  async digest(segment: number): Promise<string> {
    const node = Math.floor(segment / MANIFEST_FANOUT);
    this.prefetch(segment);
    await this.node(node);
    return this.digestNow(segment)!;
  }

  /** Start fetching the node of `segment` and the LOOKAHEAD after it. */
  prefetch(segment: number): void {
    const node = Math.floor(segment / MANIFEST_FANOUT);
    const lastNode = Math.floor(this.lastWanted / MANIFEST_FANOUT);
    for (let n = node; n <= node + LOOKAHEAD && n <= lastNode; ++n) {
      void this.node(n).catch(() => undefined); // a failure resurfaces when the node is needed
    }
  }

  private node(n: number): Promise<string> {
    const have = this.nodes[n];
    if (have) {
      return Promise.resolve(have);
    }
    const waiting = this.pending.get(n);
    if (waiting) {
      return waiting.promise;
    }
    if (this.signal.aborted) {
      return Promise.reject(this.signal.reason as Error);
    }
    let resolve!: (entries: string) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const p: PendingNode = { promise, resolve, reject, attempts: 0 };
    this.pending.set(n, p);
    this.express(n, p);
    return promise;
  }

  private express(n: number, p: PendingNode): void {
    ++p.attempts;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.failed(n, "no answer"), this.lifetimeMs);
    this.flow.express(n, this.lifetimeMs);
  }

  /** A Data under the manifest's name: accepted only as a node being waited for, signed by the anchor. */
  private received(packet: SegmentPacket): void {
    const n = packet.segment;
    const p = this.pending.get(n);
    if (!p) {
      return; // a late copy, or a node another fetch of the blob asked for
    }
    this.bytes += packet.wire.length;
    const bad = this.key.problem(packet.wire);
    if (bad !== undefined) {
      this.failed(n, bad);
      return;
    }
    if (packet.contentType === ContentType.Nack) {
      this.settle(n, p);
      p.reject(new NdnFetchError("nack", `manifest node ${n}: producer: ${new TextDecoder().decode(packet.content).slice(0, 200)}`));
      return;
    }
    const shape = nodeShapeProblem(packet.content.length, packet.finalSegment, n, this.count);
    if (shape !== undefined) {
      this.failed(n, shape);
      return;
    }
    const entries = latin1Text(packet.content);
    this.nodes[n] = entries;
    this.settle(n, p);
    p.resolve(entries);
  }

  /** An attempt at node `n` failed: ask once more, or give up on it. */
  private failed(n: number, why: string): void {
    const p = this.pending.get(n);
    if (!p) {
      return;
    }
    if (p.attempts < ATTEMPTS) {
      this.express(n, p);
      return;
    }
    this.settle(n, p);
    p.reject(new NdnFetchError("bad-manifest", `manifest node ${n}: ${why}`));
  }

  private settle(n: number, p: PendingNode): void {
    clearTimeout(p.timer);
    this.pending.delete(n);
  }

  private close(): void {
    this.flow.close();
    for (const [n, p] of this.pending) {
      this.settle(n, p);
      p.reject(this.signal.reason);
    }
  }
}
