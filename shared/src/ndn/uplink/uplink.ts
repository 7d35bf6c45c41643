import type { Socket as UdpSocket } from "node:dgram";
import { connect as netConnect, type Socket } from "node:net";

import type { Forwarder, FwFace } from "@ndn/fw";
import { L3Face } from "@ndn/l3face";
import type { NfdPrefixReg } from "@ndn/nfdmgmt";
import { TcpTransport, UdpTransport, UnixTransport } from "@ndn/node-transport";
import type { Name, Signer } from "@ndn/packet";

import type { Logger } from "../../log.js";
import { DatagramWireTransport } from "../wire/datagram-wire-transport.js";
import { StreamWireTransport, type WireTap, type WireTransport } from "../wire/wire-transport.js";
import { formatRouterAddress, type RouterAddress } from "./router-uri.js";
import { openUdpSocket } from "./udp-socket.js";

/**
 * Room for hundreds of 8000-byte segments in NDNLPv2 fragments, each of which the kernel charges
 * more than its size (docs/performance.md, "UDP faces").
 */
const UDP_BUFFER_BYTES = 16 * 1024 * 1024;

/** Largest UDP payload (IPv4): what the hot path may send in one datagram. */
const UDP_MAX_DATAGRAM = 65_507;

export interface UplinkOptions {
  readonly fw: Forwarder;
  /** Forwarders to try in turn (one for a local forwarder; several from NDN-FCH). */
  readonly routers: readonly RouterAddress[];
  readonly log: Logger;
  /** Routes towards the router (consumers: the prefixes they fetch). */
  readonly routes?: readonly Name[];
  /** Register the producer's announced prefixes with NFD management over this face. */
  readonly prefixRegistration?: { readonly signer?: Signer; readonly refreshInterval?: number; readonly cost?: number };
  /** UDP packets above this are fragmented by NDNLPv2 (the forwarder reassembles). */
  readonly udpMtu?: number;
  /** Socket buffers asked for on a UDP face (default 16 MiB; the kernel may grant less). */
  readonly udpBufferBytes?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Hot-path packet handler, offered each packet before NDNts where the router carriesWire(). */
  readonly tap?: WireTap;
  /**
   * UDP faces carry the hot path too: Data reassembled from NDNLPv2 fragments for the tap, and
   * what it sends past the face's MTU fragmented (the client's fetches and its edge store).
   */
  readonly tapOverUdp?: boolean;
}

/**
 * Whether a face to this router carries the wire hot path (a wire transport with the tap in
 * front of NDNts): stream sockets always; UDP when asked (`tapOverUdp`), the server keeping
 * NDNts' path there.
 */
function carriesWire(router: RouterAddress, tapOverUdp = false): boolean {
  return router.scheme !== "udp" || tapOverUdp;
}

/**
 * A face to the forwarder that survives forwarder restarts. On `down` the face is closed and a
 * brand-new face (and registration) replaces it: L3Face's own reopen loses the first packets on
 * the new connection, prefix registration among them.
 */
export class Uplink extends EventTarget {
  private face?: FwFace;
  private wireTransport?: StreamWireTransport | DatagramWireTransport;
  private prefixReg?: NfdPrefixReg;
  private closed = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  /** Index in `routers` of the one in use or tried next: a failure moves on to the next. */
  private routerIndex = 0;

  constructor(private readonly opts: UplinkOptions) {
    super();
    if (opts.routers.length === 0) {
      throw new Error("Uplink: no router to connect to");
    }
  }

  private get router(): RouterAddress {
    return this.opts.routers[this.routerIndex % this.opts.routers.length]!;
  }

  /** The router in use (or tried next), as a URI. */
  get describe(): string {
    return formatRouterAddress(this.router);
  }

  get isUp(): boolean {
    return this.face !== undefined;
  }

  /** The current face's hot-path transport (undefined while down, or on UDP). */
  get wire(): WireTransport | undefined {
    return this.wireTransport?.isOpen ? this.wireTransport : undefined;
  }

  /** Connect (retrying in the background); resolves after the first attempt either way. */
  async start(): Promise<boolean> {
    return this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.dropFace();
  }

