import type { Name } from "@ndn/packet";

/** What a channel hands back for each segment: payload bytes are views, not copies. */
export interface SegmentPacket {
  readonly segment: number;
  readonly contentType: number;
  readonly content: Uint8Array;
  /** The whole Data element (its sha256 is the packet's implicit digest). */
  readonly wire: Uint8Array;
  /** FinalBlockId, when it is a segment number. */
  readonly finalSegment?: number;
}

export interface SegmentSink {
  data(packet: SegmentPacket): void;
  /** A network Nack (no route, congestion, duplicate): the fetch ends so the caller can fall back. */
  nack(reason: string): void;
}

/** One blob's Interest/Data exchange over some face. */
export interface SegmentFlow {
  express(segment: number, lifetimeMs: number): void;
  close(): void;
}

/** Where Interests go and Data comes from: the wire hot path, or an NDNts forwarder face. */
export interface SegmentChannel {
  open(blob: Name, sink: SegmentSink): SegmentFlow;
}

export interface PipelineOptions {
  readonly channel: SegmentChannel;
  /** First segment to fetch (default 0): a byte range fetches only the segments it covers. */
  readonly first?: number;
  readonly signal: AbortSignal;
  /** Upper bound on Interests in flight (segments of 8000 bytes). */
  readonly maxWindow?: number;
  readonly initialWindow?: number;
  /** Retransmissions of one segment before giving up. */
  readonly maxRetx?: number;
  /** Filled in as the fetch runs (for logs and metrics). */
  readonly stats?: PipelineStats;
}

export interface PipelineStats {
  delivered: number;
  retransmissions: number;
  inFlight: number;
  window: number;
  rtoMs: number;
  srttMs: number;
  oldestPending?: number;
}

export function newPipelineStats(): PipelineStats {
  return { delivered: 0, retransmissions: 0, inFlight: 0, window: 0, rtoMs: 0, srttMs: 0 };
}

export function describeStats(s: PipelineStats): string {
  return `delivered ${s.delivered}, in flight ${s.inFlight}, window ${s.window.toFixed(1)}, rto ${s.rtoMs.toFixed(0)} ms, retransmissions ${s.retransmissions}, oldest pending ${s.oldestPending ?? "-"}`;
}

export class PipelineError extends Error {}

/**
 * Floor of the retransmission timeout: above the RTT spikes of a loaded host, where a spurious
 * timeout would also halve the window; real losses are rare on the links this runs over.
 */
const MIN_RTO_MS = 250;

/** In-order segments that make a batch for the consumer (256 KB: one HTTP write). */
const MIN_BATCH = 32;

/** Per-segment state in the ring (a slot per segment in [delivered, next)). */
const FREE = 0;
const PENDING = 1;
const ARRIVED = 2;

/**
 * Fetches segments [first, count) of `name` in order (in batches of consecutive segments), keeping a window of Interests in flight on one
 * channel. NDNts' fetch() sends at most one Interest per wake-up (Data or a 4 ms tick), which
 * left both ends idle most of the time; here every arriving Data refills the window at once.
 * Slow start, then AIMD on the window (halved on a timeout) and an RFC 6298 retransmission timer keep it polite on
 * lossy paths; a network Nack ends the fetch at once so the caller can fall back.
 */
