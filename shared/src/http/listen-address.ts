/** Parse "host:port", "[v6]:port" or ":port" (host defaults to loopback). */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/i.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new Error("expected host:port ([::1]:port, or :port for loopback)");
  }
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}
