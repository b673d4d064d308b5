/* libseccomp-export - builds a filter with libseccomp from a text description
 * on stdin and writes the BPF program it generates (seccomp_export_bpf) to
 * stdout, for the differential tests of fnjail's seccomp compiler.
 *
 * Description, whitespace-separated words; ACTION, NR, A and B in hexadecimal
 * (0x optional), the others in decimal:
 *   default ACTION                  the default action (first, once)
 *   optimize LEVEL                  SCMP_FLTATR_CTL_OPTIMIZE (1 or 2)
 *   rule ACTION NR N [ARG OP A B]*N  a rule with N argument comparisons;
 *                                   OP is libseccomp's enum scmp_compare
 * ACTION is a raw seccomp return value (0x7fff0000 allow, 0x80000000 kill
 * process, 0x00050000|errno, 0x7ffc0000 log, 0x7fc00000 notify).
 * The bad-architecture action is kill-process, as in fnjail.
 * Exit status 0; 3 when libseccomp refuses a rule (message on stderr). */
#include <errno.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int rc)
{
	fprintf(stderr, "libseccomp-export: %s: %s\n", what, strerror(-rc));
	return 3;
}

int main(void)
{
	char word[32];
	uint32_t def;
	if (scanf("%31s %" SCNx32, word, &def) != 2 || strcmp(word, "default") != 0) {
		fprintf(stderr, "libseccomp-export: expected 'default ACTION' first\n");
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx) {
		fprintf(stderr, "libseccomp-export: seccomp_init refused the default action\n");
		return 3;
	}
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0)
		return fail("bad-arch action", rc);
	while (scanf("%31s", word) == 1) {
		if (strcmp(word, "optimize") == 0) {
			uint32_t level;
			if (scanf("%" SCNu32, &level) != 1)
				return 2;
			rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, level);
			if (rc < 0)
				return fail("optimize", rc);
			continue;
		}
		uint32_t action;
		unsigned nr;
		unsigned n;
		if (strcmp(word, "rule") != 0 || scanf("%" SCNx32 " %x %u", &action, &nr, &n) != 3 || n > 16) {
			fprintf(stderr, "libseccomp-export: bad rule\n");
			return 2;
		}
		struct scmp_arg_cmp cmp[16];
		for (unsigned i = 0; i < n; i++) {
			unsigned arg, op;
			uint64_t a, b;
			if (scanf("%u %u %" SCNx64 " %" SCNx64, &arg, &op, &a, &b) != 4)
				return 2;
			cmp[i] = (struct scmp_arg_cmp){ .arg = arg, .op = (enum scmp_compare)op, .datum_a = a, .datum_b = b };
		}
		rc = seccomp_rule_add_exact_array(ctx, action, (int)nr, n, cmp);
		if (rc < 0) {
			fprintf(stderr, "libseccomp-export: rule for %u refused: %s\n", nr, strerror(-rc));
			return 3;
		}
	}
	rc = seccomp_export_bpf(ctx, STDOUT_FILENO);
	if (rc < 0)
		return fail("export", rc);
	seccomp_release(ctx);
	return 0;
}
