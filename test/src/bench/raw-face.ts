import { createServer, type Server, type Socket, connect } from "node:net";

import { LpPacket } from "@ndn/lp";
import { Data, Interest, TT } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";
import { FrameSplitter } from "@ndnreg/shared/ndn";

/** A packet as a raw face received it. */
export interface RawPacket {
  readonly interest?: Interest;
  readonly data?: Data;
  /** The L3 packet's own bytes (a Data's implicit digest is their SHA-256). */
  readonly wire: Uint8Array;
  readonly pitToken?: Uint8Array;
  readonly nack: boolean;
}

/**
 * One NDN face to a forwarder over a stream socket, with nothing between the test and the wire:
 * packets go out exactly as given (with any PIT token, of any length) and come back decoded.
 * For forwarder tests that NDNts' endpoint would paper over.
 */
export class RawFace {
  private readonly queue: RawPacket[] = [];
  private readonly waiters: Array<(p: RawPacket | undefined) => void> = [];
  private readonly handlers: Array<(p: RawPacket) => void> = [];
  private readonly splitter = new FrameSplitter();
  /** Resolves when the forwarder closes the connection (or it fails). */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.splitter.push(chunk, (frame) => this.onFrame(new Uint8Array(frame))));
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        for (const w of this.waiters.splice(0)) {
          w(undefined);
        }
        resolve();
      });
    });
    socket.on("error", () => undefined); // "close" follows
  }

  /** A face over a socket already connected. */
  static fromSocket(socket: Socket): RawFace {
    return new RawFace(socket);
  }

  /** `target`: a Unix socket path, or host and port. */
  static connect(target: string | { host: string; port: number }): Promise<RawFace> {
    return new Promise((resolve, reject) => {
      const s = typeof target === "string" ? connect(target) : connect(target.port, target.host);
      s.once("connect", () => resolve(RawFace.fromSocket(s)));
      s.once("error", reject);
    });
  }

  /** Send an Interest or Data, in an LpPacket with `pitToken` if one is given. */
  send(packet: Interest | Data, pitToken?: Uint8Array): void {
    this.sendWire(Encoder.encode(packet), pitToken);
  }

  sendWire(l3: Uint8Array, pitToken?: Uint8Array): void {
    if (!pitToken) {
      this.socket.write(l3);
      return;
    }
    const lp = new LpPacket();
    lp.pitToken = pitToken;
    lp.payload = l3;
    this.socket.write(Encoder.encode(lp));
  }

  /** Call `fn` for every packet from now on (instead of queueing it for receive()). */
  onPacket(fn: (p: RawPacket) => void): void {
    this.handlers.push(fn);
  }

  /** The next packet, or undefined if none comes within `timeoutMs` or the face closes. */
  receive(timeoutMs: number): Promise<RawPacket | undefined> {
    const queued = this.queue.shift();
    if (queued) {
      return Promise.resolve(queued);
    }
    return new Promise((resolve) => {
      const w = (p: RawPacket | undefined) => {
        clearTimeout(t);
        resolve(p);
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onFrame(frame: Uint8Array): void {
    let wire = frame;
    let pitToken: Uint8Array | undefined;
    let nack = false;
    if (frame[0] === 0x64) {
      const lp = new Decoder(frame).decode(LpPacket);
      if (!lp.payload) {
        return; // idle
      }
      wire = lp.payload;
      pitToken = lp.pitToken;
      nack = lp.nack !== undefined;
    }
    const type = new Decoder(wire).read().type;
    const packet: RawPacket = {
      wire, pitToken, nack,
      ...(type === TT.Interest && { interest: new Decoder(wire).decode(Interest) }),
      ...(type === TT.Data && { data: new Decoder(wire).decode(Data) }),
    };
    if (this.handlers.length > 0) {
      this.handlers.forEach((h) => h(packet));
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      w(packet);
    } else {
      this.queue.push(packet);
    }
  }
}

/**
 * A TCP listener a forwarder connects to when given `tcp://127.0.0.1:<port>` as a route's face:
 * each connection becomes a RawFace (the test's producer).
 */
export class RawFaceListener {
  private readonly faces: RawFace[] = [];

  private constructor(private readonly server: Server, readonly port: number, private readonly onFace: (f: RawFace) => void) {}

  static listen(onFace: (f: RawFace) => void): Promise<RawFaceListener> {
    return new Promise((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const l = new RawFaceListener(server, (server.address() as { port: number }).port, onFace);
        server.on("connection", (s) => l.accept(s));
        resolve(l);
      });
    });
  }

  get uri(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  private accept(socket: Socket): void {
    const face = RawFace.fromSocket(socket);
    this.faces.push(face);
    this.onFace(face);
  }

  close(): void {
    this.faces.forEach((f) => f.close());
    this.server.close();
  }
}
