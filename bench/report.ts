// The results as text: the table printed on the terminal, and the same as
// markdown for README.md.
import { findPoint, type BenchResults, type PointResult, type Target } from './results.js';
import { ratio } from './stats.js';

type Table = { headers: string[]; rows: string[][]; align: Array<'l' | 'r'> };

export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value < 1 ? value.toFixed(3) : value < 10 ? value.toFixed(2) : value.toFixed(1);
}
const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toString() : 'n/a');
const times = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');
const percent = (value: number) => (Number.isFinite(value) ? `${Math.round(value * 100)}%` : 'n/a');
const signed = (value: number) => (Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${(value * 100).toFixed(0)}%` : 'n/a');
const mb = (bytes: number) => (Number.isFinite(bytes) && bytes > 0 ? `${(bytes / 1e6).toFixed(1)} MB` : 'n/a');

function errorsCell(point: PointResult): string {
  const n = point.failures.length;
  const failed = n ? ` (+${n} failed run${n === 1 ? '' : 's'})` : '';
  return `${point.summary.errors}${failed}`;
}

function vsBaseline(point: PointResult, results: BenchResults): string {
  if (point.kind === 'baseline') return '1x';
  const base = findPoint(results.trivial, 'baseline', point.clients)?.summary;
  if (!base) return 'n/a';
  return `${times(ratio(point.summary.throughput, base.throughput))} calls/s, ${times(ratio(point.summary.p50, base.p50))} p50`;
}

/** Every trivial-call point: both servers, then the variants' servers. */
function callsTable(results: BenchResults): Table {
  const rows: string[][] = [];
  const points = [...results.trivial, ...results.variants.flatMap((v) => v.sides.flatMap((s) => s.points))];
  const clients = [...new Set(points.map((p) => p.clients))].sort((a, b) => a - b);
  for (const c of clients) {
    for (const p of points.filter((q) => q.clients === c)) {
      rows.push([
        `trivial call, ${c} client${c === 1 ? '' : 's'}`,
        p.server,
        int(p.summary.throughput),
        ms(p.summary.p50),
        ms(p.summary.p90),
        ms(p.summary.p99),
        errorsCell(p),
        vsBaseline(p, results),
        percent(p.summary.loadgenCpuShare),
        percent(p.summary.otherCpuShare),
      ]);
    }
  }
  return {
    headers: ['scenario', 'server', 'calls/s', 'p50 ms', 'p90 ms', 'p99 ms', 'errors', 'vs baseline', 'loadgen CPU', 'other CPU'],
    rows,
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r'],
  };
}

function burstTable(results: BenchResults): Table {
  const base = results.burst.find((b) => b.server === 'baseline');
  return {
    headers: ['1000-client burst', 'all done in s', 'errors', 'p50 ms', 'p99 ms', 'max ms', 'vs baseline', 'server+launcher RSS', 'per-call processes', 'other CPU'],
    rows: results.burst.map((b) => [
      b.server,
      b.summary.elapsedS.toFixed(3),
      errorsCell(b),
      ms(b.summary.p50),
      ms(b.summary.p99),
      ms(b.summary.max),
      b.kind === 'baseline' ? '1x' : times(ratio(b.summary.elapsedS, base?.summary.elapsedS ?? NaN)),
      b.kind === 'baseline' ? `${mb(b.rssPeak.serverBytes)} (server)` : mb(b.rssPeak.controlBytes),
      `${b.rssPeak.perCallProcesses} at most, ${mb(b.rssPeak.perCallBytes)}`,
      percent(b.summary.otherCpuShare),
    ]),
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
  };
}

function variantsTable(results: BenchResults): Table {
  const rows: string[][] = [];
  for (const v of results.variants) {
    const [a, b] = v.sides;
    const title = `${v.name}: ${a?.label ?? '?'} -> ${b?.label ?? '?'}${v.available && v.note ? ` (${v.note})` : ''}`;
    if (!v.available || !a || !b) {
      rows.push([title, '', 'not available', '', v.note ?? '']);
      continue;
    }
    for (const pa of a.points) {
      const pb = b.points.find((p) => p.clients === pa.clients);
      if (!pb) continue;
      rows.push([
        title,
        String(pa.clients),
        `${int(pa.summary.throughput)} calls/s, p50 ${ms(pa.summary.p50)} ms`,
        `${int(pb.summary.throughput)} calls/s, p50 ${ms(pb.summary.p50)} ms`,
        `${signed(ratio(pb.summary.throughput, pa.summary.throughput) - 1)} calls/s, ${signed(ratio(pb.summary.p50, pa.summary.p50) - 1)} p50`,
      ]);
    }
  }
  return { headers: ['variant', 'clients', 'first', 'second', 'second vs first'], rows, align: ['l', 'r', 'l', 'l', 'l'] };
}

function targetLine(t: Target): string {
  const verdict = t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'MISS';
  return `${verdict}  ${t.name}: ${t.measured} (target ${t.goal})`;
}

function loadgenLines(results: BenchResults): string[] {
  const l = results.loadgen;
  if (!l) return ['load generator check: not run'];
  return [
    `load generator: ${l.verdict}`,
    `  one generator, ${l.clients} clients: ${int(l.single.throughput)} calls/s; two generators, ${l.clients / 2} clients each: ${int(l.split.throughput)} calls/s (${signed(l.gain)});` +
      ` its CPU: ${percent(l.maxCpuShare)} of one core at most (${l.maxCpuShareAt}), ${int(l.single.loadgenCpuPerCallUs)} us per call`,
  ];
}

function settingsLine(r: BenchResults): string {
  const s = r.settings;
  return (
    `medians of ${s.runs} runs (variants: ${s.variantRuns}), about ${s.callsPerPoint} calls per run (${Math.ceil(s.callsPerPoint / 2)} at 1 client); ` +
    `output directories on ${s.outputs === 'disk' ? 'the disk' : 'a tmpfs'}; burst: ${s.burst.clients} clients, ` +
    `1 call each, random sleeps up to ${s.burst.sleepMaxMs} ms; loadgen CPU: the generator's CPU time over wall time, other CPU: ` +
    `that of processes outside the bench during the runs (100% = one core)`
  );
}

function textTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (t.align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

function markdownTable(t: Table): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `|${t.align.map((a) => (a === 'r' ? '---:' : ':---')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function renderText(r: BenchResults): string {
  return [
    `machine: ${r.machine.line}`,
    settingsLine(r),
    '',
    textTable(callsTable(r)),
    '',
    textTable(burstTable(r)),
    '',
    textTable(variantsTable(r)),
    '',
    ...loadgenLines(r),
    '',
    'targets (issue 5):',
    ...r.targets.map((t) => `  ${targetLine(t)}`),
    ...(r.problems.length ? ['', 'problems:', ...r.problems.map((p) => `  ${p}`)] : []),
  ].join('\n');
}

export function renderMarkdown(r: BenchResults): string {
  return [
    `Machine: ${r.machine.line}; ${r.date.slice(0, 10)}; ${settingsLine(r)}.`,
    '',
    markdownTable(callsTable(r)),
    '',
    markdownTable(burstTable(r)),
    '',
    markdownTable(variantsTable(r)),
    '',
    ...loadgenLines(r).map((l) => l.trim()).map((l) => `${l}  `),
    '',
    'Targets (issue 5):',
    '',
    ...r.targets.map((t) => `- ${targetLine(t).replace(/^(PASS|MISS|N\/A) +/, '**$1** ')}`),
    ...(r.problems.length ? ['', 'Problems:', '', ...r.problems.map((p) => `- ${p}`)] : []),
    '',
  ].join('\n');
}
