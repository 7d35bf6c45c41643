import { Counter, type Registry } from "prom-client";

/**
 * A Prometheus counter that follows plain counters the hot path increments, read at scrape time:
 * one series per label value, or one series when `label` is undefined (then `series` holds one
 * reader, its key unused). Each scrape adds what a reader grew by since the last one.
 */
export function followCounters(registry: Registry, name: string, help: string, label: string | undefined, series: Record<string, () => number>): void {
  const seen = new Map<string, number>();
  new Counter({
    name, help, labelNames: label ? [label] : [], registers: [registry],
    collect() {
      for (const [value, read] of Object.entries(series)) {
        const now = read();
        const delta = now - (seen.get(value) ?? 0);
        seen.set(value, now);
        if (label) {
          this.labels({ [label]: value }).inc(delta);
        } else {
          this.inc(delta);
        }
      }
    },
  });
}
