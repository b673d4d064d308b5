// What the executor asks the launcher to run for an allowed decision: a
// library function (the launcher's only mode today), or, for a program
// function, a program with the request on stdin. This is the one place where
// a decision becomes a launcher request, so that the launcher's program mode
// plugs in here (and only here) when it lands:
//   - launchProblem() stops refusing programs;
//   - launchSpec() returns { kind: 'program', program, argv, stdin, bundleDir, ... }
//     for decision.program (stdin: decision.input, the spooled request body or
//     the input file), in the launcher's own spec type.
import type { ExecSpec } from '../launcher/protocol.js';
import type { Decision, Tenant } from '../policy/decide.js';

type Allowed = Extract<Decision, { allowed: true }>;

/** Why this server cannot run what was decided, or undefined when it can. */
export function launchProblem(decision: Allowed): string | undefined {
  if (decision.program) {
    const name = decision.registered?.name ?? decision.library;
    return `'${name}' is a program function (${decision.program.mode}): program functions need launcher support, which this server's sandbox launcher does not have yet`;
  }
  return undefined;
}

export function launchSpec(decision: Allowed, output: string, flags: number, tenant: Tenant): Omit<ExecSpec, 'id'> {
  return {
    flags,
    limits: decision.limits,
    library: decision.library,
    function: decision.function,
    input: decision.input,
    output,
    filter: decision.seccomp.program,
    tenant: { uid: tenant.uid, gid: tenant.gid, groups: tenant.groups },
  };
}
