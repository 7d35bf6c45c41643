import type { Server } from "node:http";

/**
 * Answer CONNECT (a forward proxy's tunnel, which these endpoints are not) with 405. Without a
 * `connect` listener node closes the connection with no reply at all.
 */
export function refuseConnect(server: Server, allow: string): void {
  server.on("connect", (_req, socket) => {
    const body = `${JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "CONNECT is not served here: this is not a forward proxy" }] })}\n`;
    socket.end([
      "HTTP/1.1 405 Method Not Allowed", `Allow: ${allow}`, "Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`,
      "Connection: close", "", body,
    ].join("\r\n"));
  });
}
