/*
 * relit.c: required literals of a POSIX extended regex; see relit.h.
 *
 * A small recursive reading of the pattern: an alternation requires the
 * union of what its branches require (nothing, if one branch requires
 * nothing); a concatenation requires what its best single part requires
 * (a run of plain characters, or a group that must occur); an atom that may
 * occur zero times requires nothing.  It must never claim a literal the
 * pattern can match without: that would hide a risk from the escort.
 */
#include "relit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define MAX_DEPTH 32

/* A set of strings, or `none`: no requirement. */
struct set {
	char **v;
	size_t n;
	bool none;
};

struct reader {
	const char *re;
	size_t i;
	bool give_up; /* something it does not understand: no prefilter */
	bool nomem;
};

static void set_free(struct set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void set_none(struct set *s)
{
	set_free(s);
	s->none = true;
}

static void set_add(struct reader *rd, struct set *s, const char *p, size_t n)
{
	char **v;
	size_t i;

	if (s->none)
		return;
	for (i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == n && memcmp(s->v[i], p, n) == 0)
			return;
	if (s->n == TDM_RELIT_MAX) {
		set_none(s);
		return;
	}
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (v == NULL) {
		rd->nomem = true;
		return;
	}
	s->v = v;
	v[s->n] = malloc(n + 1);
	if (v[s->n] == NULL) {
		rd->nomem = true;
		return;
	}
	memcpy(v[s->n], p, n);
	v[s->n][n] = '\0';
	s->n++;
}

/* The shortest string of the set: a set is as selective as its weakest. */
static size_t score(const struct set *s)
{
	size_t i, min = (size_t)-1;

	if (s->none || s->n == 0)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strlen(s->v[i]) < min)
			min = strlen(s->v[i]);
	return min;
}

/* Keeps cand in best when it is more selective; cand is consumed. */
static void consider(struct set *best, struct set *cand)
{
	if (cand->none || cand->n == 0) {
		set_free(cand);
		return;
	}
	if (best->none || score(cand) > score(best) ||
	    (score(cand) == score(best) && cand->n < best->n)) {
		set_free(best);
		*best = *cand;
		best->none = false;
		cand->v = NULL;
		cand->n = 0;
		return;
	}
	set_free(cand);
}

static void flush_run(struct reader *rd, struct tdm_buf *run, struct set *best)
{
	struct set one = { NULL, 0, false };

	if (run->len == 0)
		return;
	set_add(rd, &one, (const char *)run->data, run->len);
	consider(best, &one);
	tdm_buf_reset(run);
}

/* Skips a bracket expression; rd->i is just past the '['. */
static void skip_bracket(struct reader *rd)
{
	const char *re = rd->re;
	size_t i = rd->i;

	if (re[i] == '^')
		i++;
	if (re[i] == ']')
		i++;
	while (re[i] != '\0' && re[i] != ']') {
		if (re[i] == '[' && (re[i + 1] == ':' || re[i + 1] == '.' ||
				     re[i + 1] == '=')) {
			char end = re[i + 1];

			i += 2;
			while (re[i] != '\0' &&
			       !(re[i] == end && re[i + 1] == ']'))
				i++;
			if (re[i] == '\0')
				break;
			i += 2;
			continue;
		}
		i++;
	}
	if (re[i] != ']')
		rd->give_up = true;
	else
		i++;
	rd->i = i;
}

/*
 * Reads the quantifiers after an atom; returns the least number of times
 * the atom must occur (0 or 1: more says nothing new), and sets *any when
 * there was one.
 */
static unsigned quantifiers(struct reader *rd, bool *any)
{
	const char *re = rd->re;
	unsigned min = 1;

	*any = false;
	for (;;) {
		char c = re[rd->i];

		if (c == '*' || c == '?') {
			min = 0;
		} else if (c == '+') {
			/* at least once: min unchanged */
		} else if (c == '{') {
			size_t j = rd->i + 1;
			unsigned long lo = 0;
			bool digits = false;

			while (re[j] >= '0' && re[j] <= '9') {
				lo = lo * 10 + (unsigned long)(re[j] - '0');
				if (lo > 100000)
					lo = 100000;
				digits = true;
				j++;
			}
			if (re[j] == ',') {
				j++;
				while (re[j] >= '0' && re[j] <= '9')
					j++;
			}
			if (!digits || re[j] != '}') {
				/* Not an interval glibc would take as one. */
				rd->give_up = true;
				return 0;
			}
			if (lo == 0)
				min = 0;
			rd->i = j;
		} else {
			return min;
		}
		*any = true;
		rd->i++;
	}
}

