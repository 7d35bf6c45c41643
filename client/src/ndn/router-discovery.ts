import { fchQuery } from "@ndn/autoconfig";
import { parseRouterAddress, type RouterAddress } from "@ndnreg/shared/ndn";

/** The public NDN-FCH service, which names the testbed routers nearest the caller. */
export const DEFAULT_FCH_URL = "https://fch.ndn.today/";

/**
 * Routers of the global NDN testbed from NDN-FCH, as the original client found its router.
 * FCH lists UDP routers; every testbed router also takes TCP on the same host and port, which
 * carries 8000-byte segments without NDNLP fragmentation and uses the wire hot path, so TCP it is.
 */
export async function discoverRouters(fchUrl: string, timeoutMs = 5000): Promise<RouterAddress[]> {
  // fchQuery turns every failure (unreachable, HTTP error, timeout) into an empty list.
  const { routers } = await fchQuery({ server: fchUrl, transport: "udp", count: 3, signal: AbortSignal.timeout(timeoutMs) });
  const found: RouterAddress[] = [];
  for (const r of routers) {
    try {
      found.push(parseRouterAddress(`tcp://${r.connect}`));
    } catch {
      // an entry we cannot parse: try the others
    }
  }
  if (found.length === 0) {
    throw new Error(`no --router given, and NDN-FCH (${fchUrl}) named no router within ${timeoutMs} ms `
      + "(unreachable, an error, or an empty answer). Name your forwarder with --router, "
      + "e.g. --router unix:///run/nfd/nfd.sock for a local NFD or ndnd");
  }
  return found;
}
