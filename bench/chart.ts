// bench/results/latest.svg, drawn by hand: throughput against concurrency for
// both servers (left), latency percentiles against concurrency on a log scale
// (right).
import { findPoint, type BenchResults } from './results.js';

const W = 980;
const H = 460;
const TOP = 100;
const BOTTOM = 390;
const PANELS = [
  { left: 80, right: 455 },
  { left: 580, right: 955 },
];
const SERIES = [
  { server: 'baseline', name: 'baseline (classic, unsandboxed)', color: '#1f77b4' },
  { server: 'fnjail', name: 'fnjail (default sandbox)', color: '#e6550d' },
];
const PERCENTILES = [
  { key: 'p50', dash: '' },
  { key: 'p90', dash: '6 4' },
  { key: 'p99', dash: '2 3' },
] as const;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n = (v: number) => (Math.round(v * 10) / 10).toString();

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}" ${attrs}>${esc(s)}</text>`;
}

/** A round upper bound for a linear axis, and its tick step. */
function niceAxis(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { top: Math.ceil(max / step) * step, step };
}

export function renderChart(r: BenchResults): string {
  const conc = r.settings.concurrency;
  const xAt = (panel: { left: number; right: number }, i: number) => panel.left + ((i + 0.5) * (panel.right - panel.left)) / conc.length;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(text(W / 2, 22, 'fnjail vs the unsandboxed classic server: trivial call (libbasic.so run)', 'text-anchor="middle" font-size="15" font-weight="bold"'));
  out.push(text(W / 2, 40, `${r.machine.line}; ${r.date.slice(0, 10)}; medians of ${r.settings.runs} runs`, 'text-anchor="middle" fill="#555"'));
  SERIES.forEach((s, i) => {
    const x = 250 + i * 260;
    out.push(`<line x1="${x}" y1="60" x2="${x + 24}" y2="60" stroke="${s.color}" stroke-width="3"/>`);
    out.push(text(x + 30, 64, s.name));
  });

  // Left: throughput, linear.
  const p0 = PANELS[0]!;
  const tputs = SERIES.flatMap((s) => conc.map((c) => findPoint(r.trivial, s.server, c)?.summary.throughput ?? NaN)).filter(Number.isFinite);
  const lin = niceAxis(Math.max(0, ...tputs));
  const yLin = (v: number) => BOTTOM - (v / lin.top) * (BOTTOM - TOP);
  out.push(text((p0.left + p0.right) / 2, TOP - 12, 'throughput (calls/s, higher is better)', 'text-anchor="middle" font-weight="bold"'));
  for (let v = 0; v <= lin.top + lin.step / 2; v += lin.step) {
    out.push(`<line x1="${p0.left}" y1="${n(yLin(v))}" x2="${p0.right}" y2="${n(yLin(v))}" stroke="#e5e5e5"/>`);
    out.push(text(p0.left - 6, yLin(v) + 4, String(Math.round(v)), 'text-anchor="end" fill="#333"'));
  }
  for (const s of SERIES) {
    const pts = conc
      .map((c, i) => ({ x: xAt(p0, i), v: findPoint(r.trivial, s.server, c)?.summary.throughput ?? NaN }))
      .filter((p) => Number.isFinite(p.v));
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5" points="${pts.map((p) => `${n(p.x)},${n(yLin(p.v))}`).join(' ')}"/>`);
    for (const p of pts) {
      out.push(`<circle cx="${n(p.x)}" cy="${n(yLin(p.v))}" r="4" fill="${s.color}"/>`);
      out.push(text(p.x, yLin(p.v) - 9, String(Math.round(p.v)), `text-anchor="middle" fill="${s.color}"`));
    }
  }

  // Right: latency percentiles, log scale.
  const p1 = PANELS[1]!;
  const lats = SERIES.flatMap((s) =>
    conc.flatMap((c) => {
      const sum = findPoint(r.trivial, s.server, c)?.summary;
      return sum ? PERCENTILES.map((p) => sum[p.key]) : [];
    }),
  ).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...lats, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...lats, 10)));
  const yLog = (v: number) => BOTTOM - ((Math.log10(v) - lo) / (hi - lo)) * (BOTTOM - TOP);
  out.push(text((p1.left + p1.right) / 2, TOP - 12, 'latency (ms, log scale, lower is better)', 'text-anchor="middle" font-weight="bold"'));
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > hi + 1e-9) continue;
      out.push(`<line x1="${p1.left}" y1="${n(yLog(v))}" x2="${p1.right}" y2="${n(yLog(v))}" stroke="${m === 1 ? '#d0d0d0' : '#eeeeee'}"/>`);
      out.push(text(p1.left - 6, yLog(v) + 4, String(Number(v.toPrecision(3))), 'text-anchor="end" fill="#333"'));
    }
  }
  for (const s of SERIES) {
    for (const pc of PERCENTILES) {
      const pts = conc
        .map((c, i) => ({ x: xAt(p1, i), v: findPoint(r.trivial, s.server, c)?.summary[pc.key] ?? NaN }))
        .filter((p) => Number.isFinite(p.v) && p.v > 0);
      const dash = pc.dash ? ` stroke-dasharray="${pc.dash}"` : '';
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${n(p.x)},${n(yLog(p.v))}`).join(' ')}"/>`);
      for (const p of pts) out.push(`<circle cx="${n(p.x)}" cy="${n(yLog(p.v))}" r="3" fill="${s.color}"/>`);
    }
  }
  PERCENTILES.forEach((pc, i) => {
    const x = p1.left + 20 + i * 110;
    out.push(`<line x1="${x}" y1="${BOTTOM + 48}" x2="${x + 30}" y2="${BOTTOM + 48}" stroke="#444" stroke-width="2"${pc.dash ? ` stroke-dasharray="${pc.dash}"` : ''}/>`);
    out.push(text(x + 36, BOTTOM + 52, pc.key));
  });

  // Axes and x labels for both panels.
  for (const p of PANELS) {
    out.push(`<line x1="${p.left}" y1="${TOP}" x2="${p.left}" y2="${BOTTOM}" stroke="#333"/>`);
    out.push(`<line x1="${p.left}" y1="${BOTTOM}" x2="${p.right}" y2="${BOTTOM}" stroke="#333"/>`);
    conc.forEach((c, i) => out.push(text(xAt(p, i), BOTTOM + 16, String(c), 'text-anchor="middle"')));
    out.push(text((p.left + p.right) / 2, BOTTOM + 32, 'concurrent clients', 'text-anchor="middle" fill="#555"'));
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
