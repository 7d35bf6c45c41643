/** Where the local forwarder (or a remote router) listens. */
export type RouterAddress =
  | { readonly scheme: "unix"; readonly path: string }
  | { readonly scheme: "tcp" | "udp"; readonly host: string; readonly port: number };

const DEFAULT_NDN_PORT = 6363;

/**
 * Parse `unix:///path`, `tcp://host:port`, `udp://host:port`; as in the original client a bare
 * `/path` is a Unix socket and a bare `host:port` is UDP.
 */
export function parseRouterAddress(text: string): RouterAddress {
  const input = text.trim();
  if (input.startsWith("/")) {
    return { scheme: "unix", path: input };
  }
  const m = /^([a-z]+):\/\/(.*)$/i.exec(input);
  const scheme = (m?.[1] ?? "udp").toLowerCase();
  const rest = m ? m[2]! : input;
  if (scheme === "unix") {
    if (!rest.startsWith("/")) {
      throw new Error("a unix:// router address needs an absolute path (unix:///run/nfd/nfd.sock)");
    }
    return { scheme, path: rest };
  }
  if (scheme !== "tcp" && scheme !== "udp") {
    throw new Error("a router address is unix:///path, tcp://host:port or udp://host:port");
  }
  const hp = /^(?:\[([0-9a-f:.]+)\]|([^:/[\]]+))(?::(\d{1,5}))?\/?$/i.exec(rest);
  if (!hp) {
    throw new Error(`expected a router address ${scheme}://host:port`);
  }
  const port = hp[3] === undefined ? DEFAULT_NDN_PORT : Number.parseInt(hp[3], 10);
  if (port < 1 || port > 65535) {
    throw new Error("router port out of range");
  }
  return { scheme, host: hp[1] ?? hp[2]!, port };
}

export function formatRouterAddress(a: RouterAddress): string {
  return a.scheme === "unix" ? `unix://${a.path}` : `${a.scheme}://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
