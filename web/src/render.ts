// Draws the page from its state. Everything from the server goes in as text
// (textContent), never as markup: tenant names, function names and Reason
// lines come from tenants and their libraries.
import { bars, sparkline } from './charts.js';
import { bytes, clockTime, milliseconds, nodeTone, outcomeTone, percent, type Tone } from './format.js';
import { countOf, type PageState } from './page-state.js';
import type { CallView, Frame, Outcome } from './payload.js';

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function badge(text: string, tone: Tone): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = 'badge';
  span.dataset.tone = tone;
  span.textContent = text;
  return span;
}

function badgeCell(text: string, tone: Tone): HTMLTableCellElement {
  const td = document.createElement('td');
  td.append(badge(text, tone));
  return td;
}

/** Replaces a table's rows; each cell is labelled with its column's header (narrow screens show the label beside the value). */
function fillBody(tableId: string, rows: HTMLTableRowElement[]): void {
  const table = byId<HTMLTableElement>(tableId);
  const headers = [...table.tHead!.rows[0]!.cells].map((th) => th.textContent ?? '');
  for (const row of rows) [...row.cells].forEach((td, i) => (td.dataset.label = headers[i] ?? ''));
  table.tBodies[0]!.replaceChildren(...rows);
}

/** A call's target: a library called by path reads by its file name, its directory below it. */
function targetCell(target: string): HTMLTableCellElement {
  const td = cell('', 'target');
  const space = target.indexOf(' ');
  const slash = target.lastIndexOf('/', space === -1 ? undefined : space);
  if (!target.startsWith('/') || slash <= 0) {
    td.textContent = target;
    return td;
  }
  const name = document.createElement('span');
  name.textContent = target.slice(slash + 1);
  const dir = document.createElement('span');
  dir.className = 'dir';
  dir.textContent = target.slice(0, slash + 1);
  // One child: on a narrow screen the cell is a grid of its label and its value.
  const value = document.createElement('span');
  value.append(name, ' ', dir);
  td.append(value);
  return td;
}

function outcomeList(list: HTMLElement, counts: Partial<Record<Outcome, number>>): void {
  const items = Object.entries(counts)
    .filter(([, n]) => (n ?? 0) > 0)
    .sort(([, a], [, b]) => (b ?? 0) - (a ?? 0))
    .map(([outcome, n]) => {
      const li = document.createElement('li');
      li.append(badge(`${outcome} ${n}`, outcomeTone(outcome as Outcome)));
      return li;
    });
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'note';
    li.textContent = 'none';
    items.push(li);
  }
  list.replaceChildren(...items);
}

