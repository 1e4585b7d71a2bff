// uPlot charts as Preact components: a time series chart (the overview) and a bar chart
// over named groups (usage). The plot is made once per shape and fed new data after;
// its width follows its container.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

const HEIGHT = 220;

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

interface ChartProps {
  id: string;
  title: string;
  x: number[];
  series: Series[];
  // Bars over groups: x is 0..n-1 and `labels` names each.
  labels?: string[];
  unit?: string;
}

// Points that carry a value: the browser test checks the chart drew some.
const pointsWithData = (series: Series[]) =>
  series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== 0).length, 0);

function optionsFor(props: ChartProps, width: number): uPlot.Options {
  const bars = props.labels !== undefined;
  const labels = props.labels ?? [];
  return {
    width,
    height: HEIGHT,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: bars ? { x: { time: false, range: [-0.5, Math.max(labels.length, 1) - 0.5] } } : {},
    axes: [
      bars
        ? {
            splits: () => labels.map((_, i) => i),
            values: (_u, splits) => splits.map((i) => labels[i] ?? ''),
            gap: 4,
          }
        : {},
      { size: 60, label: props.unit },
    ],
    series: [
      bars ? { label: 'group', value: (_u, i) => labels[i] ?? '' } : {},
      ...props.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: bars ? 1 : 2,
        fill: bars ? `${s.color}cc` : `${s.color}22`,
        // Dots where values are few (a lone bucket between empty ones draws no line).
        points: {
          size: 5,
          show: (u: uPlot, i: number) =>
            !bars && (u.data[i] ?? []).filter((v) => v !== null && v !== undefined).length < 30,
        },
        spanGaps: false,
        ...(bars ? { paths: uPlot.paths.bars?.({ size: [0.7, 80] }) } : {}),
      })),
    ],
  };
}

export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = (): uPlot.AlignedData => [props.x, ...props.series.map((s) => s.values)];
  const shape = `${props.series.map((s) => s.label).join('|')}:${(props.labels ?? []).join('|')}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const u = new uPlot(optionsFor(props, el.clientWidth || 600), data(), el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Made again only when the series or the groups change; data goes in below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data());
  });

  return html`<figure class="chart" id=${props.id} data-points=${pointsWithData(props.series)}>
    <figcaption>${props.title}</figcaption>
    <div ref=${box}></div>
  </figure>`;
}
