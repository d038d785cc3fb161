/*
 * relit.h: strings a POSIX extended regex cannot match without.
 *
 * tdm_relit_required() reads a pattern (as glibc regcomp reads it with
 * REG_EXTENDED, in the C locale) and finds a set of literal strings such
 * that any text the pattern matches contains at least one of them.  The
 * risk rules use it to skip, cheaply and soundly, the rules a command
 * cannot match, and to compile a rule only when it first could: most of a
 * session's lines then touch a handful of the built-in rules, which keeps
 * the recorder small and each judgement fast.
 *
 * Soundness is the contract: when in doubt (an escape it does not know, an
 * odd interval, a set too large) it answers "no requirement", and the rule
 * is always run.
 */
#ifndef TDM_RELIT_H
#define TDM_RELIT_H

#include <stddef.h>

#define TDM_RELIT_MAX 64

struct tdm_relit {
	char **lit; /* NUL-terminated; n == 0: no requirement */
	size_t n;
};

/*
 * Fills out; n == 0 means the pattern may match without any literal.
 * Returns 0, or TDM_ERR_NOMEM with out empty.
 */
int tdm_relit_required(const char *pattern, struct tdm_relit *out);
void tdm_relit_free(struct tdm_relit *r);

#endif