  private async connect(): Promise<boolean> {
    if (this.closed) {
      return false;
    }
    const { fw, routes } = this.opts;
    const router = this.router;
    const l3: { face?: L3Face } = {};
    const createOpts = {
      fw,
      addRoutes: routes ?? [],
      lp: router.scheme === "udp" ? { mtu: this.opts.udpMtu ?? 1400 } : {},
      callback: (_t: unknown, l3face: L3Face) => { l3.face = l3face; },
    };
    try {
      const tap = this.opts.tap;
      const face = tap && carriesWire(router, this.opts.tapOverUdp)
        ? await L3Face.makeCreateFace(async () => {
          if (router.scheme === "udp") {
            const transport = new DatagramWireTransport(
              await this.udpSocket(router.host, router.port), tap, UDP_MAX_DATAGRAM, { describe: this.describe }, createOpts.lp.mtu);
            this.wireTransport = transport;
            return transport;
          }
          const transport = new StreamWireTransport(await connectSocket(router, 3000), tap, { describe: this.describe, local: router.scheme === "unix" });
          this.wireTransport = transport;
          return transport;
        })(createOpts)
        : router.scheme === "unix"
          ? await UnixTransport.createFace(createOpts, router.path)
          : router.scheme === "tcp"
            ? await TcpTransport.createFace(createOpts, router.host, router.port, { connectTimeout: 3000 })
            : await UdpTransport.createFace(createOpts, await this.udpSocket(router.host, router.port));
      if (this.closed) {
        face.close();
        return false;
      }
      this.face = face;
      this.attempt = 0;
      l3.face?.addEventListener("down", (evt) => this.onDown(face, evt.detail), { once: true });
      if (this.opts.prefixRegistration) {
        // Loaded on demand: consumers never register, and @ndn/nfdmgmt is large.
        const { enableNfdPrefixReg } = await import("@ndn/nfdmgmt");
        this.prefixReg = enableNfdPrefixReg(face, {
          signer: this.opts.prefixRegistration.signer,
          refreshInterval: this.opts.prefixRegistration.refreshInterval ?? 60_000,
          cost: this.opts.prefixRegistration.cost ?? 0,
          retry: { forever: true, minTimeout: 500, maxTimeout: 5000 },
        });
      }
      this.opts.log.info({ router: this.describe }, "uplink up");
      this.dispatchEvent(new Event("up"));
      return true;
    } catch (err: unknown) {
      this.opts.log.warn({ router: this.describe, err: String(err) }, "uplink connect failed");
      ++this.routerIndex;
      this.scheduleReconnect();
      return false;
    }
  }

  private async udpSocket(host: string, port: number): Promise<UdpSocket> {
    const bufferBytes = this.opts.udpBufferBytes ?? UDP_BUFFER_BYTES;
    const { sock, recvBufferBytes, sendBufferBytes, cappedBy } = await openUdpSocket(host, port, bufferBytes);
    const sizes = { router: this.describe, asked: bufferBytes, recvBufferBytes, sendBufferBytes };
    if (cappedBy) {
      this.opts.log.warn({ ...sizes, [cappedBy.sysctl]: cappedBy.value },
        `UDP socket buffers capped by ${cappedBy.sysctl}: Data beyond them is dropped at high rates; as root: sysctl -w ${cappedBy.sysctl}=${bufferBytes}`);
    } else {
      this.opts.log.info(sizes, "UDP socket buffers");
    }
    return sock;
  }

  private onDown(face: FwFace, err: Error): void {
    if (this.face !== face) {
      return;
    }
    this.opts.log.warn({ router: this.describe, err: String(err) }, "uplink down, reconnecting");
    ++this.routerIndex;
    this.dropFace();
    this.dispatchEvent(new Event("down"));
    this.scheduleReconnect();
  }

  private dropFace(): void {
    this.prefixReg?.disable();
    this.prefixReg = undefined;
    this.face?.close();
    this.face = undefined;
    this.wireTransport = undefined;
  }

  private scheduleReconnect(): void {
    if (this.closed) {
      return;
    }
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 200, maxMs: 5000 };
    const delay = Math.min(maxMs, initialMs * 2 ** this.attempt++);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}

/** A connected stream socket to the router, or an error within `timeoutMs`. */
function connectSocket(router: RouterAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = router.scheme === "unix" ? netConnect({ path: router.path }) : netConnect({ host: router.host, port: router.port });
    const timer = setTimeout(() => sock.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      resolve(sock);
    });
    sock.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
