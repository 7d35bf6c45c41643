import dgram from "node:dgram";
import { once } from "node:events";
import { readFileSync } from "node:fs";

export interface UdpSocketInfo {
  readonly sock: dgram.Socket;
  /** Buffer sizes the kernel granted (Linux counts its bookkeeping too: twice what was asked). */
  readonly recvBufferBytes: number;
  readonly sendBufferBytes: number;
  /** The sysctl that held a buffer below what was asked, if any. */
  readonly cappedBy?: { readonly sysctl: string; readonly value: number };
}

/**
 * A UDP socket connected to the router, with buffers asked for `bufferBytes`: a window of Data
 * comes back in bursts of NDNLPv2 fragments that wait in the kernel until the process reads
 * them, and what does not fit is dropped (the system's default buffer holds a small part of a
 * window). The kernel caps the request at net.core.rmem_max / wmem_max.
 */
export async function openUdpSocket(host: string, port: number, bufferBytes: number): Promise<UdpSocketInfo> {
  const sock = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", recvBufferSize: bufferBytes, sendBufferSize: bufferBytes });
  try {
    sock.bind();
    await once(sock, "listening");
    sock.connect(port, host);
    await once(sock, "connect");
  } catch (err: unknown) {
    sock.close();
    throw err;
  }
  const recvBufferBytes = sock.getRecvBufferSize();
  const sendBufferBytes = sock.getSendBufferSize();
  // Linux grants twice what was asked (its bookkeeping), or twice the cap.
  const cappedBy = recvBufferBytes < 2 * bufferBytes ? sysctl("net.core.rmem_max")
    : sendBufferBytes < 2 * bufferBytes ? sysctl("net.core.wmem_max") : undefined;
  return { sock, recvBufferBytes, sendBufferBytes, cappedBy };
}

function sysctl(name: string): { sysctl: string; value: number } {
  let value = Number.NaN;
  try {
    value = Number.parseInt(readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8"), 10);
  } catch {
    // not Linux, or no /proc: the name alone says what to raise
  }
  return { sysctl: name, value };
}
