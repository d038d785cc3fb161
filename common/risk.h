/*
 * risk.h: what a command risks, in words an escort without expertise can
 * act on.
 *
 * The policy's `deny` and `flag` rules and, unless `builtin-rules off`,
 * the built-in set (policy/builtin.rules, compiled into the programs) are
 * checked once, when the policy is loaded.  A command line is judged by
 * matching every rule against the raw line and against each normalised
 * part the shell tokenizer finds (shtok.h), so quoting, wrappers and
 * substitutions do not hide a command from its rule.  Characters that
 * hide what a line does, a line left open and a line too deep to read are
 * risks of their own.
 */
#ifndef TDM_RISK_H
#define TDM_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"

/* More than this many distinct risks on one line are not listed. */
#define TDM_RISK_MAX 16
/* Judging one line stops after this long, with a critical risk saying so. */
#define TDM_RISK_BUDGET_MS 1500

struct tdm_rules;

struct tdm_risk {
	enum tdm_level level;
	const char *why; /* owned by the rule set */
};

/* The bytes of one line a terminal in canonical mode keeps (Linux's
 * N_TTY_BUF_SIZE less one for the line's end); it drops the rest. */
#define TDM_TTY_LINE_MAX 4095

struct tdm_verdict {
	bool deny;
	const char *deny_why; /* when deny; owned by the rule set */
	struct tdm_risk risks[TDM_RISK_MAX]; /* highest level first */
	size_t n;
	bool open; /* the shell would read on into the next line */
	bool meta; /* holds bytes a line editor may take as keys (0x80 up;
		    * a risk says so) */
	bool slow; /* the time budget ran out before every rule
				* was checked (a critical risk says so) */
};

/*
 * Compiles the policy's rules and, when it says so, the built-in ones.
 * On failure (a bad regex, no memory) returns a negative TDM_ERR_* with
 * one "FILE:LINE: message" per problem in diag.
 */
int tdm_rules_compile(const struct tdm_policy *pol, struct tdm_rules **out,
		      struct tdm_diag *diag);
void tdm_rules_free(struct tdm_rules *rs);
size_t tdm_rules_count(const struct tdm_rules *rs);
/* How many rules' patterns are compiled now: 0 between judgements, as
 * each judgement frees the patterns it compiled (see risk.c), unless
 * tdm_rules_set_keep is on. */
size_t tdm_rules_compiled(const struct tdm_rules *rs);
/* Tests only: judge without the literal prefilter, to show it is sound. */
void tdm_rules_set_prefilter(struct tdm_rules *rs, bool on);
/* Fuzz target only: what judging compiles stays compiled, until this is
 * turned off or the set is freed.  Matching is the same; memory grows
 * with every new line (see risk.c), which a recorder must not do. */
void tdm_rules_set_keep(struct tdm_rules *rs, bool on);
/* Tests only: a smaller time budget than TDM_RISK_BUDGET_MS. */
void tdm_rules_set_budget(struct tdm_rules *rs, unsigned ms);
/* The kind of the i-th rule in the order they are checked (i < count). */
enum tdm_rule_kind tdm_rules_kind(const struct tdm_rules *rs, size_t i);

/*
 * Judges n bytes of a command line.  Fails only with TDM_ERR_NOMEM.  The
 * rule set is not const: the patterns the line needs are compiled for it
 * and freed before this returns.
 */
int tdm_rules_judge(struct tdm_rules *rs, const uint8_t *line, size_t n,
		    struct tdm_verdict *v);

/*
 * The same for text typed at a terminal on the target: each line is also
 * judged as the first TDM_TTY_LINE_MAX bytes a terminal keeps of it, and
 * a longer line is a risk.  text[0, lines_end) are earlier lines it
 * continues: their line breaks are not hidden characters.
 */
int tdm_rules_judge_typed(struct tdm_rules *rs, const uint8_t *text, size_t n,
			  size_t lines_end, struct tdm_verdict *v);

/* The same for a program's input: its line breaks are text. */
int tdm_rules_judge_input(struct tdm_rules *rs, const uint8_t *text, size_t n,
			  struct tdm_verdict *v);

/*
 * For text that no line editor reads (a command run by ssh, or stdin
 * without a terminal): drops the warnings that hold only for typed
 * lines, that letters beyond plain English can act as editing keys and
 * that a tab may be completed into a longer name.
 */
void tdm_verdict_untyped(struct tdm_verdict *v);

/* Adds what another judgement of the same command found (its deny, its
 * risks, whether it is open): the worse of the two counts. */
void tdm_verdict_add(struct tdm_verdict *v, const struct tdm_verdict *o);

/* [{"level": "high", "why": "…"}, …] */
json_t *tdm_verdict_risks(const struct tdm_verdict *v);
const char *tdm_level_name(enum tdm_level level);
/* The level tdm_level_name gives as name; false for any other string. */
bool tdm_level_parse(const char *name, enum tdm_level *level);

/* The built-in rule set's text, in policy syntax. */
extern const char tdm_builtin_rules[];
extern const char tdm_builtin_rules_end[];

#endif
