// How numbers read on the page.
import type { NodeState, Outcome } from './payload.js';

export function milliseconds(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function percent(share: number | null): string {
  return share === null ? 'unknown' : `${Math.round(share * 100)}%`;
}

export function clockTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** ok, warn (refused before running: the caller's doing) or bad (failed while running, or the server's); off: gone, as it meant to (a node that left). */
export type Tone = 'ok' | 'warn' | 'bad' | 'off';

export function outcomeTone(outcome: Outcome): Tone {
  if (outcome === 'ok') return 'ok';
  if (outcome === 'denied' || outcome === 'bad-request' || outcome === 'busy') return 'warn';
  return 'bad';
}

export function nodeTone(state: NodeState): Tone {
  if (state === 'up') return 'ok';
  if (state === 'joining' || state === 'suspect') return 'warn';
  return state === 'left' ? 'off' : 'bad';
}
