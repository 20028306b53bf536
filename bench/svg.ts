// Plain SVG charts for docs/: line charts (a curve per series, points joined in order) and grouped bar charts,
// with axes on round ticks and a legend.
// No dependencies and no build step; the numbers come straight from a benchmark run.

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Array<{ name: string; points: Array<[number, number]> }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** About five round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function lineChart(spec: ChartSpec, width = 720, height = 420): string {
  const m = { left: 70, right: 200, top: 40, bottom: 50 };
  const pts = spec.series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const pad = (lo: number, hi: number) => (hi > lo ? [lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05] : [lo - 1, hi + 1]);
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(0, Math.max(...ys));
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * w;
  const sy = (y: number) => m.top + h - ((y - y0) / (y1 - y0)) * h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  for (const t of ticks(x0, x1)) out.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.top}" y2="${m.top + h}" stroke="#eee"/><text x="${sx(t)}" y="${m.top + h + 16}" text-anchor="middle">${t}</text>`);
  for (const t of ticks(y0, y1)) out.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${m.left - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${m.left + w / 2}" y="${height - 12}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const path = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(s.name)}: ${p[0].toFixed(3)}, ${p[1].toFixed(0)}</title></circle>`);
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${m.left + w + 15}" x2="${m.left + w + 35}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/><text x="${m.left + w + 40}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface BarSpec {
  title: string;
  yLabel: string;
  /** One group per category (e.g. "prepared, 8 clients"), one bar per series in each group. */
  groups: string[];
  series: Array<{ name: string; values: number[] }>;
}

export function barChart(spec: BarSpec, width = 760, height = 420): string {
  const m = { left: 70, right: 160, top: 40, bottom: 60 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const max = Math.max(...spec.series.flatMap((s) => s.values));
  // The axis ends on the first round tick at or above the largest bar.
  const t = ticks(0, max);
  const step = t.length > 1 ? t[1] - t[0] : max || 1;
  const top = t.at(-1)! >= max ? t.at(-1)! : t.at(-1)! + step;
  const sy = (y: number) => m.top + h - (y / top) * h;
  const groupW = w / spec.groups.length;
  const barW = (groupW * 0.8) / spec.series.length;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  for (const t of ticks(0, top)) out.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${m.left - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  out.push(`<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);
  spec.groups.forEach((g, gi) => {
    const gx = m.left + gi * groupW + groupW * 0.1;
    spec.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = gx + si * barW;
      out.push(`<rect x="${x.toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(m.top + h - sy(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)}, ${esc(g)}: ${v.toFixed(0)}</title></rect>`);
    });
    // "prepared, 8 clients" on two lines, so neighbouring labels do not run into each other.
    const lines = g.split(', ');
    out.push(`<text x="${(m.left + gi * groupW + groupW / 2).toFixed(1)}" y="${m.top + h + 18}" text-anchor="middle">${lines.map((l, i) => `<tspan x="${(m.left + gi * groupW + groupW / 2).toFixed(1)}" dy="${i ? 14 : 0}">${esc(l)}</tspan>`).join('')}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${m.top + h}" y2="${m.top + h}" stroke="#444"/>`);
  spec.series.forEach((s, i) => {
    const ly = m.top + 10 + i * 20;
    out.push(`<rect x="${m.left + w + 15}" y="${ly - 6}" width="14" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${m.left + w + 35}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
