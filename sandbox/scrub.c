/* Zeroing the stack a process leaves to the next one it forks.
 *
 * A supervisor starts as a copy of the launcher and a worker as a copy of its
 * supervisor, stack included. Deep call chains (placing a bundle copies through
 * a 16 KiB buffer next to two PATH_MAX paths; glibc's own frames come on top)
 * leave request data, a library path or an error text of an earlier call, far
 * below the frame that forks. A scrub shallower than the deepest chain leaked
 * one call's library path into a later call's worker (isolation test "finds
 * nothing of other calls in its memory"), so the scrub covers far more than
 * any chain here uses: 256 KiB, of a stack whose limit is 8 MiB. On this VM
 * that is a page fault per page, about 1.5 ms of CPU, so it runs where it is
 * rare: in the launcher before it clones a supervisor, and once in a
 * supervisor after it built its root. A supervisor handles its calls on a
 * stack that its workers do not inherit (supervisor.c, call_stack), so it
 * forks them without a scrub. */
#include <stdint.h>
#include <string.h>
#include "launcher.h"

#define SCRUB_BYTES (256 * 1024)

__attribute__((noinline)) void scrub_stack(void)
{
	volatile uint8_t below[SCRUB_BYTES];
	explicit_bzero((void *)below, sizeof below);
}

/* The worker's stack below its own frame, before the library's code runs
 * (its constructors inside dlopen, then the function): the isolation test
 * "finds nothing of other calls in its memory" found another call's spec
 * there in about 1 run in 20, from before and after the change above, so it
 * is zeroed where the library will first look. 64 KiB is far deeper than the
 * worker's own chain reaches; the pages are the worker's own (copied at their
 * first write), about 16 page faults. */
#define WORKER_SCRUB_BYTES (64 * 1024)

__attribute__((noinline)) void scrub_worker_stack(void)
{
	volatile uint8_t below[WORKER_SCRUB_BYTES];
	explicit_bzero((void *)below, sizeof below);
}

