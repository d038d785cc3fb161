/*
 * libFuzzer: the risk rules on any command line.  Besides not crashing,
 * the literal prefilter must never change a verdict: every line is judged
 * with it and without it, against the built-in rules, and the two must
 * agree whenever both finished inside the time budget; and a judgement
 * must leave nothing compiled behind it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"
#include "risk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tdm_rules *load(void)
{
	struct tdm_rules *rs;
	struct tdm_policy *p = NULL;
	struct tdm_diag diag = { 0 };

	if (tdm_policy_parse("builtin-rules on\n", 17, "fuzz.conf", &p, &diag) <
		    0 ||
	    tdm_rules_compile(p, &rs, &diag) < 0)
		__builtin_trap();
	tdm_policy_free(p);
	tdm_diag_free(&diag);
	/* Half a second for each judgement, well inside make fuzz's timeout;
	 * a line that runs out of it is compared no further (the rules
	 * left unchecked differ with the prefilter, by design). */
	tdm_rules_set_budget(rs, 500);
	return rs;
}

/*
 * The line is judged as a recorder judges it: prefiltered, each pattern
 * compiled for the line and freed after it.  The reference judges every
 * rule and keeps its patterns compiled, or each input would compile all
 * of them again (about 15 inputs a second under the sanitizers); it is
 * loaded afresh every REFERENCE_USES inputs, as the match caches of kept
 * patterns grow with every new line.
 */
#define REFERENCE_USES 2000

static struct tdm_rules *shipped(void)
{
	static struct tdm_rules *rs;

	if (rs == NULL)
		rs = load();
	return rs;
}

static struct tdm_rules *reference(void)
{
	static struct tdm_rules *rs;
	static unsigned uses;

	if (rs != NULL && ++uses >= REFERENCE_USES) {
		tdm_rules_free(rs);
		rs = NULL;
	}
	if (rs == NULL) {
		rs = load();
		tdm_rules_set_prefilter(rs, false);
		tdm_rules_set_keep(rs, true);
		uses = 0;
	}
	return rs;
}

static void same(const struct tdm_verdict *fast, const struct tdm_verdict *full)
{
	size_t i;

	if (fast->deny != full->deny || fast->n != full->n)
		__builtin_trap();
	for (i = 0; i < fast->n; i++)
		if (fast->risks[i].level != full->risks[i].level ||
		    strcmp(fast->risks[i].why, full->risks[i].why) != 0)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_verdict fast, full, typed;
	const uint8_t *nl;
	size_t lines_end, i;

	if (size > 8192)
		return 0;
	if (tdm_rules_judge(shipped(), data, size, &fast) < 0)
		return 0;
	if (tdm_rules_compiled(shipped()) != 0)
		__builtin_trap(); /* a judgement left a pattern compiled */
	if (tdm_rules_judge(reference(), data, size, &full) < 0)
		return 0;
	if (fast.slow || full.slow)
		return 0;
	same(&fast, &full);
	/* Text with control keys, line breaks or a line past a terminal's:
	 * also as a typed line continuing its first line (edited as a
	 * terminal and bash would, cut where a terminal would).  Its
	 * readings only add to the plain one's: what that denies, this
	 * denies. */
	nl = memchr(data, '\n', size);
	for (i = 0; i < size && data[i] >= 0x20 && data[i] != 0x7f; i++)
		;
	if (i == size && size <= TDM_TTY_LINE_MAX)
		return 0;
	lines_end = nl != NULL ? (size_t)(nl - data) + 1 : 0;
	if (tdm_rules_judge_typed(shipped(), data, size, lines_end, &typed) <
		    0 ||
	    tdm_rules_judge_typed(reference(), data, size, lines_end, &full) <
		    0)
		return 0;
	if (typed.slow || full.slow)
		return 0;
	same(&typed, &full);
	if (fast.deny && !typed.deny)
		__builtin_trap();
	return 0;
}
