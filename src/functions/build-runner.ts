// Builds in the launcher's build sandbox (docs/programs.md), under the
// server's build limits (--build-timeout, --build-memory, --build-disk: a
// compiler needs more than a call's), the deploying tenant's
// programSeccompProfile, classified like any call. A bundle job's `make run`
// runs here too (src/jobs/replica-runner.ts), its timeout tightening the wall clock.
import { classify } from '../executor/classify.js';
import { execFlags, type FlagOptions } from '../executor/launch-spec.js';
import type { LauncherProcess } from '../launcher/launcher-process.js';
import type { Limits } from '../launcher/protocol.js';
import { syscallName } from '../seccomp/syscalls.js';
import type { BuildRunner } from './build.js';

export function launcherBuildRunner(launcher: LauncherProcess, limits: Limits, flags: FlagOptions): BuildRunner {
  return async ({ command, workDir, workBytes, log, tenant, seccomp, signal, timeoutMs }) => {
    const these = timeoutMs !== undefined && timeoutMs < limits.timeoutMs ? { ...limits, timeoutMs } : limits;
    const launch = await launcher.run(
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
    );
    return classify(launch, { kind: 'build', command, workBytes, limits: these, seccompProfile: seccomp.name, syscallName });
  };
}
