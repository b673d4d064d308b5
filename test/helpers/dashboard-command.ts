// `fnjail dashboard` for the dashboard's browser tests: the local listener that
// opens the page to a browser on this host holding its key (no header needed,
// so any browser can open it as a person would).
import { spawn } from 'node:child_process';
import { cliAs } from './as-user.js';
import { cliMain } from './environment.js';

/** fnjail dashboard, started with these words before it (e.g. to run it as another user): its address and how to stop it. */
export async function startDashboardCommand(apiSocket: string, as?: { uid: number; gid: number }): Promise<{ url: string; stop: () => Promise<void> }> {
  const [command, ...args] = as ? cliAs(as, ['dashboard', '--api-socket', apiSocket]) : [process.execPath, cliMain, 'dashboard', '--api-socket', apiSocket];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /open (http:\/\/127\.0\.0\.1:\d+\/\?key=\S+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`fnjail dashboard exited (${code}): ${stderr}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
