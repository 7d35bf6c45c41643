/**
 * Link probes for the WAN bench, one process per end:
 *   serve <port>                      TCP (bulk and echo) and UDP echo server, prints "probe ready"
 *   down <host> <port> <bytes>        the server sends <bytes>; prints {bytes, seconds}
 *   up <host> <port> <bytes>          sends <bytes>; prints the server's {bytes, seconds}
 *   rtt <host> <port> <n>             n TCP round trips of 64 bytes; prints {samplesMs}
 *   udp-rtt <host> <port> <n>         n UDP round trips of 64 bytes; prints {samplesMs}
 * A transfer's seconds run from its first byte to its last at the receiver, so the path's latency
 * and the connection's set-up are not counted against the rate.
 */
import { createSocket } from "node:dgram";
import { connect, createServer, type Socket } from "node:net";
import { createInterface } from "node:readline";

const [mode, ...args] = process.argv.slice(2);
const CHUNK = Buffer.alloc(1 << 16);

/**
 * Count bytes arriving on `s` until `expected` have come (toxiproxy closes both directions on a
 * half-close, so the sender cannot signal its end with one).
 */
function receive(s: Socket, expected: number, already = 0): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    let bytes = already;
    let first = already > 0 ? performance.now() : 0;
    const done = () => resolve({ bytes, seconds: (performance.now() - first) / 1000 });
    s.on("data", (c: Buffer) => {
      first ||= performance.now();
      bytes += c.length;
      if (bytes >= expected) {
        done();
      }
    });
    s.once("end", () => (bytes < expected ? reject(new Error(`connection ended after ${bytes} of ${expected} bytes`)) : undefined));
    s.once("error", reject);
    if (bytes >= expected) {
      done();
    }
  });
}

function send(s: Socket, bytes: number): void {
  let left = bytes;
  const more = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        s.once("drain", more);
        return;
      }
    }
  };
  more();
}

function serve(port: number): void {
  createServer((s) => {
    s.once("data", (first: Buffer) => {
      const nl = first.indexOf(10);
      const op = JSON.parse(first.subarray(0, nl).toString()) as { op: string; bytes?: number };
      const rest = first.subarray(nl + 1);
      if (op.op === "down") {
        send(s, op.bytes!);
      } else if (op.op === "up") {
        void receive(s, op.bytes!, rest.length).then((r) => s.end(`${JSON.stringify(r)}\n`), () => s.destroy());
      } else {
        s.write(rest);
        s.pipe(s);
      }
    });
    s.on("error", () => s.destroy());
  }).listen(port, "0.0.0.0");
  const udp = createSocket("udp4");
  udp.on("message", (m, peer) => udp.send(m, peer.port, peer.address));
  udp.bind(port, "0.0.0.0", () => console.log("probe ready"));
}

function open(host: string, port: number, op: object): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => {
      s.setNoDelay(true);
      s.write(`${JSON.stringify(op)}\n`);
      resolve(s);
    });
    s.once("error", reject);
  });
}

async function tcpRtt(host: string, port: number, n: number): Promise<number[]> {
  const s = await open(host, port, { op: "echo" });
  const lines = createInterface({ input: s })[Symbol.asyncIterator]();
  const samples: number[] = [];
  for (let i = 0; i < n; ++i) {
    const t0 = performance.now();
    s.write(`${"x".repeat(63)}\n`);
    await lines.next();
    samples.push(performance.now() - t0);
  }
  s.destroy();
  return samples;
}

/** Over a connected socket, as the client's uplink uses: answers from another address are dropped. */
async function udpRtt(host: string, port: number, n: number): Promise<number[]> {
  const sock = createSocket("udp4");
  await new Promise<void>((resolve) => sock.connect(port, host, resolve));
  const samples: number[] = [];
  for (let i = 0; i < n; ++i) {
    const t0 = performance.now();
    const echoed = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`udp echo ${i}: no answer in 3 s`)), 3000);
      sock.once("message", () => { clearTimeout(t); resolve(); });
    });
    sock.send(Buffer.alloc(64, i & 0xff));
    await echoed;
    samples.push(performance.now() - t0);
  }
  sock.close();
  return samples;
}

async function main(): Promise<void> {
  const [host, port, n] = [args[0]!, Number(args[1]), Number(args[2])];
  switch (mode) {
    case "serve":
      serve(Number(args[0]));
      return;
    case "down": {
      const s = await open(host, port, { op: "down", bytes: n });
      console.log(JSON.stringify(await receive(s, n)));
      s.destroy();
      return;
    }
    case "up": {
      const s = await open(host, port, { op: "up", bytes: n });
      const reply = createInterface({ input: s })[Symbol.asyncIterator]().next();
      send(s, n);
      console.log((await reply).value);
      s.destroy();
      return;
    }
    case "rtt":
      console.log(JSON.stringify({ samplesMs: await tcpRtt(host, port, n) }));
      return;
    case "udp-rtt":
      console.log(JSON.stringify({ samplesMs: await udpRtt(host, port, n) }));
      return;
    default:
      throw new Error(`unknown probe mode ${mode}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
