import { CancelInterest, type Forwarder, FwPacket } from "@ndn/fw";
import { Segment } from "@ndn/naming-convention2";
import { Data, Interest, Nack, type Name } from "@ndn/packet";
import { pushable } from "@ndn/util";

export interface PipelineOptions {
  readonly fw: Forwarder;
  readonly signal: AbortSignal;
  /** Upper bound on Interests in flight (segments of 8000 bytes). */
  readonly maxWindow?: number;
  readonly initialWindow?: number;
  /** Retransmissions of one segment before giving up. */
  readonly maxRetx?: number;
}

export class PipelineError extends Error {}

interface Pending {
  sentAt: number;
  retx: number;
  retransmitted: boolean;
}

/**
 * Fetches segments [0, count) of `name` in order, keeping a window of Interests in flight on one
 * forwarder face. NDNts' fetch() sends at most one Interest per wake-up (Data or a 4 ms tick), which
 * left both ends idle most of the time; here every arriving Data refills the window at once.
 * AIMD on the window (halved on a timeout) and an RFC 6298 retransmission timer keep it polite on
 * lossy paths; a network Nack ends the fetch at once so the caller can fall back.
 */
export async function* fetchSegments(name: Name, count: number, opts: PipelineOptions): AsyncGenerator<Data> {
  const maxWindow = opts.maxWindow ?? 128;
  const maxRetx = opts.maxRetx ?? 8;
  let window = Math.min(opts.initialWindow ?? 32, maxWindow);
  let srtt = 0;
  let rttvar = 0;
  let rto = 1000;
  let next = 0;
  let delivered = 0;
  const pending = new Map<number, Pending>();
  const arrived = new Map<number, Data>();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const rx = pushable<FwPacket>();

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: Error) => {
    failure ??= err;
    notify();
  };
  const interestFor = (seg: number) => new Interest(name.append(Segment, seg), Interest.MustBeFresh,
    Interest.Lifetime(Math.min(4000, Math.max(1000, 2 * rto))));
  const send = (seg: number, p: Pending) => {
    p.sentAt = performance.now();
    rx.push(FwPacket.create(interestFor(seg)));
  };
  const fill = () => {
    while (next < count && pending.size + arrived.size < window) {
      const seg = next++;
      const p: Pending = { sentAt: 0, retx: 0, retransmitted: false };
      pending.set(seg, p);
      send(seg, p);
    }
  };
  const onData = (data: Data) => {
    const comp = data.name.get(-1);
    if (!comp || !Segment.match(comp) || data.name.length !== name.length + 1) {
      return;
    }
    const seg = Segment.parse(comp);
    const p = pending.get(seg);
    if (!p) {
      return; // duplicate or late
    }
    pending.delete(seg);
    if (!p.retransmitted) { // Karn: no RTT samples from retransmitted segments
      const rtt = performance.now() - p.sentAt;
      rttvar = srtt === 0 ? rtt / 2 : 0.75 * rttvar + 0.25 * Math.abs(srtt - rtt);
      srtt = srtt === 0 ? rtt : 0.875 * srtt + 0.125 * rtt;
      rto = Math.min(4000, Math.max(100, srtt + 4 * rttvar));
    }
    window = Math.min(maxWindow, window + 1 / window);
    arrived.set(seg, data);
    fill();
    if (seg === delivered) {
      notify();
    }
  };

  const face = opts.fw.addFace({
    rx,
    async tx(iterable) {
      for await (const pkt of iterable) {
        if (pkt.l3 instanceof Data) {
          onData(pkt.l3);
        } else if (pkt.l3 instanceof Nack) {
          fail(new PipelineError(`network Nack (${pkt.l3.reason}) for ${pkt.l3.interest.name}`));
        }
      }
    },
  }, { describe: `fetchSegments(${name})` });

  const timer = setInterval(() => {
    const now = performance.now();
    let lost = false;
    for (const [seg, p] of pending) {
      if (now - p.sentAt < rto) {
        continue;
      }
      if (++p.retx > maxRetx) {
        fail(new PipelineError(`segment ${seg}: no Data after ${maxRetx} retransmissions`));
        return;
      }
      lost = true;
      p.retransmitted = true;
      send(seg, p);
    }
    if (lost) {
      window = Math.max(2, window / 2);
      rto = Math.min(4000, rto * 2);
    }
  }, 20);
  const onAbort = () => fail(new PipelineError(`fetch aborted: ${String(opts.signal.reason)}`));
  opts.signal.addEventListener("abort", onAbort, { once: true });

  try {
    fill();
    while (delivered < count) {
      const data = arrived.get(delivered);
      if (data) {
        arrived.delete(delivered++);
        yield data;
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
    for (const seg of pending.keys()) {
      rx.push(new CancelInterest(interestFor(seg)));
    }
    rx.stop();
    face.close();
  }
}
