import type { Forwarder } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { type Data, Interest, type Name, type Verifier } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";
import { ContentType, latin1Text, MANIFEST_FANOUT, manifestNodeCount, manifestNodeSegments } from "@ndnreg/shared/ndn";

import { NdnFetchError } from "./fetch-error.js";
import { fetchOnePacket } from "./one-packet.js";

/** Nodes fetched ahead of the one the next segment needs: 2 MB of segments each. */
const LOOKAHEAD = 2;

/** Attempts per node: a bad signature may be one rogue copy, a second one ends NDN for the blob. */
const ATTEMPTS = 2;

/**
 * The signed manifest of one blob, read as segments need it (docs/protocol.md, "Manifest
 * nodes"): each node is verified against the trust anchor, then lists the implicit digests of 250
 * segments. Nodes are fetched ahead of the segments they cover, so checking a segment rarely waits.
 * Entries are kept as latin1 texts (see implicitDigestText): checking a segment allocates no buffer.
 */
/** Why `data` cannot be node `n` of the manifest of a blob of `count` segments (undefined: it can). */
export function manifestNodeProblem(data: Data, n: number, count: number): string | undefined {
  const [first, end] = manifestNodeSegments(n, count);
  const final = data.finalBlockId;
  if (data.content.length !== (end - first) * 32 || !final || !Segment.match(final) || Segment.parse(final) !== manifestNodeCount(count) - 1) {
    return `node has ${data.content.length} bytes for ${end - first} segments`;
  }
  return undefined;
}

export class ManifestReader {
  /** Per node, the implicit digest of each segment it lists, as latin1 text. */
  private readonly nodes: Array<string[] | undefined>;
  private readonly pending = new Map<number, Promise<string[]>>();
  private readonly nodeCount: number;
  /** Wire bytes of the nodes received (for the bytes-over-NDN figure). */
  bytes = 0;

  constructor(
    private readonly fw: Forwarder,
    /** `/<prefix>/<digest>/32=manifest` */
    private readonly name: Name,
    private readonly count: number,
    private readonly verifier: Verifier,
    private readonly signal: AbortSignal,
    private readonly lifetimeMs: number,
    /** Segments past this one are not wanted: their nodes are never fetched (a range's end). */
    private readonly lastWanted = count - 1,
  ) {
    this.nodeCount = manifestNodeCount(count);
    this.nodes = new Array<string[] | undefined>(this.nodeCount).fill(undefined);
  }

  /** The expected implicit digest of `segment` as latin1 text, if its node is already here (the per-segment fast path). */
  digestNow(segment: number): string | undefined {
    const node = Math.floor(segment / MANIFEST_FANOUT);
    return this.nodes[node]?.[segment - node * MANIFEST_FANOUT];
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

  private node(n: number): Promise<string[]> {
    const have = this.nodes[n];
    if (have) {
      return Promise.resolve(have);
    }
    let p = this.pending.get(n);
    if (!p) {
      p = this.fetchNode(n);
      this.pending.set(n, p);
      p.then((content) => { this.nodes[n] = content; }, () => undefined).finally(() => this.pending.delete(n));
    }
    return p;
  }

  private async fetchNode(n: number): Promise<string[]> {
    let last = "";
    for (let attempt = 0; attempt < ATTEMPTS; ++attempt) {
      const interest = new Interest(this.name.append(Segment, n), Interest.MustBeFresh, Interest.Lifetime(this.lifetimeMs));
      const got = await fetchOnePacket(this.fw, interest, this.signal, this.verifier);
      if ("timeout" in got) {
        last = "no answer";
        continue;
      }
      if ("error" in got) {
        last = got.error;
        continue;
      }
      const { data } = got;
      this.bytes += Encoder.encode(data).length;
      if (data.contentType === ContentType.Nack) {
        throw new NdnFetchError("nack", `manifest node ${n}: producer: ${new TextDecoder().decode(data.content).slice(0, 200)}`);
      }
      const problem = manifestNodeProblem(data, n, this.count);
      if (problem !== undefined) {
        last = problem;
        continue;
      }
      const entries: string[] = [];
      for (let at = 0; at < data.content.length; at += 32) {
        entries.push(latin1Text(data.content.subarray(at, at + 32)));
      }
      return entries;
    }
    throw new NdnFetchError("bad-manifest", `manifest node ${n}: ${last}`);
  }
}