/** "3 nodes in the cluster: 2 up, 1 down". */
function clusterNote(list: Frame['nodes']['list']): string {
  const byState = new Map<string, number>();
  for (const node of list) byState.set(node.state, (byState.get(node.state) ?? 0) + 1);
  const states = [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
  return `${list.length} ${list.length === 1 ? 'node' : 'nodes'} in the cluster: ${states}.`;
}

function heartbeatText(frame: Frame, node: Frame['nodes']['list'][number]): string {
  if (node.name === frame.node && node.heartbeatAgeMs === 0) return 'this node';
  return node.heartbeatAgeMs === null ? 'none heard' : `${milliseconds(node.heartbeatAgeMs)} ago`;
}

function nodes(frame: Frame): void {
  const { cluster, list } = frame.nodes;
  byId('nodes-note').textContent = cluster ? clusterNote(list) : `No cluster: ${frame.node} serves alone.`;
  fillBody(
    'nodes-table',
    list.map((node) => {
      const row = document.createElement('tr');
      row.dataset.node = node.name;
      row.dataset.state = node.state;
      row.dataset.coordinator = String(node.coordinator);
      const cpuSpark = document.createElement('td');
      cpuSpark.append(sparkline(node.history.cpu, `CPU of ${node.name} over the last minute: now ${percent(node.cpu)}`, 1));
      const callSpark = document.createElement('td');
      const rates = node.history.callsPerSecond.filter((v): v is number => v !== null);
      const lastRate = node.history.callsPerSecond.at(-1);
      const last = lastRate === null || lastRate === undefined ? 'unknown' : String(lastRate);
      callSpark.append(sparkline(node.history.callsPerSecond, `Calls per second on ${node.name} over the last minute: last ${last}, peak ${Math.max(0, ...rates)}`));
      const count = (n: number | null) => (n === null ? 'unknown' : String(n));
      const name = cell(node.name);
      if (node.coordinator) {
        const role = document.createElement('span');
        role.className = 'role';
        role.textContent = 'coordinator';
        // One child: on a narrow screen the cell is a grid of its label and its value.
        const value = document.createElement('span');
        value.append(node.name, ' ', role);
        name.replaceChildren(value);
      }
      row.append(
        name,
        badgeCell(node.state, nodeTone(node.state)),
        cell(heartbeatText(frame, node)),
        cell(percent(node.cpu), 'number'),
        cell(node.memory ? `${bytes(node.memory.usedBytes)} of ${bytes(node.memory.totalBytes)}` : 'unknown', 'number'),
        cell(count(node.running), 'number'),
        cell(count(node.freeSlots), 'number'),
        cpuSpark,
        callSpark,
      );
      return row;
    }),
  );
}

function rates(state: PageState, frame: Frame): void {
  const last = state.seconds.at(-1);
  byId('rate-total').textContent = String(countOf(last));
  outcomeList(byId('rate-outcomes'), last?.byOutcome ?? {});
  const perSecond = state.seconds.map(countOf);
  byId('rate-sparkline').replaceChildren(sparkline(perSecond, `Calls per second over the last minute: last ${countOf(last)}, peak ${Math.max(0, ...perSecond)}`));
  outcomeList(byId('totals'), frame.calls.totals);
  const latency = frame.calls.latencyMs;
  byId('p50').textContent = latency ? milliseconds(latency.p50) : '–';
  byId('p90').textContent = latency ? milliseconds(latency.p90) : '–';
  byId('p99').textContent = latency ? milliseconds(latency.p99) : '–';
  const histogram = byId('latency-histogram');
  if (!latency) {
    histogram.replaceChildren();
    byId('latency-range').textContent = '';
    return;
  }
  const { boundsMs, counts } = latency.histogram;
  const described = counts.map((n, i) => `${n} ${i < boundsMs.length ? `up to ${milliseconds(boundsMs[i]!)}` : `over ${milliseconds(boundsMs.at(-1)!)}`}`).filter((text) => !text.startsWith('0 '));
  histogram.replaceChildren(bars(counts, `Calls of the last minute by duration: ${described.join(', ') || 'none'}`));
  byId('latency-range').textContent = `Last minute by duration, ${milliseconds(boundsMs[0]!)} (left) to over ${milliseconds(boundsMs.at(-1)!)} (right)`;
}

function matches(call: CallView, filter: string): boolean {
  if (filter === '') return true;
  if (filter === 'failed') return call.outcome !== 'ok';
  return call.outcome === filter;
}

function lastCalls(state: PageState, filter: string): void {
  const shown = state.calls.filter((c) => matches(c, filter)).slice(0, 100);
  fillBody(
    'last-calls',
    shown.map((call) => {
      const row = document.createElement('tr');
      row.dataset.request = call.request;
      row.dataset.outcome = call.outcome;
      const time = document.createElement('td');
      const stamp = document.createElement('time');
      stamp.dateTime = new Date(call.time).toISOString();
      stamp.textContent = clockTime(call.time);
      time.append(stamp);
      row.append(time, cell(call.tenant ?? '(none)'), targetCell(call.target), badgeCell(call.outcome, outcomeTone(call.outcome)), cell(milliseconds(call.durationMs), 'number'), cell(call.reason ?? '', 'reason'));
      return row;
    }),
  );
  const omitted = state.omitted ? `; ${state.omitted} more were too many to send` : '';
  byId('last-calls-count').textContent = `${shown.length} shown of the last ${state.calls.length}${omitted}`;
}

function functions(frame: Frame): void {
  const { registry, list } = frame.functions;
  const note = registry === 'off' ? 'No registry on this server (--nats off): the libraries called by path only.' : registry === 'ready' ? '' : `The registry is ${registry}.`;
  byId('functions-note').textContent = list.length ? note : `${note} No function called or registered yet.`.trim();
  fillBody(
    'functions-table',
    list.map((f) => {
      const row = document.createElement('tr');
      row.dataset.function = f.name;
      row.append(targetCell(f.name), cell(f.owner ?? '–'), cell(f.kind === 'path' ? 'library by path' : f.kind), cell(f.version ? f.version.slice(0, 12) : '–'), cell(String(f.calls), 'number'), cell(String(f.errors), 'number'), cell(f.p50Ms === null ? '–' : milliseconds(f.p50Ms), 'number'));
      return row;
    }),
  );
}

function jobs(frame: Frame): void {
  const section = frame.jobs;
  byId('jobs-summary').hidden = !section;
  byId('jobs-table').hidden = !section;
  if (!section) {
    byId('jobs-note').textContent = 'No jobs: this server has no job queue.';
    return;
  }
  byId('jobs-note').textContent = section.recent.length ? '' : 'No tickets yet.';
  byId('jobs-queue').textContent = String(section.queueLength);
  byId('jobs-waiting').textContent = String(section.waiting);
  byId('jobs-running').textContent = String(section.running);
  byId('jobs-oldest').textContent = section.oldestWaitingMs === null ? '–' : milliseconds(section.oldestWaitingMs);
  const tone = (status: string): Tone => (status === 'COMPLETED' ? 'ok' : status === 'INVALID' ? 'bad' : 'warn');
  fillBody(
    'jobs-table',
    section.recent.map((t) => {
      const row = document.createElement('tr');
      row.append(cell(t.ticket), cell(t.function), badgeCell(t.status, tone(t.status)), cell(String(t.replicas), 'number'), cell(clockTime(t.submittedAt)));
      return row;
    }),
  );
}

export function render(state: PageState, filter: string): void {
  const frame = state.latest;
  if (!frame) return;
  byId('node-name').textContent = `— ${frame.node}`;
  byId('footer').textContent = `fnjail ${frame.version} · updated ${clockTime(frame.time)}`;
  // The server's time of the frame on screen: how far behind the page is (bench/dashboard-stream.ts).
  document.documentElement.dataset.frameTime = String(frame.time);
  nodes(frame);
  rates(state, frame);
  lastCalls(state, filter);
  functions(frame);
  jobs(frame);
}

/** The filter's choices: every outcome (the server's list, as frames name them). */
export function fillFilter(select: HTMLSelectElement, outcomes: readonly Outcome[]): void {
  for (const outcome of outcomes) {
    const option = document.createElement('option');
    option.value = outcome;
    option.textContent = outcome;
    select.append(option);
  }
}

export function showConnection(state: 'connecting' | 'live' | 'reconnecting' | 'refused', text: string): void {
  const status = byId('connection');
  status.dataset.state = state;
  status.textContent = text;
}

export { byId };