export async function* fetchSegments(name: Name, count: number, opts: PipelineOptions): AsyncGenerator<SegmentPacket[]> {
  const maxWindow = opts.maxWindow ?? 128;
  const maxRetx = Math.min(opts.maxRetx ?? 8, 255);
  let window = Math.min(opts.initialWindow ?? 32, maxWindow);
  // Slow start until the first loss: a blob of a few thousand segments would otherwise end
  // before additive increase opened the window.
  let ssthresh = maxWindow;
  let srtt = 0;
  let rttvar = 0;
  let rto = 1000;
  let next = opts.first ?? 0;
  let delivered = next;
  /** Segments [first, contiguous) have all arrived (delivered or waiting in their slots). */
  let contiguous = next;
  // Segments in flight or waiting for the consumer live in [delivered, next), fewer than the
  // window, so a ring of typed arrays holds their state: no object and no Map entry per segment
  // that could live long enough to be promoted (docs/performance.md, "Per-segment state").
  const ringSize = 2 ** Math.ceil(Math.log2(maxWindow + 1));
  const mask = ringSize - 1;
  const state = new Uint8Array(ringSize);
  const retx = new Uint8Array(ringSize); // retransmissions so far; 0: RTT samples are valid
  const sentAt = new Float64Array(ringSize);
  const packets: Array<SegmentPacket | undefined> = new Array<SegmentPacket | undefined>(ringSize).fill(undefined);
  let inFlight = 0;
  let waiting = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: Error) => {
    failure ??= err;
    notify();
  };
  const stats = opts.stats ?? newPipelineStats();
  const updateStats = () => {
    stats.delivered = delivered;
    stats.inFlight = inFlight;
    stats.window = window;
    stats.rtoMs = rto;
    stats.srttMs = srtt;
    stats.oldestPending = undefined;
    for (let seg = delivered; seg < next; ++seg) {
      if (state[seg & mask] === PENDING) {
        stats.oldestPending = seg;
        break;
      }
    }
  };
  const send = (seg: number) => {
    sentAt[seg & mask] = performance.now();
    flow.express(seg, Math.min(4000, Math.max(1000, Math.round(2 * rto))));
  };
  const fill = () => {
    // Interests go out in batches of an eighth of the window: one socket write for many, and
    // the producer answers in bursts too.
    const free = window - inFlight - waiting;
    if (free < Math.min(Math.max(1, Math.floor(window / 8)), count - next)) {
      return;
    }
    while (next < count && inFlight + waiting < window) {
      const slot = next & mask;
      state[slot] = PENDING;
      retx[slot] = 0;
      ++inFlight;
      send(next++);
    }
  };
  const onData = (data: SegmentPacket) => {
    const seg = data.segment;
    const slot = seg & mask;
    if (seg < delivered || seg >= next || state[slot] !== PENDING) {
      return; // duplicate or late
    }
    state[slot] = ARRIVED;
    packets[slot] = data;
    --inFlight;
    ++waiting;
    if (retx[slot] === 0) { // Karn: no RTT samples from retransmitted segments
      const rtt = performance.now() - sentAt[slot]!;
      rttvar = srtt === 0 ? rtt / 2 : 0.75 * rttvar + 0.25 * Math.abs(srtt - rtt);
      srtt = srtt === 0 ? rtt : 0.875 * srtt + 0.125 * rtt;
      rto = Math.min(4000, Math.max(MIN_RTO_MS, srtt + 4 * rttvar));
    }
    window = Math.min(maxWindow, window < ssthresh ? window + 1 : window + 1 / window);
    while (contiguous < next && state[contiguous & mask] === ARRIVED) {
      ++contiguous;
    }
    fill();
    // Wake the consumer for a batch, not for every socket read: each wake-up costs a generator
    // resumption, an HTTP write call and their promises (docs/performance.md, "Wake-ups").
    if (contiguous - delivered >= Math.max(1, Math.min(MIN_BATCH, Math.floor(window / 4))) || contiguous === count) {
      notify();
    }
  };

  const flow = opts.channel.open(name, {
    data: onData,
    nack: (reason) => fail(new PipelineError(`network Nack (${reason}) for ${name}`)),
  });

  const timer = setInterval(() => {
    const now = performance.now();
    let lost = false;
    for (let seg = delivered; seg < next; ++seg) {
      const slot = seg & mask;
      if (state[slot] !== PENDING || now - sentAt[slot]! < rto) {
        continue;
      }
      if (++retx[slot]! > maxRetx) {
        fail(new PipelineError(`segment ${seg}: no Data after ${maxRetx} retransmissions`));
        return;
      }
      lost = true;
      ++stats.retransmissions;
      send(seg);
    }
    if (lost) {
      window = Math.max(2, window / 2);
      ssthresh = window;
      rto = Math.min(4000, rto * 2);
    }
    updateStats();
  }, 20);
  const onAbort = () => fail(new PipelineError(`fetch aborted: ${String(opts.signal.reason)}`));
  opts.signal.addEventListener("abort", onAbort, { once: true });

  try {
    fill();
    while (delivered < count) {
      // Everything that is in order goes out as one batch: one resumption of each consumer
      // instead of one per 8000-byte segment.
      const batch: SegmentPacket[] = [];
      while (delivered < contiguous) {
        const slot = delivered++ & mask;
        batch.push(packets[slot]!);
        packets[slot] = undefined;
        state[slot] = FREE;
        --waiting;
      }
      if (batch.length > 0) {
        stats.delivered = delivered;
        fill(); // a slow reader may have let waiting segments fill the window: reopen it
        yield batch;
        continue;
      }
      if (failure) {
        throw failure;
      }
      await new Promise<void>((resolve) => { wake = resolve; });
    }
  } finally {
    clearInterval(timer);
    opts.signal.removeEventListener("abort", onAbort);
    flow.close();
  }
}
