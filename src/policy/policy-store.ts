// The policy in force, replaced while the server runs when its files change.
// Editors replace a file by renaming a new one over it: the directory is
// watched, not the file. A broken edit keeps the last good policy in force and
// logs every problem with its file, line and column. Loads, reloads and
// refusals are audit events, with the policy's hash.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { InvalidJsonFile } from '../config/json-file.js';
import { FnjailError } from '../errors.js';
import { loadPolicy, type LoadOptions, type Policy } from './policy.js';

/** Loads a policy for the server or the CLI; throws FnjailError with every problem. */
export function loadPolicyOrFail(policyPath: string, options: LoadOptions = {}): Policy {
  try {
    return loadPolicy(policyPath, options);
  } catch (error) {
    if (error instanceof InvalidJsonFile) {
      throw new FnjailError('FNJ_POLICY_INVALID', `invalid policy:\n${error.message}`, 'fix it (fnjail policy check shows every problem), then start again');
    }
    throw new FnjailError('FNJ_POLICY_UNREADABLE', `cannot read the policy ${policyPath}: ${(error as Error).message}`);
  }
}

const DEBOUNCE_MS = 100;

export class PolicyStore {
  private policy: Policy;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Policies put in force since the first, and edits refused. */
  reloads = 0;
  rejected = 0;

  constructor(
    private readonly policyPath: string,
    private readonly options: LoadOptions,
    private readonly logger: Logger,
    private readonly audit: AuditLog,
  ) {
    this.policy = loadPolicyOrFail(policyPath, options);
    this.announce('policy-load', 'policy loaded');
  }

  get current(): Policy {
    return this.policy;
  }

  /** Reloads on every change of the policy's files. */
  watch(): void {
    const isDirectory = fs.statSync(this.policyPath).isDirectory();
    const dir = isDirectory ? this.policyPath : path.dirname(this.policyPath);
    const name = path.basename(this.policyPath);
    this.watcher = fs.watch(dir, (_event, file) => {
      const relevant = isDirectory ? !file || file.endsWith('.json') : file === name;
      if (!relevant) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.reload(), DEBOUNCE_MS);
    });
    this.watcher.on('error', (error) => this.logger.error({ err: error, policy: this.policyPath }, 'cannot watch the policy any more'));
  }

  /** Returns whether the new policy is now in force. */
  reload(): boolean {
    let next: Policy;
    try {
      next = loadPolicy(this.policyPath, this.options);
    } catch (error) {
      const problems = error instanceof InvalidJsonFile ? error.message.split('\n') : [(error as Error).message];
      this.rejected++;
      this.audit.lifecycle(
        'policy-rejected',
        { policy: this.policyPath, problems, policyHash: this.policy.hash },
        `policy not reloaded, the previous one stays in force: ${problems[0]}`,
        'error',
      );
      return false;
    }
    if (next.hash === this.policy.hash) return true;
    this.policy = next;
    this.reloads++;
    this.announce('policy-reload', 'policy reloaded');
    return true;
  }

  private announce(event: 'policy-load' | 'policy-reload', what: string): void {
    const p = this.policy;
    for (const warning of p.warnings) this.logger.warn({ policy: p.path }, warning);
    const tenants = [...p.tenants, ...(p.defaults ? [p.defaults] : [])].map((t) => ({
      tenant: t.name,
      seccompProfile: t.grant.seccomp.name,
      maxConcurrent: t.grant.maxConcurrent,
    }));
    this.audit.lifecycle(event, { policy: p.path, files: p.files, policyHash: p.hash, tenants }, `${what} (sha256 ${p.hash.slice(0, 12)})`);
  }

  close(): void {
    this.watcher?.close();
    clearTimeout(this.timer);
  }
}
