// What must be undone however the bench ends (normally, on an error, on
// SIGINT/SIGTERM): servers stopped, load generators killed, directories removed.
// Actions run once, last registered first.

type Action = () => Promise<void> | void;

const actions = new Map<number, { name: string; action: Action }>();
let nextId = 0;
let running: Promise<void> | undefined;

/** Registers an action; the returned function unregisters it (when it was done normally). */
export function onCleanup(name: string, action: Action): () => void {
  const id = nextId++;
  actions.set(id, { name, action });
  return () => {
    actions.delete(id);
  };
}

/** Runs every registered action once, newest first; errors are reported, not thrown. */
export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    const pending = [...actions.entries()].reverse();
    actions.clear();
    for (const [, { name, action }] of pending) {
      try {
        await action();
      } catch (error) {
        process.stderr.write(`bench: cleanup '${name}' failed: ${(error as Error).message}\n`);
      }
    }
  })();
  return running;
}

/** True once cleanup has begun: nothing new should be started then. */
export function isCleaningUp(): boolean {
  return running !== undefined;
}

/** Runs a bench's main, then what must be undone; an error is printed and
 * exits 1; an interrupted bench (SIGINT, SIGTERM) undoes it too and exits 130. */
export function runBench(main: () => Promise<void>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanupAll().then(() => process.exit(130)));
  main().then(
    () => cleanupAll(),
    async (error: unknown) => {
      process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
      await cleanupAll();
      process.exitCode = 1;
    },
  );
}
