/** Prometheus text format from `url` as "name{labels}" → value (no HELP/TYPE lines). */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  if (res.status !== 200 || !/^text\/plain/.test(res.headers.get("content-type") ?? "")) {
    throw new Error(`${url}: ${res.status} ${res.headers.get("content-type")}`);
  }
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
    if (m) {
      out.set(m[1]!, Number(m[2]));
    }
  }
  return out;
}
