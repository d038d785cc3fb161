/*
 * The seccomp allowlists are what their golden files say: changing a table
 * without updating tests/data/sandbox-*.pfc (and so without a reviewer
 * seeing the change) fails here.  Regenerate with
 * `TANDEM_WRITE_GOLDEN=1 build/tests/test_sandbox`.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox.h"

static char *read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = malloc(cap);
	ssize_t r;

	lseek(fd, 0, SEEK_SET);
	while (p != NULL && (r = read(fd, p + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			char *q = realloc(p, cap * 2);

			if (q == NULL) {
				free(p);
				return NULL;
			}
			p = q;
			cap *= 2;
		}
	}
	*len = n;
	return p;
}

static void check_golden(const struct tdm_sb_table *t, const char *golden)
{
	int fd = memfd_create("pfc", 0);
	size_t got_len = 0, want_len = 0;
	char *got, *want;
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(tdm_sandbox_export(t, fd), 0);
	got = read_all(fd, &got_len);
	close(fd);
	assert_non_null(got);
	if (getenv("TANDEM_WRITE_GOLDEN") != NULL) {
		f = fopen(golden, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, got_len, f), got_len);
		fclose(f);
	}
	f = fopen(golden, "r");
	assert_non_null(f);
	want = read_all(fileno(f), &want_len);
	fclose(f);
	assert_non_null(want);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, got_len);
	free(got);
	free(want);
}

static void test_recorder_filter_matches_golden_file(void **state)
{
	(void)state;
	check_golden(&tdm_sandbox_recorder, "tests/data/sandbox-recorder.pfc");
}

static void test_escort_filter_matches_golden_file(void **state)
{
	(void)state;
	check_golden(&tdm_sandbox_escort, "tests/data/sandbox-escort.pfc");
}

static void test_replay_filters_match_golden_files(void **state)
{
	(void)state;
	check_golden(&tdm_sandbox_replay_read,
		     "tests/data/sandbox-replay-read.pfc");
	check_golden(&tdm_sandbox_replay_write,
		     "tests/data/sandbox-replay-write.pfc");
}

static void test_every_rule_says_why(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < tdm_sandbox_recorder.nrules; i++) {
		assert_non_null(tdm_sandbox_recorder.rules[i].why);
		assert_true(strlen(tdm_sandbox_recorder.rules[i].why) > 3);
	}
}

static void test_dangerous_calls_are_not_in_the_recorder_table(void **state)
{
	static const char *never[] = { "open",	   "openat",   "openat2",
				       "execve",   "execveat", "socket",
				       "connect",  "bind",     "unlink",
				       "unlinkat", "fork",     "clone",
				       "clone3",   "ptrace",   "mount",
				       "chmod",	   "kill" };
	size_t i, j;

	(void)state;
	for (i = 0; i < tdm_sandbox_recorder.nrules; i++) {
		const struct tdm_sb_rule *r = &tdm_sandbox_recorder.rules[i];

		/* Only refusals may name them. */
		if (r->check == TDM_SB_ENOENT_EQ)
			continue;
		for (j = 0; j < sizeof(never) / sizeof(never[0]); j++)
			assert_string_not_equal(r->syscall, never[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorder_filter_matches_golden_file),
		cmocka_unit_test(test_escort_filter_matches_golden_file),
		cmocka_unit_test(test_replay_filters_match_golden_files),
		cmocka_unit_test(test_every_rule_says_why),
		cmocka_unit_test(
			test_dangerous_calls_are_not_in_the_recorder_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
