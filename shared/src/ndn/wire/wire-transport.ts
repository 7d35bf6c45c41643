import type { Socket } from "node:net";

import { Transport } from "@ndn/l3face";
import { Decoder } from "@ndn/tlv";
import { pushable } from "@ndn/util";

import { FrameSplitter } from "./frame-splitter.js";
import { peekPacket, type PeekedPacket } from "./packets.js";
import { packetArena } from "./slab-arena.js";

const NOTHING = Buffer.alloc(0);
/**
 * Bytes queued on the socket past which nothing more is read from it until it drains: Interests
 * not read are not answered, so a slow forwarder or a stranger that reads slowly holds at most
 * this much of our memory in Data (the rest waits in the kernel and the forwarder).
 */
const MAX_BACKLOG = 1 << 20;

/** The face a tapped packet came from, as the tap sees it: where its replies go. */
export interface WireTransport {
  /** Queue one encoded packet (the face's transport batches writes). */
  send(packet: Uint8Array): void;
  readonly isOpen: boolean;
}

/**
 * Claims packets for the hot path; returns true when it took the packet. Anything it declines
 * (management responses, other prefixes) goes to NDNts as usual.
 */
export type WireTap = (packet: PeekedPacket, wire: WireTransport) => boolean;

/**
 * An NDNts transport over a stream socket with a tap in front of NDNts: blob Interests and Data
 * are handled straight from the socket's bytes, and outgoing packets written in one batch per
 * tick, without NDNts' decoder, forwarder and async iterators per packet (docs/performance.md,
 * "Per-packet work"). Prefix registration and everything else still use NDNts on the same face,
 * so the forwarder sees one ordinary face.
 */
export class StreamWireTransport extends Transport implements WireTransport {
  override readonly rx: Transport.RxIterable;
  private readonly toNdnts = pushable<Decoder.Tlv>();
  private readonly splitter = new FrameSplitter();
  private corked = false;
  private paused = false;
  private open = true;

  constructor(private readonly sock: Socket, private readonly tap: WireTap, attrs: Transport.Attributes) {
    super(attrs);
    this.rx = this.toNdnts;
    sock.setNoDelay?.(true);
    sock.on("data", (chunk: Buffer) => {
      try {
        this.splitter.push(chunk, this.onFrame);
      } catch (err: unknown) {
        sock.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    sock.once("close", () => {
      this.open = false;
      this.toNdnts.stop();
    });
    sock.on("error", () => undefined); // "close" follows; L3Face reports the face down
  }

  override get mtu(): number {
    return Infinity;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Queue one encoded packet; all packets queued in one event-loop turn go out in one write. */
  send(packet: Uint8Array): void {
    if (!this.open) {
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.sock.cork();
      setImmediate(this.uncork); // after every chunk read in this loop turn: fewer, larger writes
    }
    this.sock.write(packet);
  }

  override async tx(iterable: Transport.TxIterable): Promise<void> {
    try {
      for await (const packet of iterable) {
        this.send(packet);
      }
    } finally {
      this.open = false;
      this.sock.destroy();
    }
  }

  private readonly uncork = () => {
    this.corked = false;
    this.sock.uncork();
    if (this.sock.writableLength > MAX_BACKLOG && !this.paused) {
      // Over the bound, write() has returned false, so "drain" follows once the backlog is out.
      this.paused = true;
      this.sock.pause();
      this.sock.once("drain", this.resume);
    }
    // Writes complete in order: when this empty one does, every packet queued before it has left
    // the process, so slabs retired by now may be reused. (A destroyed socket cancels its writes.)
    const retired = packetArena.takeRetired();
    if (retired.length > 0) {
      this.sock.write(NOTHING, () => packetArena.reuse(retired));
    }
  };

  private readonly resume = () => {
    this.paused = false;
    this.sock.resume();
  };

  private readonly onFrame = (frame: Uint8Array) => {
    const peeked = peekPacket(frame);
    if (peeked && this.tap(peeked, this)) {
      return;
    }
    this.toNdnts.push(new Decoder(frame).read());
  };
}
