// Progress lines while the bench runs, with the seconds since it started.
const started = Date.now();

export function log(message: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
}

export function secondsSinceStart(): number {
  return Math.round((Date.now() - started) / 1000);
}
