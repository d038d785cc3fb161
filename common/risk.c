/*
 * risk.c: judges a command line against the deny and flag rules; see
 * risk.h.  It must never let a line's quoting decide what a rule sees: a
 * rule matches if it matches the raw line or any part the shell tokenizer
 * finds.  One rule set serves a whole session; what a judgement compiles
 * it frees.
 */
#include "risk.h"

#include <regex.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "relit.h"
#include "shtok.h"
#include "visible.h"

/*
 * A rule's regex is compiled when a line contains one of the literals it
 * cannot match without (relit.h), or for every line when it has none, and
 * freed again once the line is judged.  glibc's compiled patterns, and the
 * match caches regexec adds to them with every new line, are what a
 * recorder would otherwise spend most of its memory on: kept for a
 * session, the built-in set grows the heap by 11 MB over the 356 lines of
 * tests/data/commands.tsv.  Compiling again makes judging those lines
 * take 0.43 ms each instead of 0.16, paid once, when the line is sent.
 * The policy loader has already compiled every pattern once, so a late
 * compile fails only for want of memory.
 */
struct compiled_rule {
	enum tdm_rule_kind kind;
	enum tdm_level level;
	char *why;
	char *pattern;
	struct tdm_relit need;
	bool compiled;
	regex_t re;
};

struct tdm_rules {
	struct compiled_rule *r;
	size_t n;
	size_t ndeny;	    /* r[0, ndeny): every deny rule, site's first */
	bool prefilter;	    /* off only in tests that check it is sound */
	bool keep;	    /* on only for the fuzz target's reference */
	unsigned budget_ms; /* judging stops after this long */
};

static const char hidden_why[] =
	"contains invisible or control characters that can hide what the "
	"command really does";
static const char tab_why[] =
	"contains a tab, which the server may complete into a longer name "
	"that is not shown here";
/* A shell whose line editor runs in the C locale takes every byte from
 * 0x80 up as Meta plus a key: é (C3 A9) is Meta-C, capitalize a word;
 * î (C3 AE) is Meta-C then Meta-., insert the last command's last word.
 * A line of such letters can rebuild an earlier command the escort never
 * sees here, and one approved `export LC_ALL=C` puts a shell in that
 * mode. */
static const char meta_why[] =
	"contains letters outside plain English, which a server set for "
	"English only reads as editing keys: what runs may differ";
static const char open_why[] =
	"leaves a quote or bracket open, or ends in a pipe (|), && or ||, so "
	"the next line typed becomes part of this command";
static const char slow_deny_why[] =
	"is too long or tangled for tandem to check against the deny rules "
	"in time; split it into shorter commands";
static const char slow_why[] =
	"is too long or tangled for tandem to check against every rule in "
	"time; treat it as dangerous";
/* A terminal in canonical mode (dash, read, cat: anything but a line
 * editor like bash's) keeps TDM_TTY_LINE_MAX bytes of a line and drops the
 * rest up to its end, so "rm -rf <4 KB> /srv/x/keep" can run as
 * "rm -rf <4 KB> /srv/x". */
static const char cut_why[] =
	"is longer than a server's terminal takes in one line (4095 bytes), so "
	"what runs there may be only its start";
static const char deep_why[] =
	"is nested too deeply for tandem to check every part; read it with "
	"extra care";

bool tdm_level_parse(const char *name, enum tdm_level *level)
{
	enum tdm_level l;

	for (l = TDM_LEVEL_LOW; name != NULL && l <= TDM_LEVEL_CRITICAL; l++)
		if (strcmp(name, tdm_level_name(l)) == 0) {
			*level = l;
			return true;
		}
	return false;
}

const char *tdm_level_name(enum tdm_level level)
{
	switch (level) {
	case TDM_LEVEL_LOW:
		return "low";
	case TDM_LEVEL_MEDIUM:
		return "medium";
	case TDM_LEVEL_HIGH:
		return "high";
	case TDM_LEVEL_CRITICAL:
		break;
	}
	return "critical";
}

