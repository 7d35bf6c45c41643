import { Segment } from "@ndn/naming-convention2";
import type { Data, Name } from "@ndn/packet";
import { ContentType, latin1Text, MANIFEST_FANOUT, manifestNodeCount, manifestNodeSegments } from "@ndnreg/shared/ndn";

import type { AnchorKey } from "../security/anchor-key.js";
import { NdnFetchError } from "./fetch-error.js";
import type { SegmentChannel, SegmentFlow, SegmentPacket } from "./pipeline/channel.js";

/**
 * Segments past the newest one asked for whose nodes are asked for too (two nodes): a node's
 * Interest leaves before its first segment's, so segments rarely arrive before their node.
 */
const LOOKAHEAD_SEGMENTS = 2 * MANIFEST_FANOUT;

/** Attempts per node: a bad signature may be one rogue copy, a second one ends NDN for the blob. */
const ATTEMPTS = 2;

/**
 * A node Interest lost on the way is sent again after 500 ms, then 1, 2 and 4 s (at most the
 * reader's lifetime) before the node is given up on: a segment waiting for it holds the pipeline,
 * so a loss must cost about what a lost segment costs (the pipeline's timer), not a whole lifetime.
 */
const FIRST_TIMEOUT_MS = 500;
const TIMEOUTS = 4;

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

/** Someone waiting for a node (rare: nodes are asked for ahead of their segments). */
interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** A node asked for and not yet accepted. */
interface PendingNode {
  /** Copies refused, and Interests that got no answer. */
  attempts: number;
  timeouts: number;
  timer?: NodeJS.Timeout;
  /** Created only when a segment waits for the node. */
  waiters?: Waiter[];
}

/**
 * The signed manifest of one blob, read as segments need it (docs/protocol.md, "Manifest
 * nodes"): each node is verified against the trust anchor, then lists the implicit digests of 250
 * segments. Nodes are asked for as the fetch asks for segments (prefetch(), called by the pipeline
 * as it sends), a little ahead of them, so checking a segment rarely waits; no promise is made for
 * a node nobody waits for.
 * They travel on the segments' own channel (Interests under `<blob>/32=manifest`) and are checked
 * from their wire bytes: no NDNts consumer or Data object per node.
 * A node's entries are kept as one latin1 text (see implicitDigestText), 32 characters per segment:
 * checking a segment compares its digest text in place, and a node is one object to keep, not 250,
 * until its last segment has passed.
 */
export class ManifestReader {
  /** Per node, the implicit digests of the segments it lists, back to back, as latin1 text. */
  private readonly nodes: Array<string | undefined>;
  private readonly pending = new Map<number, PendingNode>();
  private readonly nodeCount: number;
  /** Nodes [.., asked] have been asked for by prefetch() (or are here). */
  private asked = -1;
  private readonly lastNode: number;
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
    this.lastNode = Math.floor(Math.min(lastWanted, count - 1) / MANIFEST_FANOUT);
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

  /**
   * `segment` was checked and passed on. Segments pass in order, so a node is dropped after its
   * last one: a long blob's nodes (8 KB each, 4 MB per GB) do not pile up in the old generation.
   */
  passed(segment: number): void {
    if ((segment + 1) % MANIFEST_FANOUT === 0) {
      this.nodes[Math.floor(segment / MANIFEST_FANOUT)] = undefined;
    }
  }

  /** The expected implicit digest of `segment` as latin1 text; fetches its node (and the next ones) as needed. */
  async digest(segment: number): Promise<string> {
    await this.ready(segment);
    return this.digestNow(segment)!;
  }

  /** Resolves once the node listing `segment` is here (asking for it, and the ones after it, as needed). */
  ready(segment: number): Promise<void> {
    this.prefetch(segment);
    const n = Math.floor(segment / MANIFEST_FANOUT);
    if (this.nodes[n] !== undefined) {
      return Promise.resolve();
    }
    if (this.signal.aborted) {
      return Promise.reject(this.signal.reason as Error);
    }
    const p = this.request(n)!;
    return new Promise<void>((resolve, reject) => {
      (p.waiters ??= []).push({ resolve, reject });
    });
  }

  /**
   * `segment` is about to be asked for: ask for the nodes up to the one listing LOOKAHEAD_SEGMENTS
   * after it, those not asked for yet. Cheap when there are none (called once per segment sent).
   */
  prefetch(segment: number): void {
    const last = Math.min(this.lastNode, Math.floor((segment + LOOKAHEAD_SEGMENTS) / MANIFEST_FANOUT));
    if (last <= this.asked || this.signal.aborted) {
      return;
    }
    for (let n = Math.max(this.asked + 1, Math.floor(segment / MANIFEST_FANOUT)); n <= last; ++n) {
      this.request(n);
    }
    this.asked = last;
  }

  /** Asks for node `n` unless it is here or asked for already; its pending entry (undefined: here). */
  private request(n: number): PendingNode | undefined {
    if (this.nodes[n] !== undefined) {
      return undefined;
    }
    let p = this.pending.get(n);
    if (!p) {
      p = { attempts: 0, timeouts: 0 };
      this.pending.set(n, p);
      this.express(n, p);
    }
    return p;
  }

  /** Sends the Interest for node `n` (again); its lifetime is how long it is waited for, so a retransmission is forwarded anew. */
  private express(n: number, p: PendingNode): void {
    clearTimeout(p.timer);
    const lifetime = Math.min(this.lifetimeMs, FIRST_TIMEOUT_MS * 2 ** p.timeouts);
    p.timer = setTimeout(() => {
      if (++p.timeouts < TIMEOUTS) {
        this.express(n, p);
      } else {
        this.settle(n, p, new NdnFetchError("bad-manifest", `manifest node ${n}: no answer`));
      }
    }, lifetime);
    this.flow.express(n, lifetime);
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
      this.settle(n, p, new NdnFetchError("nack", `manifest node ${n}: producer: ${new TextDecoder().decode(packet.content).slice(0, 200)}`));
      return;
    }
    const shape = nodeShapeProblem(packet.content.length, packet.finalSegment, n, this.count);
    if (shape !== undefined) {
      this.failed(n, shape);
      return;
    }
    this.nodes[n] = latin1Text(packet.content);
    this.settle(n, p);
  }

  /** An attempt at node `n` failed: ask once more, or give up on it (a segment that needs it later asks again). */
  private failed(n: number, why: string): void {
    const p = this.pending.get(n);
    if (!p) {
      return;
    }
    if (++p.attempts < ATTEMPTS) {
      this.express(n, p);
      return;
    }
    this.settle(n, p, new NdnFetchError("bad-manifest", `manifest node ${n}: ${why}`));
  }

  /** Node `n` is here (no `err`) or given up on: its waiters learn which. */
  private settle(n: number, p: PendingNode, err?: unknown): void {
    clearTimeout(p.timer);
    this.pending.delete(n);
    for (const w of p.waiters ?? []) {
      if (err === undefined) {
        w.resolve();
      } else {
        w.reject(err);
      }
    }
  }

  /** Stops asking: the flow is closed and waiting segments fail (with the fetch's abort reason, if any). */
  close(): void {
    this.flow.close();
    for (const [n, p] of this.pending) {
      this.settle(n, p, this.signal.reason ?? new NdnFetchError("fetch-error", "manifest reader closed"));
    }
  }
}
