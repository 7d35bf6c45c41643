/**
 * A UDP relay that delays every datagram by a fixed time in each direction (toxiproxy has no UDP):
 * `node udp-delay-relay-main.js <one-way ms> <listen host>:<port>=<upstream host>:<port> ...`.
 * It listens on one address, not all: answers must come from the address a peer sent to, or a
 * connected UDP socket (the client's) drops them.
 * Each peer that sends to the listen port gets its own upstream socket, so the upstream sees one
 * source address per peer, as it would without the relay. Prints "relay ready" once listening.
 */
import { createSocket, type Socket } from "node:dgram";

const [oneWay, ...mappings] = process.argv.slice(2);
const delayMs = Number(oneWay);
// The kernel's limit (net.core.rmem_max): a burst of a full window must not overflow the relay.
const BUFFER = 4 << 20;

interface Pending { readonly due: number; readonly bytes: Buffer; readonly send: (b: Buffer) => void }

/**
 * One FIFO and one timer for all datagrams: every one waits the same time, so they leave in the
 * order they came, each at its arrival time plus the delay.
 */
const queue: Pending[] = [];
let head = 0;
let timer: NodeJS.Timeout | undefined;

function flush(): void {
  timer = undefined;
  const now = performance.now();
  while (head < queue.length && queue[head]!.due <= now + 0.5) {
    const p = queue[head++]!;
    p.send(p.bytes);
  }
  if (head > 4096 && head * 2 > queue.length) {
    queue.splice(0, head);
    head = 0;
  }
  if (head < queue.length) {
    timer = setTimeout(flush, Math.max(0, queue[head]!.due - performance.now()));
  }
}

function later(bytes: Buffer, send: (b: Buffer) => void): void {
  queue.push({ due: performance.now() + delayMs, bytes, send });
  timer ??= setTimeout(flush, delayMs);
}

function sized(sock: Socket): Socket {
  sock.setRecvBufferSize(BUFFER);
  sock.setSendBufferSize(BUFFER);
  return sock;
}

/** Relay datagrams arriving on `listenHost:listenPort` to the upstream, and its answers back. */
function relay(listenHost: string, listenPort: number, upstreamHost: string, upstreamPort: number): Promise<void> {
  const listener = createSocket("udp4");
  const upstreams = new Map<string, Socket>();
  listener.on("message", (msg, peer) => {
    const key = `${peer.address}:${peer.port}`;
    let up = upstreams.get(key);
    if (!up) {
      const sock = createSocket("udp4");
      up = sock;
      upstreams.set(key, sock);
      sock.on("message", (reply) => later(reply, (b) => listener.send(b, peer.port, peer.address)));
      sock.bind(0, () => sized(sock));
    }
    const target = up;
    later(msg, (b) => target.send(b, upstreamPort, upstreamHost));
  });
  return new Promise((resolve) => listener.bind(listenPort, listenHost, () => {
    sized(listener);
    resolve();
  }));
}

void Promise.all(mappings.map((m) => {
  const [, listenHost, listenPort, host, port] = /^(.+):(\d+)=(.+):(\d+)$/.exec(m) ?? [];
  if (!listenHost) {
    throw new Error(`bad mapping ${m}: want <listen host>:<port>=<host>:<port>`);
  }
  return relay(listenHost, Number(listenPort), host!, Number(port));
})).then(() => console.log("relay ready"));
process.on("SIGTERM", () => process.exit(0));
