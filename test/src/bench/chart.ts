/** A bar chart as a standalone SVG file (the bench's table as a picture), with no dependencies. */

interface ChartSeries {
  readonly name: string;
  readonly color: string;
  /** One value per category; null: no bar (the case does not have it). */
  readonly values: ReadonlyArray<number | null>;
}

export interface ChartPanel {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  /** Series drawn end to end in one bar (parts of a total) rather than side by side. */
  readonly stacked?: boolean;
  readonly decimals?: number;
}

const ROW = 30;
const LABEL_WIDTH = 320;
const PANEL_WIDTH = 300;
const GAP = 30;
const TOP = 64;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One row per category (its label on the left), one column per panel, bars scaled to each panel's largest. */
export function barChartSvg(title: string, categories: readonly string[], panels: readonly ChartPanel[]): string {
  const width = LABEL_WIDTH + panels.length * (PANEL_WIDTH + GAP);
  const height = TOP + categories.length * ROW + 16;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  categories.forEach((c, i) => {
    const y = TOP + i * ROW;
    if (i % 2 === 1) {
      out.push(`<rect x="0" y="${y}" width="${width}" height="${ROW}" fill="#f4f4f4"/>`);
    }
    out.push(`<text x="8" y="${y + ROW / 2 + 4}">${escapeXml(c)}</text>`);
  });
  panels.forEach((p, n) => {
    const left = LABEL_WIDTH + n * (PANEL_WIDTH + GAP);
    const barSpace = PANEL_WIDTH - 50; // room for the value after the longest bar
    const totals = categories.map((_, i) => p.series.map((s) => s.values[i] ?? 0));
    const max = Math.max(1e-9, ...totals.map((v) => (p.stacked ? v.reduce((a, b) => a + b, 0) : Math.max(...v))));
    out.push(`<text x="${left}" y="36" font-weight="bold">${escapeXml(p.title)}</text>`);
    let legendX = left;
    for (const s of p.series) {
      out.push(`<rect x="${legendX}" y="44" width="10" height="10" fill="${s.color}"/>`,
        `<text x="${legendX + 14}" y="53">${escapeXml(s.name)}</text>`);
      legendX += 24 + s.name.length * 7;
    }
    out.push(`<line x1="${left}" y1="${TOP}" x2="${left}" y2="${TOP + categories.length * ROW}" stroke="#999"/>`);
    categories.forEach((_, i) => {
      const present = p.series.filter((s) => s.values[i] !== null && s.values[i] !== undefined && Number.isFinite(s.values[i]));
      if (present.length === 0) {
        return;
      }
      const y = TOP + i * ROW + 4;
      const h = (ROW - 8) / (p.stacked ? 1 : present.length);
      let x = left;
      present.forEach((s, k) => {
        const v = s.values[i]!;
        const w = (v / max) * barSpace;
        const by = p.stacked ? y : y + k * h;
        out.push(`<rect x="${x.toFixed(1)}" y="${by.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name}: ${v.toFixed(p.decimals ?? 1)}`)}</title></rect>`);
        if (p.stacked) {
          x += w;
        } else {
          out.push(`<text x="${(left + w + 4).toFixed(1)}" y="${(by + h / 2 + 4).toFixed(1)}" font-size="${present.length > 1 ? 9 : 11}">${v.toFixed(p.decimals ?? 1)}</text>`);
        }
      });
      if (p.stacked) {
        const total = present.reduce((a, s) => a + s.values[i]!, 0);
        out.push(`<text x="${(x + 4).toFixed(1)}" y="${(y + (ROW - 8) / 2 + 4).toFixed(1)}" font-size="11">${total.toFixed(p.decimals ?? 1)}</text>`);
      }
    });
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
