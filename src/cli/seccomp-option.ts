// --seccomp PROFILE of serve and policy explain, checked before anything
// starts: a bad profile is a command-line error. Its own module: it compiles
// the profile, which `fnjail run` never needs to load.
import { launcherFilter, profileErrorDetail } from '../seccomp/launcher-filter.js';
import { usageError } from './args.js';

export function seccompOption(command: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    launcherFilter(value);
  } catch (error) {
    throw usageError(command, `--seccomp ${value} cannot be used: ${profileErrorDetail(error)}`);
  }
  return value;
}