static void alternation(struct reader *rd, int depth, struct set *out);

/* One branch: atoms up to '|', ')' or the end. */
static void sequence(struct reader *rd, int depth, struct set *out)
{
	const char *re = rd->re;
	struct set best = { NULL, 0, true };
	struct tdm_buf run;

	tdm_buf_init(&run, 0);
	while (re[rd->i] != '\0' && re[rd->i] != '|' && re[rd->i] != ')' &&
	       !rd->give_up && !rd->nomem) {
		char c = re[rd->i];
		bool literal = false, quantified;
		struct set group = { NULL, 0, true };
		unsigned min;

		if (c == '(') {
			rd->i++;
			if (depth + 1 >= MAX_DEPTH) {
				rd->give_up = true;
				break;
			}
			alternation(rd, depth + 1, &group);
			if (re[rd->i] != ')') {
				rd->give_up = true;
				set_free(&group);
				break;
			}
			rd->i++;
		} else if (c == '[') {
			rd->i++;
			skip_bracket(rd);
		} else if (c == '.' || c == '^' || c == '$') {
			rd->i++;
		} else if (c == '\\') {
			char e = re[rd->i + 1];

			/* Only the escapes that mean the character itself;
			 * \w, \b, \<, \1 and the like are not literals. */
			if (e != '\0' && strchr("^.[]$()|*+?{}\\/-", e) != NULL)
				literal = true;
			else if (e == '\0')
				rd->give_up = true;
			c = e;
			rd->i += e != '\0' ? 2 : 1;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			rd->give_up = true;
			break;
		} else {
			literal = true;
			rd->i++;
		}
		min = quantifiers(rd, &quantified);
		if (rd->give_up) {
			set_free(&group);
			break;
		}
		if (literal) {
			if (min == 0) {
				flush_run(rd, &run, &best);
			} else {
				tdm_buf_putc(&run, (uint8_t)c);
				/* "ab+c" holds "ab", not "abc". */
				if (quantified)
					flush_run(rd, &run, &best);
			}
		} else {
			flush_run(rd, &run, &best);
			if (min > 0)
				consider(&best, &group);
			else
				set_free(&group);
		}
	}
	flush_run(rd, &run, &best);
	tdm_buf_free(&run);
	*out = best;
}

static void alternation(struct reader *rd, int depth, struct set *out)
{
	struct set all = { NULL, 0, false };
	size_t k;

	for (;;) {
		struct set branch;

		sequence(rd, depth, &branch);
		if (branch.none)
			set_none(&all);
		for (k = 0; k < branch.n && !all.none; k++)
			set_add(rd, &all, branch.v[k], strlen(branch.v[k]));
		set_free(&branch);
		if (rd->re[rd->i] != '|' || rd->give_up || rd->nomem)
			break;
		rd->i++;
	}
	*out = all;
}

void tdm_relit_free(struct tdm_relit *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->lit[i]);
	free(r->lit);
	r->lit = NULL;
	r->n = 0;
}

int tdm_relit_required(const char *pattern, struct tdm_relit *out)
{
	struct reader rd = { pattern, 0, false, false };
	struct set s;

	memset(out, 0, sizeof(*out));
	alternation(&rd, 0, &s);
	if (rd.re[rd.i] != '\0')
		rd.give_up = true; /* a stray ')' */
	if (rd.nomem) {
		set_free(&s);
		return TDM_ERR_NOMEM;
	}
	if (rd.give_up || s.none || s.n == 0) {
		set_free(&s);
		return 0;
	}
	out->lit = s.v;
	out->n = s.n;
	return 0;
}
