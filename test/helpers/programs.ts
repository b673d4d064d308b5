// Classifying what a program, connection or build ended with, as the executor
// does (src/executor/classify.ts): the tests assert the outcome and the
// Reason lines a person would read.
import { classify, type Classification, type ClassifyTarget } from '../../src/executor/classify.js';
import type { LaunchResult, Limits } from '../../src/launcher/protocol.js';
import { syscallName } from '../../src/seccomp/syscalls.js';

export function classified(result: LaunchResult, limits: Limits, target: ClassifyTarget, seccompProfile = 'program'): Classification {
  return classify(result, { ...target, limits, seccompProfile, syscallName: (nr) => syscallName(nr) });
}

/** A duration as the Reason lines write it. */
export const DURATION = '[\\d.]+ m?s';

/** Whether python3 is in the system directories sandboxes see. */
export const PYTHON3 = '/usr/bin/python3';
