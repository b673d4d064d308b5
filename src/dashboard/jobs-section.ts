// The dashboard's Jobs section from the node's job statistics: the queue as
// the node last looked at it (cluster-wide, every few seconds), and the
// tickets it saw last.
import type { JobsSection } from '../../web/src/payload.js';
import type { JobStats } from '../jobs/job-stats.js';

export function jobsSection(stats: JobStats, now = Date.now()): JobsSection {
  const waiting = stats.queued ?? 0;
  const running = stats.queueRunning ?? 0;
  return {
    queueLength: waiting + running,
    waiting,
    running,
    oldestWaitingMs: waiting > 0 && stats.oldestWaitingAt !== undefined ? Math.max(0, now - stats.oldestWaitingAt) : null,
    recent: stats.recent.list(),
  };
}
