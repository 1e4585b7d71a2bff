// A small SVG chart of a run, made by hand (no chart library): grouped bars of time to
// first token and of throughput per concurrency level, one colour per path.
import { PATHS, PATH_LABELS, type BenchResults } from './results.ts';

export interface Series {
  name: string;
  color: string;
  // One value per category; null where that path did not run that level.
  values: (number | null)[];
}

export interface Panel {
  title: string;
  categories: string[];
  series: Series[];
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
const PANEL_W = 760;
const PANEL_H = 300;
const MARGIN = { top: 36, right: 16, bottom: 40, left: 56 };

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

// The smallest 1, 2 or 5 times a power of ten that is >= value (an axis maximum).
export function niceCeil(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// Bar labels: whole numbers from 100 up, one decimal below.
const label = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, ''));

// One panel as an SVG group of PANEL_W x PANEL_H, placed at (0, y).
export function renderPanel(panel: Panel, y: number): string {
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const finite = panel.series.flatMap((s) =>
    s.values.filter((v): v is number => v !== null && Number.isFinite(v)),
  );
  const max = niceCeil(Math.max(0, ...finite));
  const scale = (v: number) => (v / max) * plotH;
  const groupW = plotW / Math.max(1, panel.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, panel.series.length);

  const parts: string[] = [`<g transform="translate(0,${y})">`];
  parts.push(
    `<text x="${MARGIN.left}" y="20" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
  );
  for (let i = 0; i <= 4; i += 1) {
    const value = (max * i) / 4;
    const ty = MARGIN.top + plotH - scale(value);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${ty + 4}" font-size="11" text-anchor="end">${num(value)}</text>`,
    );
  }
  panel.categories.forEach((category, ci) => {
    const gx = MARGIN.left + ci * groupW + groupW * 0.1;
    parts.push(
      `<text x="${gx + groupW * 0.4}" y="${MARGIN.top + plotH + 18}" font-size="12" text-anchor="middle">${escapeXml(category)}</text>`,
    );
    panel.series.forEach((series, si) => {
      const value = series.values[ci];
      if (value === null || value === undefined || !Number.isFinite(value)) return;
      const h = scale(value);
      parts.push(
        `<rect class="bar" x="${(gx + si * barW).toFixed(1)}" y="${(MARGIN.top + plotH - h).toFixed(1)}" ` +
          `width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${series.color}">` +
          `<title>${escapeXml(`${series.name}, ${category}: ${num(value)}`)}</title></rect>`,
        `<text x="${(gx + si * barW + (barW - 2) / 2).toFixed(1)}" y="${(MARGIN.top + plotH - h - 3).toFixed(1)}" ` +
          `font-size="10" text-anchor="middle">${escapeXml(label(value))}</text>`,
      );
    });
  });
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    '</g>',
  );
  return parts.join('\n');
}

export function renderChart(title: string, panels: readonly Panel[]): string {
  const series = panels[0]?.series ?? [];
  const legendH = 24;
  const height = 30 + legendH + panels.length * PANEL_H;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL_W}" height="${height}" viewBox="0 0 ${PANEL_W} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  let x = MARGIN.left;
  for (const s of series) {
    parts.push(
      `<rect x="${x}" y="34" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${x + 16}" y="44" font-size="12">${escapeXml(s.name)}</text>`,
    );
    x += 24 + s.name.length * 7;
  }
  panels.forEach((panel, i) => parts.push(renderPanel(panel, 30 + legendH + i * PANEL_H)));
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// TTFT p50 and requests/s of the streaming levels, grouped by concurrency, one bar per path.
export function chartFor(results: BenchResults): string {
  // The short answers' levels; the long-stream level would share a concurrency with them.
  const streaming = results.levels.filter(
    (l) => l.stream && l.tokens === results.settings.maxTokens,
  );
  const levels = [...new Set(streaming.map((l) => l.concurrency))].sort((a, b) => a - b);
  const paths = PATHS.filter((p) => streaming.some((l) => l.path === p));
  const panel = (title: string, pick: (l: (typeof streaming)[number]) => number | null): Panel => ({
    title,
    categories: levels.map((c) => `${c} concurrent`),
    series: paths.map((path, i) => ({
      name: PATH_LABELS[path],
      color: COLORS[i % COLORS.length] ?? '#888',
      values: levels.map((c) => {
        const level = streaming.find((l) => l.path === path && l.concurrency === c);
        return level ? pick(level) : null;
      }),
    })),
  });
  return renderChart(`fleetgate benchmark, ${results.startedAt}`, [
    panel('Time to first token, p50 (ms)', (l) => l.load.ttftMs?.p50 ?? null),
    panel('Throughput (requests/s)', (l) => l.load.rps),
  ]);
}