void tdm_rules_free(struct tdm_rules *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++) {
		if (rs->r[i].compiled)
			regfree(&rs->r[i].re);
		free(rs->r[i].why);
		free(rs->r[i].pattern);
		tdm_relit_free(&rs->r[i].need);
	}
	free(rs->r);
	free(rs);
}

size_t tdm_rules_count(const struct tdm_rules *rs)
{
	return rs->n;
}

size_t tdm_rules_compiled(const struct tdm_rules *rs)
{
	size_t i, n = 0;

	for (i = 0; i < rs->n; i++)
		n += rs->r[i].compiled;
	return n;
}

void tdm_rules_set_prefilter(struct tdm_rules *rs, bool on)
{
	rs->prefilter = on;
}

void tdm_rules_set_budget(struct tdm_rules *rs, unsigned ms)
{
	rs->budget_ms = ms;
}

enum tdm_rule_kind tdm_rules_kind(const struct tdm_rules *rs, size_t i)
{
	return rs->r[i].kind;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int compile_one(struct compiled_rule *cr, char *msg, size_t size)
{
	int rc = regcomp(&cr->re, cr->pattern, REG_EXTENDED | REG_NOSUB);

	if (rc != 0) {
		regerror(rc, &cr->re, msg, size);
		regfree(&cr->re);
		return rc == REG_ESPACE ? TDM_ERR_NOMEM : TDM_ERR_INVAL;
	}
	cr->compiled = true;
	return 0;
}

static void release_one(struct compiled_rule *cr)
{
	if (cr->compiled)
		regfree(&cr->re);
	cr->compiled = false;
}

/* After each judgement: see the note at struct compiled_rule. */
static void release_all(struct tdm_rules *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		release_one(&rs->r[i]);
}

void tdm_rules_set_keep(struct tdm_rules *rs, bool on)
{
	rs->keep = on;
	if (!on)
		release_all(rs);
}

static int add_rules(struct tdm_rules *rs, const struct tdm_policy *p,
		     const char *file, struct tdm_diag *diag)
{
	struct compiled_rule *grown;
	size_t i;
	int rc;

	grown = realloc(rs->r, (rs->n + p->nrules + 1) * sizeof(*grown));
	if (grown == NULL)
		return TDM_ERR_NOMEM;
	rs->r = grown;
	for (i = 0; i < p->nrules; i++) {
		struct compiled_rule *cr = &rs->r[rs->n];
		char msg[256], what[320];

		memset(cr, 0, sizeof(*cr));
		cr->pattern = strdup(p->rules[i].pattern);
		cr->why = strdup(p->rules[i].why);
		if (cr->pattern == NULL || cr->why == NULL ||
		    tdm_relit_required(cr->pattern, &cr->need) < 0) {
			free(cr->pattern);
			free(cr->why);
			return TDM_ERR_NOMEM;
		}
		cr->kind = p->rules[i].kind;
		cr->level = p->rules[i].level;
		rs->n++;
		/* With nothing to wait for, every line will compile it:
		 * check it now. */
		if (cr->need.n > 0)
			continue;
		rc = compile_one(cr, msg, sizeof(msg));
		if (rc == TDM_ERR_NOMEM)
			return rc;
		if (rc == 0) {
			release_one(cr);
			continue;
		}
		snprintf(what, sizeof(what), "bad regular expression: %s", msg);
		rc = tdm_diag_printf(diag, "%s:%d: %s", file, p->rules[i].line,
				     what);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Every deny rule, the site's then the built-in ones, before any flag:
 * a site's slow flag rule must not use up the time the built-in denies
 * need (the order within each kind is kept).
 */
static int denies_first(struct tdm_rules *rs)
{
	struct compiled_rule *sorted;
	size_t i, n = 0;

	sorted = malloc((rs->n + 1) * sizeof(*sorted));
	if (sorted == NULL)
		return TDM_ERR_NOMEM;
	for (i = 0; i < rs->n; i++)
		if (rs->r[i].kind == TDM_RULE_DENY)
			sorted[n++] = rs->r[i];
	rs->ndeny = n;
	for (i = 0; i < rs->n; i++)
		if (rs->r[i].kind != TDM_RULE_DENY)
			sorted[n++] = rs->r[i];
	free(rs->r);
	rs->r = sorted;
	return 0;
}

int tdm_rules_compile(const struct tdm_policy *pol, struct tdm_rules **out,
		      struct tdm_diag *diag)
{
	struct tdm_policy *builtin = NULL;
	struct tdm_rules *rs;
	int rc;

	rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return TDM_ERR_NOMEM;
	rs->prefilter = true;
	rs->budget_ms = TDM_RISK_BUDGET_MS;
	/* The policy's own rules first: its words win over the built-in. */
	rc = add_rules(rs, pol, pol->path ? pol->path : "policy", diag);
	if (rc == 0 && pol->builtin_rules) {
		rc = tdm_policy_parse(
			tdm_builtin_rules,
			(size_t)(tdm_builtin_rules_end - tdm_builtin_rules),
			"builtin.rules", &builtin, diag);
		if (rc == 0)
			rc = add_rules(rs, builtin, "builtin.rules", diag);
		tdm_policy_free(builtin);
	}
	if (rc == 0 && diag->n > 0)
		rc = TDM_ERR_INVAL;
	if (rc == 0)
		rc = denies_first(rs);
	if (rc < 0) {
		tdm_rules_free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}

/* Every hidden character but a tab (tab_why has its own sentence), and
 * but the line breaks of p[0, lines_end), earlier lines of the text. */
static bool hides_something(const uint8_t *p, size_t n, size_t lines_end)
{
	size_t start = 0, i;

	for (i = 0; i <= n; i++) {
		if (i < n && p[i] != '\t' && (p[i] != '\n' || i >= lines_end))
			continue;
		if (tdm_visible_has_hidden(p + start, i - start))
			return true;
		start = i + 1;
	}
	return false;
}

static bool matches(const regex_t *re, const char *s, size_t n)
{
	regmatch_t m[1];

	/* REG_STARTEND: a NUL typed into the line does not end it early. */
	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)n;
	return regexec(re, s, 1, m, REG_STARTEND) == 0;
}

/* The line's own warnings, never pushed out of a full list. */
static bool own_warning(const char *why)
{
	return why == hidden_why || why == tab_why || why == meta_why ||
	       why == deep_why || why == open_why || why == cut_why;
}

/*
 * Adds a risk while fewer than cap are listed; beyond that it takes the
 * place of the lowest rule's risk listed if it is higher, so a line that
 * trips many rules still shows its worst, and its own warnings.
 */
static void add_risk_cap(struct tdm_verdict *v, enum tdm_level level,
			 const char *why, size_t cap)
{
	size_t i, low = SIZE_MAX;

	for (i = 0; i < v->n; i++) {
		if (strcmp(v->risks[i].why, why) == 0) {
			if (level > v->risks[i].level)
				v->risks[i].level = level;
			return;
		}
	}
	if (v->n >= cap) {
		for (i = 0; i < v->n; i++)
			if (!own_warning(v->risks[i].why) &&
			    (low == SIZE_MAX ||
			     v->risks[i].level <= v->risks[low].level))
				low = i;
		if (low == SIZE_MAX || v->risks[low].level >= level)
			return;
		memmove(&v->risks[low], &v->risks[low + 1],
			(v->n - low - 1) * sizeof(v->risks[0]));
		v->n--;
	}
	v->risks[v->n].level = level;
	v->risks[v->n].why = why;
	v->n++;
}

static void add_risk(struct tdm_verdict *v, enum tdm_level level,
		     const char *why)
{
	add_risk_cap(v, level, why, TDM_RISK_MAX);
}

/* Highest level first; equal levels keep the rules' order. */
static void sort_risks(struct tdm_verdict *v)
{
	size_t i, j;

	for (i = 1; i < v->n; i++) {
		struct tdm_risk r = v->risks[i];

		for (j = i; j > 0 && v->risks[j - 1].level < r.level; j--)
			v->risks[j] = v->risks[j - 1];
		v->risks[j] = r;
	}
}

/* True when one of the rule's literals is in the line or a part. */
static bool may_match(const struct compiled_rule *cr, const uint8_t *line,
		      size_t n, const struct tdm_sh_parts *parts)
{
	size_t i, k;

	for (i = 0; i < cr->need.n; i++) {
		const char *lit = cr->need.lit[i];
		size_t len = strlen(lit);

		if (memmem(line, n, lit, len) != NULL)
			return true;
		for (k = 0; k < parts->n; k++)
			if (strstr(parts->v[k], lit) != NULL)
				return true;
	}
	return false;
}

static int judge_line(struct tdm_rules *rs, const uint8_t *line, size_t n,
		      size_t lines_end, struct tdm_verdict *v, uint64_t start);

/* A control key a terminal's line editor acts on; not a tab or a break. */
static bool is_key(uint8_t c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* Adds what another reading of the same text found: its deny, its
 * risks, and what it says of the line. */
static void take_reading(struct tdm_verdict *v, const struct tdm_verdict *o)
{
	size_t i;

	if (o->deny && !v->deny) {
		v->deny = true;
		v->deny_why = o->deny_why;
	}
	v->slow = v->slow || o->slow;
	v->open = v->open || o->open;
	v->meta = v->meta || o->meta;
	for (i = 0; i < o->n; i++)
		add_risk(v, o->risks[i].level, o->risks[i].why);
}

/* Whether a line of p (ended by \n or \r) is longer than a terminal
 * keeps. */
static bool has_long_line(const uint8_t *p, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++) {
		len = p[i] == '\n' || p[i] == '\r' ? 0 : len + 1;
		if (len > TDM_TTY_LINE_MAX)
			return true;
	}
	return false;
}

enum reading_kind {
	READ_KEYLESS,  /* control keys taken out */
	READ_TERMINAL, /* as a terminal in line mode edits it */
	READ_READLINE, /* as a shell's line editor (emacs keys) edits it */
	READ_CUT,      /* each line cut where a terminal stops taking it */
};

/* A line being edited: out[line, m) with the cursor at cur. */
struct edit {
	uint8_t *out;
	size_t cap, m, line, cur;
	uint8_t *kill; /* the last text killed (readline's Ctrl-Y yanks it) */
	size_t nkill;
};

static void ed_insert(struct edit *e, const uint8_t *p, size_t n)
{
	if (n > e->cap - e->m)
		n = e->cap - e->m;
	memmove(e->out + e->cur + n, e->out + e->cur, e->m - e->cur);
	memcpy(e->out + e->cur, p, n);
	e->m += n;
	e->cur += n;
}

/* Removes out[a, b) (within the line); killed text is kept for yanks. */
static void ed_cut(struct edit *e, size_t a, size_t b, bool kill)
{
	if (kill && e->kill != NULL) {
		memcpy(e->kill, e->out + a, b - a);
		e->nkill = b - a;
	}
	memmove(e->out + a, e->out + b, e->m - b);
	e->m -= b - a;
	if (e->cur >= b)
		e->cur -= b - a;
	else if (e->cur > a)
		e->cur = a;
}

/* Where the character before at starts (UTF-8: all of it). */
static size_t ed_back(const struct edit *e, size_t at)
{
	if (at <= e->line)
		return at;
	at--;
	while (at > e->line && (e->out[at] & 0xc0) == 0x80)
		at--;
	return at;
}

static size_t ed_word_back(const struct edit *e, size_t at)
{
	while (at > e->line &&
	       (e->out[at - 1] == ' ' || e->out[at - 1] == '\t'))
		at--;
	while (at > e->line && e->out[at - 1] != ' ' && e->out[at - 1] != '\t')
		at--;
	return at;
}

/*
 * One key of a line typed into a terminal (readline false: the keys a
 * terminal in line mode edits with, erase, kill and word-erase, other
 * control characters staying text) or into bash's line editor with its
 * default keys (which also move the cursor, delete, kill and yank, and
 * drop the keys it has no use for).  Line breaks end the line.
 */
static void ed_key(struct edit *e, uint8_t c, bool readline, bool *literal)
{
	size_t at;
	uint8_t t;

	if (*literal) {
		*literal = false;
		ed_insert(e, &c, 1);
		return;
	}
	if (c == '\n' || c == '\r') {
		e->cur = e->m;
		ed_insert(e, &c, 1);
		e->line = e->m;
		return;
	}
	switch (c) {
	case 0x16: /* Ctrl-V: the next key is text */
		*literal = true;
		return;
	case 0x7f: /* erase */
	case 0x08:
		at = ed_back(e, e->cur);
		ed_cut(e, at, e->cur, false);
		return;
	case 0x15: /* Ctrl-U: the line before the cursor */
		ed_cut(e, e->line, e->cur, true);
		return;
	case 0x17: /* Ctrl-W: the word before the cursor */
		ed_cut(e, ed_word_back(e, e->cur), e->cur, true);
		return;
	default:
		break;
	}
	if (!readline || !is_key(c)) {
		ed_insert(e, &c, 1);
		return;
	}
	switch (c) {
	case 0x01: /* Ctrl-A */
		e->cur = e->line;
		break;
	case 0x05: /* Ctrl-E */
		e->cur = e->m;
		break;
	case 0x02: /* Ctrl-B */
		e->cur = ed_back(e, e->cur);
		break;
	case 0x06: /* Ctrl-F */
		if (e->cur < e->m)
			e->cur++;
		while (e->cur < e->m && (e->out[e->cur] & 0xc0) == 0x80)
			e->cur++;
		break;
	case 0x04: /* Ctrl-D: the character under the cursor */
		at = e->cur;
		if (at < e->m)
			at++;
		while (at < e->m && (e->out[at] & 0xc0) == 0x80)
			at++;
		ed_cut(e, e->cur, at, false);
		break;
	case 0x0b: /* Ctrl-K: the rest of the line */
		ed_cut(e, e->cur, e->m, true);
		break;
	case 0x19: /* Ctrl-Y: the text killed last */
		if (e->kill != NULL)
			ed_insert(e, e->kill, e->nkill);
		break;
	case 0x14: /* Ctrl-T: the two characters around the cursor swap */
		if (e->m - e->line < 2 || e->cur == e->line)
			break;
		if (e->cur == e->m)
			e->cur--;
		t = e->out[e->cur - 1];
		e->out[e->cur - 1] = e->out[e->cur];
		e->out[e->cur] = t;
		e->cur++;
		break;
	default: /* keys it has no use for, or that start sequences */
		break;
	}
}

/*
 * Another reading of p[0, n) into out (room for cap >= n bytes; kill,
 * for READ_READLINE, room for cap too).  Returns its length; *lines_end is
 * moved to where the earlier lines end in it.
 */
static size_t reading(const uint8_t *p, size_t n, enum reading_kind kind,
		      uint8_t *out, size_t cap, uint8_t *kill,
		      size_t *lines_end)
{
	struct edit e = { .out = out, .cap = cap, .kill = kill };
	size_t i, len = 0, end = *lines_end;
	bool literal = false;

	for (i = 0; i < n; i++) {
		if (i == *lines_end)
			end = e.m;
		if (kind == READ_TERMINAL || kind == READ_READLINE) {
			ed_key(&e, p[i], kind == READ_READLINE, &literal);
			continue;
		}
		len = p[i] == '\n' || p[i] == '\r' ? 0 : len + 1;
		if (kind == READ_KEYLESS ? is_key(p[i]) :
					   len > TDM_TTY_LINE_MAX)
			continue;
		out[e.m++] = p[i];
	}
	*lines_end = *lines_end >= n ? e.m : end;
	return e.m;
}

/*
 * Typed into a shell's line editor, control keys are not text: a NUL
 * (Ctrl-@) is dropped, so "mk<NUL>fs /dev/sda" runs mkfs.  So a line
 * holding any is judged as written and with them taken out, and the
 * worse of each rule counts; the hidden-character warning stays.  Typed
 * at a terminal (tty), such a line is also judged as the terminal and
 * as bash's line editor edit it ("echo hi<Ctrl-U>mkfs /dev/sda" runs
 * mkfs), and a line longer than a terminal takes as the start it keeps.
 * All readings share one judging budget.
 */
static int judge_all(struct tdm_rules *rs, const uint8_t *line, size_t n,
		     size_t lines_end, bool tty, struct tdm_verdict *v)
{
	uint64_t start = now_ms();
	struct tdm_verdict other;
	bool keys = false, cut, want;
	uint8_t *text = NULL, *kill = NULL;
	size_t i, m, end, cap = 2 * n + 64;
	int rc, k;

	rc = judge_line(rs, line, n, lines_end, v, start);
	for (i = 0; rc == 0 && i < n && !keys; i++)
		keys = is_key(line[i]);
	cut = tty && has_long_line(line, n);
	if (rc < 0 || (!keys && !cut))
		return rc;
	text = malloc(cap);
	kill = malloc(cap); /* a line yanked into can outgrow n */
	if (text == NULL || kill == NULL) {
		free(text);
		free(kill);
		return TDM_ERR_NOMEM;
	}
	for (k = READ_KEYLESS; k <= READ_CUT && rc == 0; k++) {
		want = k == READ_KEYLESS ? keys :
		       k == READ_CUT	 ? cut :
					   keys && tty;
		if (!want)
			continue;
		end = lines_end;
		m = reading(line, n, (enum reading_kind)k, text, cap, kill,
			    &end);
		rc = judge_line(rs, text, m, end, &other, start);
		if (rc == 0)
			take_reading(v, &other);
	}
	free(text);
	free(kill);
	if (rc < 0)
		return rc;
	/* Said of the line typed now; earlier ones were told when sent. */
	if (cut && lines_end < n &&
	    has_long_line(line + lines_end, n - lines_end))
		add_risk(v, TDM_LEVEL_HIGH, cut_why);
	sort_risks(v);
	return 0;
}

static int judge_text(struct tdm_rules *rs, const uint8_t *text, size_t n,
		      size_t lines_end, bool tty, struct tdm_verdict *v)
{
	int rc = judge_all(rs, text, n, lines_end, tty, v);

	if (!rs->keep)
		release_all(rs);
	return rc;
}

int tdm_rules_judge(struct tdm_rules *rs, const uint8_t *line, size_t n,
		    struct tdm_verdict *v)
{
	return judge_text(rs, line, n, 0, false, v);
}

int tdm_rules_judge_typed(struct tdm_rules *rs, const uint8_t *text, size_t n,
			  size_t lines_end, struct tdm_verdict *v)
{
	return judge_text(rs, text, n, lines_end, true, v);
}

int tdm_rules_judge_input(struct tdm_rules *rs, const uint8_t *text, size_t n,
			  struct tdm_verdict *v)
{
	return judge_text(rs, text, n, n, false, v);
}

static int judge_line(struct tdm_rules *rs, const uint8_t *line, size_t n,
		      size_t lines_end, struct tdm_verdict *v, uint64_t start)
{
	struct tdm_sh_parts parts;
	bool hidden, tab, meta = false;
	size_t i, k, cap;
	char *raw;
	int rc;

	memset(v, 0, sizeof(*v));
	/* regexec's callers (sanitizers among them) may look for a NUL. */
	raw = malloc(n + 1);
	if (raw == NULL)
		return TDM_ERR_NOMEM;
	/* A carriage return ends a line as a newline does: a terminal hands
	 * it to the shell as one (a pasted line break is one), so the rules
	 * see the lines apart, as the shell will run them. */
	for (i = 0; i < n; i++)
		raw[i] = line[i] == '\r' ? '\n' : (char)line[i];
	raw[n] = '\0';
	rc = tdm_sh_parts((const uint8_t *)raw, n, &parts);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	/* The line's own warnings always have their places in the list. */
	hidden = hides_something(line, n, lines_end);
	tab = memchr(line, '\t', n) != NULL;
	/* Said once: the hidden-character warning covers those bytes. */
	for (i = 0; i < n && !meta && !hidden; i++)
		meta = line[i] >= 0x80;
	cap = TDM_RISK_MAX - (size_t)hidden - (size_t)tab - (size_t)meta -
	      (size_t)parts.deep - (size_t)parts.open;
	for (i = 0; i < rs->n; i++) {
		struct compiled_rule *cr = &rs->r[i];
		bool hit;

		/*
		 * A pasted wall of text can make a pattern slow.  Rather
		 * than stall the session: a line not checked against every
		 * deny rule (they come first) is refused as if one matched;
		 * flag rules left unchecked become one critical risk.
		 */
		if (now_ms() - start >= rs->budget_ms) {
			if (i < rs->ndeny && !v->deny) {
				v->deny = true;
				v->deny_why = slow_deny_why;
			}
			add_risk_cap(v, TDM_LEVEL_CRITICAL,
				     i < rs->ndeny ? slow_deny_why : slow_why,
				     cap);
			v->slow = true;
			break;
		}
		if (cr->need.n > 0 && rs->prefilter &&
		    !may_match(cr, (const uint8_t *)raw, n, &parts))
			continue;
		if (!cr->compiled) {
			char msg[256];

			/* Checked when the policy was loaded: only memory
			 * can fail here, and then no judgement is made. */
			rc = compile_one(cr, msg, sizeof(msg));
			if (rc < 0) {
				tdm_sh_parts_free(&parts);
				free(raw);
				return TDM_ERR_NOMEM;
			}
		}
		hit = matches(&cr->re, raw, n);
		for (k = 0; !hit && k < parts.n; k++)
			hit = matches(&cr->re, parts.v[k], strlen(parts.v[k]));
		if (!hit)
			continue;
		if (cr->kind == TDM_RULE_DENY) {
			if (!v->deny) {
				v->deny = true;
				v->deny_why = cr->why;
			}
			add_risk_cap(v, TDM_LEVEL_CRITICAL, cr->why, cap);
		} else {
			add_risk_cap(v, cr->level, cr->why, cap);
		}
	}
	if (hidden)
		add_risk(v, TDM_LEVEL_HIGH, hidden_why);
	/* Typed at a shell's prompt, a tab completes rather than spaces. */
	if (tab)
		add_risk(v, TDM_LEVEL_HIGH, tab_why);
	if (meta)
		add_risk(v, TDM_LEVEL_HIGH, meta_why);
	v->meta = meta;
	if (parts.deep)
		add_risk(v, TDM_LEVEL_HIGH, deep_why);
	if (parts.open)
		add_risk(v, TDM_LEVEL_MEDIUM, open_why);
	v->open = parts.open;
	sort_risks(v);
	tdm_sh_parts_free(&parts);
	free(raw);
	return 0;
}

void tdm_verdict_add(struct tdm_verdict *v, const struct tdm_verdict *o)
{
	take_reading(v, o);
	sort_risks(v);
}

void tdm_verdict_untyped(struct tdm_verdict *v)
{
	size_t i, m = 0;

	for (i = 0; i < v->n; i++)
		if (v->risks[i].why != meta_why && v->risks[i].why != tab_why)
			v->risks[m++] = v->risks[i];
	v->n = m;
	v->meta = false;
}

json_t *tdm_verdict_risks(const struct tdm_verdict *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < v->n; i++)
		json_array_append_new(
			a, json_pack("{s:s,s:s}", "level",
				     tdm_level_name(v->risks[i].level), "why",
				     v->risks[i].why));
	return a;
}
