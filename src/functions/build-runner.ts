// Builds in the launcher's build sandbox (docs/programs.md), under the
// server's build limits (--build-timeout, --build-memory, --build-disk: a
// compiler needs more than a call's), the deploying tenant's
// programSeccompProfile, classified like any call.
import { classify } from '../executor/classify.js';
import { execFlags, type FlagOptions } from '../executor/launch-spec.js';
import type { LauncherProcess } from '../launcher/launcher-process.js';
import type { Limits } from '../launcher/protocol.js';
import { syscallName } from '../seccomp/syscalls.js';
import type { BuildRunner } from './build.js';

export function launcherBuildRunner(launcher: LauncherProcess, limits: Limits, flags: FlagOptions): BuildRunner {
  return async ({ command, workDir, workBytes, log, tenant, seccomp }) => {
    const launch = await launcher.run({
      kind: 'build',
      command,
      workDir,
      flags: execFlags(seccomp, flags),
      limits,
      output: log,
      filter: seccomp.program,
      tenant: { uid: tenant.uid, gid: tenant.gid, groups: tenant.groups },
    });
    return classify(launch, { kind: 'build', command, workBytes, limits, seccompProfile: seccomp.name, syscallName });
  };
}
