// Small inline SVG charts (no library): a sparkline and a bar chart. Each is
// an image with a text alternative that says what it shows in numbers.
const SVG = 'http://www.w3.org/2000/svg';

function svg(className: string, label: string, width: number, height: number): SVGSVGElement {
  const element = document.createElementNS(SVG, 'svg');
  element.setAttribute('class', className);
  element.setAttribute('viewBox', `0 0 ${width} ${height}`);
  element.setAttribute('preserveAspectRatio', 'none');
  element.setAttribute('role', 'img');
  element.setAttribute('aria-label', label);
  return element;
}

/** A line over the values (nulls: no sample), scaled to the largest (or to max). */
export function sparkline(values: Array<number | null>, label: string, max?: number): SVGSVGElement {
  const width = 120;
  const height = 30;
  const chart = svg('spark', label, width, height);
  const top = max ?? Math.max(1, ...values.map((v) => v ?? 0));
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.flatMap((v, i) => (v === null ? [] : [`${(i * step).toFixed(1)},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`]));
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  chart.append(line);
  return chart;
}

/** Bars of counts, one per bucket. */
export function bars(counts: number[], label: string): SVGSVGElement {
  const width = 160;
  const height = 40;
  const chart = svg('bars', label, width, height);
  const top = Math.max(1, ...counts);
  const slot = width / counts.length;
  counts.forEach((count, i) => {
    const h = count === 0 ? 0 : Math.max(1, (count / top) * height);
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('x', (i * slot + 1).toFixed(1));
    bar.setAttribute('width', Math.max(1, slot - 2).toFixed(1));
    bar.setAttribute('y', (height - h).toFixed(1));
    bar.setAttribute('height', h.toFixed(1));
    chart.append(bar);
  });
  return chart;
}
