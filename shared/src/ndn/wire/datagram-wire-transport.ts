import type { Socket } from "node:dgram";

import { Transport } from "@ndn/l3face";
import { Decoder } from "@ndn/tlv";
import { pushable } from "@ndn/util";

import { LpFragmenter } from "./lp-fragmenter.js";
import { LpReassembler } from "./lp-reassembler.js";
import { type LpFrame, peekNetworkPacket, readLpFrame } from "./packets.js";
import { packetArena } from "./slab-arena.js";
import type { WireTap, WireTransport } from "./wire-transport.js";

/** Most datagrams libuv reads from a socket in one event-loop turn (uv__udp_recvmsg); more were waiting. */
const READ_BATCH = 32;
/** At most one mark per this long, as ndnd marks a face whose send queue holds over 64 KB. */
const MARK_INTERVAL_MS = 100;

/**
 * The hot path on a UDP face: each datagram is read straight from the socket, the NDNLPv2
 * fragments of a Data are put back together here (LpReassembler) and the whole packet offered
 * to the tap; what the tap declines goes to NDNts, reassembled, as a bare packet. NDNts' own
 * path decodes, reassembles and forwards every fragment through async iterators, and could not
 * keep up with a window of Data (docs/performance.md, "UDP faces").
 *
 * `send` takes whole packets: with `lpMtu`, one larger than it (a store's 8 KB Data) leaves as
 * NDNLPv2 fragments, as NDNts would send it; without, it must fit one datagram.
 *
 * The queue in front of a UDP consumer is its own socket's receive buffer, which the forwarder
 * cannot see (ndnd marks Data when a stream face's send queue is long, never on UDP), and which
 * drops what overflows it: a window grown until it loses segments waits out a timeout for each.
 * So the transport marks congestion itself, as ndnd would: a turn that reads a whole batch had
 * at least a batch waiting (32 datagrams: ~280 KB of whole segments, ~45 KB of fragments), and
 * its Data gets a mark, one per 100 ms at most; the pipeline heeds a mark only when its RTTs show
 * a standing queue.
 */
export class DatagramWireTransport extends Transport implements WireTransport {
  override readonly rx: Transport.RxIterable;
  private readonly toNdnts = pushable<Decoder.Tlv>();
  private readonly reassembler = new LpReassembler();
  private open = true;
  private sent = 0;
  private completed = 0;
  private retireScheduled = false;
  /** Datagrams read in this event-loop turn. */
  private turnReads = 0;
  private lastMark = -Infinity;
  /** Slabs of the packet arena to hand back once the datagrams sent before they retired are out. */
  private readonly retired: Array<{ readonly after: number; readonly slabs: Buffer[] }> = [];

  private readonly fragmenter?: LpFragmenter;

  constructor(private readonly sock: Socket, private readonly tap: WireTap, private readonly maxDatagram: number, attrs: Transport.Attributes, lpMtu?: number) {
    super(attrs);
    this.fragmenter = lpMtu === undefined ? undefined : new LpFragmenter(lpMtu);
    this.rx = this.toNdnts;
    sock.on("message", this.onDatagram);
    sock.once("close", () => {
      this.open = false;
      this.toNdnts.stop();
    });
    // A connected UDP socket reports ICMP errors (nobody listening) here: the face goes down and
    // the uplink connects again.
    sock.on("error", () => this.close());
  }

  override get mtu(): number {
    return this.maxDatagram;
  }

  get isOpen(): boolean {
    return this.open;
  }

  send(packet: Uint8Array): void {
    if (!this.open) {
      return;
    }
    for (const frame of this.fragmenter ? this.fragmenter.fragment(packet) : [packet]) {
      if (frame.length > this.maxDatagram) {
        throw new RangeError(`DatagramWireTransport.send: ${frame.length} bytes do not fit one datagram (${this.maxDatagram})`);
      }
      ++this.sent;
      this.sock.send(frame, this.onSent);
    }
    if (!this.retireScheduled) {
      this.retireScheduled = true;
      setImmediate(this.retire);
    }
  }

  override async tx(iterable: Transport.TxIterable): Promise<void> {
    try {
      for await (const packet of iterable) {
        if (this.open) {
          this.sock.send(packet);
        }
      }
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.open) {
      this.open = false;
      this.sock.close();
    }
  }

  private readonly onSent = (): void => {
    ++this.completed;
    while (this.retired.length > 0 && this.completed >= this.retired[0]!.after) {
      packetArena.reuse(this.retired.shift()!.slabs);
    }
  };

  /** Datagrams complete in order: slabs retired by now are free once the last one sent is out. */
  private readonly retire = (): void => {
    this.retireScheduled = false;
    const slabs = packetArena.takeRetired();
    if (slabs.length > 0) {
      this.retired.push({ after: this.sent, slabs });
    }
  };

  private readonly onDatagram = (msg: Buffer): void => {
    let lp = readLpFrame(msg);
    if (!lp) {
      return; // malformed, or an idle LpPacket
    }
    if (++this.turnReads === 1) {
      setImmediate(this.endTurn);
    } else if (this.turnReads >= READ_BATCH && lp.congestionMark === 0 && performance.now() - this.lastMark >= MARK_INTERVAL_MS) {
      this.lastMark = performance.now();
      lp = { ...lp, congestionMark: 1 };
    }
    if (lp.fragCount === 1) {
      this.offer(lp.fragment, lp, msg);
      return;
    }
    const whole = this.reassembler.add(lp);
    if (whole) {
      this.offer(whole.packet, whole, whole.packet);
    }
  };

  private readonly endTurn = (): void => {
    this.turnReads = 0;
  };

  /** A whole network packet to the tap; what it declines goes to NDNts as `wire` (the LpPacket or the packet). */
  private offer(packet: Uint8Array, lp: Pick<LpFrame, "pitToken" | "nackReason" | "congestionMark">, wire: Uint8Array): void {
    const peeked = peekNetworkPacket(packet, lp);
    if (!peeked || !this.tap(peeked, this)) {
      this.toNdnts.push(new Decoder(wire).read());
    }
  }
}
