// Builds in the launcher's build sandbox (docs/programs.md), under the
// server's build limits (--build-timeout, --build-memory, --build-disk: a
// compiler needs more than a call's), the deploying tenant's
// programSeccompProfile, classified like any call. A build takes a sandbox
// slot of the executor's, admitted as a call is (the deploying tenant's
// maxConcurrent, the server's line of waiting calls): refused "busy" when the
// line is full, never left to time out waiting for the launcher. A bundle
// job's `make run` runs here too (src/jobs/replica-runner.ts), its timeout
// tightening the wall clock, its cancel killing the sandbox.
import { classify, refused } from '../executor/classify.js';
import { execFlags, type FlagOptions } from '../executor/launch-spec.js';
import type { LauncherProcess } from '../launcher/launcher-process.js';
import type { LaunchResult, Limits } from '../launcher/protocol.js';
import type { TenantPolicy } from '../policy/policy.js';
import { syscallName } from '../seccomp/syscalls.js';
import type { BuildRunner } from './build.js';

/** Runs work in a sandbox slot admitted as a call is (Executor.withSandbox). */
export type SandboxSlot = (tenant: TenantPolicy, work: () => Promise<LaunchResult>) => Promise<{ admitted: true; value: LaunchResult } | { admitted: false; reason: string }>;

export function launcherBuildRunner(launcher: LauncherProcess, limits: Limits, flags: FlagOptions, slot: SandboxSlot): BuildRunner {
  return async ({ command, workDir, workBytes, log, tenant, admittedAs, seccomp, signal, timeoutMs }) => {
    const these = timeoutMs !== undefined && timeoutMs < limits.timeoutMs ? { ...limits, timeoutMs } : limits;
    const launched = await slot(admittedAs, () =>
      launcher.run(
        {
          kind: 'build',
          command,
          workDir,
          flags: execFlags(seccomp, flags),
          limits: these,
          output: log,
          filter: seccomp.program,
          tenant: { uid: tenant.uid, gid: tenant.gid, groups: tenant.groups },
        },
        signal,
      ),
    );
    if (!launched.admitted) return refused('busy', launched.reason);
    return classify(launched.value, { kind: 'build', command, workBytes, limits: these, seccompProfile: seccomp.name, syscallName });
  };
}
