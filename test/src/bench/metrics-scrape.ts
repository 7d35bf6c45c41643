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

/** Sum of a metric's samples whose labels include `labels` (0 when it has none). */
export async function metricSum(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const [series, value] of await scrapeMetrics(url)) {
    const brace = series.indexOf("{");
    const seriesName = brace < 0 ? series : series.slice(0, brace);
    const seriesLabels = brace < 0 ? "" : series.slice(brace);
    if (seriesName === name && Object.entries(labels).every(([k, v]) => seriesLabels.includes(`${k}="${v}"`))) {
      sum += value;
    }
  }
  return sum;
}
