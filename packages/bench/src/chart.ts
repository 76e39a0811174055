/** One line of a chart. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#d62728', '#2ca02c', '#9467bd', '#8c564b'];

/** A small, dependency-free SVG line chart (linear axes from zero), readable on GitHub in light and dark themes. */
export function lineChart(input: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  yLine?: { y: number; label: string };
  /** A logarithmic y axis (decades from 1), for latencies that span milliseconds to seconds. */
  isLogY?: boolean;
}): string {
  const width = input.width ?? 720;
  const height = input.height ?? 400;
  const margin = { left: 64, right: 170, top: 40, bottom: 52 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const points = input.series.flatMap((series) => series.points);
  const xMax = niceCeil(Math.max(1, ...points.map((point) => point.x)));
  const yTop = Math.max(1, ...points.map((point) => point.y), input.yLine?.y ?? 0);
  const decades = Math.max(1, Math.ceil(Math.log10(yTop)));
  const yMax = input.isLogY ? 10 ** decades : niceCeil(yTop);
  const sx = (x: number) => margin.left + (x / xMax) * plotW;
  const sy = (y: number) => (input.isLogY ? margin.top + plotH - (Math.log10(Math.max(1, y)) / decades) * plotH : margin.top + plotH - (y / yMax) * plotH);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2 - margin.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(input.title)}</text>`);
  const ySteps = input.isLogY ? decades : 5;
  for (let index = 0; index <= 5; index++) {
    const xv = (xMax * index) / 5;
    out.push(`<line x1="${sx(xv)}" y1="${margin.top}" x2="${sx(xv)}" y2="${margin.top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${sx(xv)}" y="${margin.top + plotH + 18}" text-anchor="middle">${format(xv)}</text>`);
  }
  for (let index = 0; index <= ySteps; index++) {
    const yv = input.isLogY ? 10 ** index : (yMax * index) / 5;
    out.push(`<line x1="${margin.left}" y1="${sy(yv)}" x2="${margin.left + plotW}" y2="${sy(yv)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${margin.left - 8}" y="${sy(yv) + 4}" text-anchor="end">${format(yv)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escape(input.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(input.yLabel)}</text>`);
  if (input.yLine) {
    out.push(
      `<line x1="${margin.left}" y1="${sy(input.yLine.y)}" x2="${margin.left + plotW}" y2="${sy(input.yLine.y)}" stroke="#888" stroke-dasharray="2 4"/>`,
    );
    out.push(`<text x="${margin.left + 4}" y="${sy(input.yLine.y) - 4}" fill="#666">${escape(input.yLine.label)}</text>`);
  }
  input.series.forEach((series, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    const sorted = [...series.points].sort((a, b) => a.x - b.x);
    const path = sorted.map((point, at) => `${at === 0 ? 'M' : 'L'}${sx(point.x).toFixed(1)},${sy(point.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const point of sorted) out.push(`<circle cx="${sx(point.x).toFixed(1)}" cy="${sy(point.y).toFixed(1)}" r="3" fill="${colour}"/>`);
    const legendY = margin.top + 10 + index * 20;
    out.push(
      `<line x1="${width - margin.right + 14}" y1="${legendY}" x2="${width - margin.right + 38}" y2="${legendY}" stroke="${colour}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${width - margin.right + 44}" y="${legendY + 4}">${escape(series.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function format(value: number): string {
  return value >= 1000 ? `${Number((value / 1000).toPrecision(3))}k` : String(Number(value.toPrecision(3)));
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
