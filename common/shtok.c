/*
 * shtok.c: a POSIX shell tokenizer for the risk rules; see shtok.h.
 *
 * It reads a command line the way sh(1) would (quotes, backslashes,
 * `$'…'`, substitutions, operators, redirections, heredocs) and writes out
 * the simple commands it finds, normalised.  It must never expand anything
 * from the environment, never run anything, and never read outside the
 * bytes it was given: every line it sees was typed by the engineer and is
 * hostile until an escort says otherwise.  Allocation failures are kept in
 * sh->err and end the work; limits set `deep` and end it too.
 */
#include "shtok.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define MAX_VARS 32
#define MAX_VAR_VALUE 4096
#define MAX_HEREDOCS 16
#define NO_POS ((size_t)-1)

enum word_kind { W_WORD, W_REDIR };

struct word {
	char *text;
	enum word_kind kind;
	bool plain;  /* no quoting or expansion in it */
	bool quoted; /* the engineer quoted some of it */
};

/* A simple command as it is read. */
struct cmd {
	struct word *w;
	size_t n, cap;
	struct tdm_buf cur; /* the word being read */
	bool cur_any;	    /* cur is a word, even "" */
	bool cur_plain;
	bool cur_quoted;
	bool redir_next; /* the next word is a redirection's target */
};

struct var {
	char *name;
	char *value;
};

struct heredoc {
	char *delim;
	bool strip_tabs; /* <<- */
};

struct sh {
	struct tdm_sh_parts *out;
	/* The command being peeled writes to a file, a pipe or a capture:
	 * what echo or printf print there may be run later. */
	bool captured;
	/* Reading what echo wrote as code: its $(…) ran already, at echo
	 * time, so a part starting with one is not a command there. */
	bool echo_text;
	size_t bytes;	  /* of all parts so far */
	size_t max_bytes; /* that the parts may take, for this line */
	size_t work;	  /* bytes copied into any buffer so far */
	size_t max_work;  /* that may be copied, for this line */
	size_t len[TDM_SH_MAX_PARTS]; /* of each part in out */
	struct var vars[MAX_VARS];
	size_t nvars;
	int err;
};

struct lex {
	const uint8_t *p;
	size_t n, i;
	int depth;
	bool top;	/* the line itself, not a string inside it */
	size_t open_at; /* where an unclosed quote begins */
	struct heredoc hd[MAX_HEREDOCS];
	size_t nhd;
};

static void parse_list(struct sh *sh, struct lex *lx, int close,
		       struct tdm_buf *text);
static void parse_string(struct sh *sh, const uint8_t *p, size_t n, int depth,
			 struct tdm_buf *text);

/* ---- small helpers ---------------------------------------------------- */

static void put(struct sh *sh, struct tdm_buf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0 || sh->err != 0)
		return;
	sh->work += n;
	if (sh->work > sh->max_work) {
		sh->out->deep = true;
		return;
	}
	rc = tdm_buf_put(b, p, n);
	if (rc == TDM_ERR_NOMEM)
		sh->err = rc;
	else if (rc < 0)
		sh->out->deep = true;
}

static void putc_(struct sh *sh, struct tdm_buf *b, uint8_t c)
{
	put(sh, b, &c, 1);
}

static void puts_(struct sh *sh, struct tdm_buf *b, const char *s)
{
	put(sh, b, s, strlen(s));
}

static char *dup_bytes(struct sh *sh, const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL) {
		sh->err = TDM_ERR_NOMEM;
		return NULL;
	}
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static bool stopped(const struct sh *sh)
{
	return sh->err != 0 || sh->out->deep;
}

static bool at_end(const struct lex *lx)
{
	return lx->i >= lx->n;
}

static int peek(const struct lex *lx, size_t ahead)
{
	return lx->i + ahead < lx->n ? lx->p[lx->i + ahead] : -1;
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* Ends an unquoted word. */
static bool is_meta(int c)
{
	return c == -1 || is_blank(c) || c == '\n' || c == ';' || c == '&' ||
	       c == '|' || c == '(' || c == ')' || c == '<' || c == '>';
}

static bool is_name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Length of NAME in "NAME=…" or "NAME+=…", or 0. */
static size_t assignment_name(const char *s)
{
	size_t i = 0;

	if (!is_name_start((unsigned char)s[0]))
		return 0;
	while (is_name_char((unsigned char)s[i]))
		i++;
	if (s[i] == '=' || (s[i] == '+' && s[i + 1] == '='))
		return i;
	return 0;
}

/*
 * s with each path spelt plainly: "/dev//sda" and "/etc/./shadow" name
 * the same files as "/dev/sda" and "/etc/shadow".  Returns its length
 * in out (at most n).
 */
static size_t plain_paths(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		bool after_slash = o > 0 && out[o - 1] == '/';

		if (s[i] == '/' && after_slash)
			continue;
		if (s[i] == '.' && after_slash &&
		    (i + 1 == n || s[i + 1] == '/'))
			continue;
		out[o++] = s[i];
	}
	return o;
}

static void emit_one(struct sh *sh, const char *s, size_t n);

/*
 * Adds a part unless it is empty, already there, or over the limits; a
 * part with paths spelt unusually comes again with them spelt plainly.
 */
static void emit(struct sh *sh, const char *s, size_t n)
{
	char *plain;
	size_t m;

	emit_one(sh, s, n);
	if (sh->err != 0 || n == 0 || memchr(s, '/', n) == NULL)
		return;
	plain = malloc(n);
	if (plain == NULL) {
		sh->err = TDM_ERR_NOMEM;
		return;
	}
	m = plain_paths(s, n, plain);
	if (m != n)
		emit_one(sh, plain, m);
	free(plain);
}

static void emit_one(struct sh *sh, const char *s, size_t n)
{
	struct tdm_sh_parts *out = sh->out;
	char **v;
	size_t i;

	if (sh->err != 0 || n == 0)
		return;
	if (sh->echo_text && n >= 2 && s[0] == '$' && s[1] == '(')
		return;
	for (i = 1; i < out->n; i++)
		if (sh->len[i] == n && memcmp(out->v[i], s, n) == 0)
			return;
	if (out->n >= TDM_SH_MAX_PARTS || sh->bytes + n > sh->max_bytes) {
		out->deep = true;
		return;
	}
	v = realloc(out->v, (out->n + 1) * sizeof(*v));
	if (v == NULL) {
		sh->err = TDM_ERR_NOMEM;
		return;
	}
	out->v = v;
	v[out->n] = dup_bytes(sh, s, n);
	if (v[out->n] == NULL)
		return;
	sh->len[out->n++] = n;
	sh->bytes += n;
}

/* ---- variables assigned earlier in the line --------------------------- */

static const char *var_get(const struct sh *sh, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sh->nvars; i++)
		if (strlen(sh->vars[i].name) == n &&
		    memcmp(sh->vars[i].name, name, n) == 0)
			return sh->vars[i].value;
	return NULL;
}

static void var_set(struct sh *sh, const char *assignment)
{
	size_t n = assignment_name(assignment), i;
	const char *value;
	char *copy;

	if (n == 0)
		return;
	value = assignment + n + (assignment[n] == '+' ? 2 : 1);
	if (strlen(value) > MAX_VAR_VALUE)
		return;
	copy = dup_bytes(sh, value, strlen(value));
	if (copy == NULL)
		return;
	for (i = 0; i < sh->nvars; i++) {
		if (strlen(sh->vars[i].name) == n &&
		    memcmp(sh->vars[i].name, assignment, n) == 0) {
			free(sh->vars[i].value);
			sh->vars[i].value = copy;
			return;
		}
	}
	if (sh->nvars == MAX_VARS) {
		free(copy);
		return;
	}
	sh->vars[sh->nvars].name = dup_bytes(sh, assignment, n);
	if (sh->vars[sh->nvars].name == NULL) {
		free(copy);
		return;
	}
	sh->vars[sh->nvars++].value = copy;
}

/* ---- words ------------------------------------------------------------ */

static void cmd_init(struct cmd *c)
{
	memset(c, 0, sizeof(*c));
	tdm_buf_init(&c->cur, TDM_SH_MAX_BYTES);
	c->cur_plain = true;
}

static void cmd_free(struct cmd *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->w[i].text);
	free(c->w);
	tdm_buf_free(&c->cur);
}

static void add_word(struct sh *sh, struct cmd *c, const char *s, size_t n,
		     enum word_kind kind, bool plain)
{
	struct word *w;

	if (sh->err != 0)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;

		w = realloc(c->w, cap * sizeof(*w));
		if (w == NULL) {
			sh->err = TDM_ERR_NOMEM;
			return;
		}
		c->w = w;
		c->cap = cap;
	}
	c->w[c->n].text = dup_bytes(sh, s, n);
	if (c->w[c->n].text == NULL)
		return;
	c->w[c->n].kind = kind;
	c->w[c->n].plain = plain;
	c->w[c->n].quoted = false;
	c->n++;
}

/* Ends the word being read, if there is one. */
static void word_break(struct sh *sh, struct cmd *c)
{
	size_t before = c->n;

	if (c->cur_any)
		add_word(sh, c, (const char *)c->cur.data, c->cur.len,
			 c->redir_next ? W_REDIR : W_WORD, c->cur_plain);
	if (c->n > before)
		c->w[before].quoted = c->cur_quoted;
	if (c->cur_any)
		c->redir_next = false;
	tdm_buf_reset(&c->cur);
	c->cur_any = false;
	c->cur_plain = true;
	c->cur_quoted = false;
}

static void word_put(struct sh *sh, struct cmd *c, const void *p, size_t n)
{
	put(sh, &c->cur, p, n);
	c->cur_any = true;
}

/* A value substituted unquoted is split at blanks, as the shell would. */
static void word_put_split(struct sh *sh, struct cmd *c, const char *v)
{
	size_t run;

	while (*v != '\0' && !stopped(sh)) {
		run = strcspn(v, " \t\n");
		if (run > 0) {
			word_put(sh, c, v, run);
			v += run;
		} else {
			word_break(sh, c);
			v++;
		}
	}
}

static void put_utf8(struct sh *sh, struct cmd *c, unsigned long cp)
{
	uint8_t b[4];
	size_t n;

	if (cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	word_put(sh, c, b, n);
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads up to max hex digits; *ok is false when there were none. */
static unsigned long read_hex(struct lex *lx, int max, bool *ok)
{
	unsigned long v = 0;
	int k, d;

	*ok = false;
	for (k = 0; k < max && (d = hex_value(peek(lx, 0))) >= 0; k++) {
		v = v * 16 + (unsigned long)d;
		lx->i++;
		*ok = true;
	}
	return v;
}

/* $'…' as bash decodes it; lx->i is just past the opening quote. */
static void ansi_c(struct sh *sh, struct lex *lx, struct cmd *c)
{
	bool cut = false, ok;
	unsigned long v;
	int ch, k;

	c->cur_any = true;
	while (!at_end(lx)) {
		ch = lx->p[lx->i++];
		if (ch == '\'')
			return;
		if (ch != '\\') {
			if (!cut)
				word_put(sh, c, &lx->p[lx->i - 1], 1);
			continue;
		}
		if (at_end(lx))
			break;
		ch = lx->p[lx->i++];
		switch (ch) {
		/* clang-format off */
		case 'a': v = 7; break;
		case 'b': v = 8; break;
		case 'e': case 'E': v = 27; break;
		case 'f': v = 12; break;
		case 'n': v = 10; break;
		case 'r': v = 13; break;
		case 't': v = 9; break;
		case 'v': v = 11; break;
		/* clang-format on */
		case 'x':
			v = read_hex(lx, 2, &ok);
			if (!ok)
				v = '\\';
			break;
		case 'u':
		case 'U':
			v = read_hex(lx, ch == 'u' ? 4 : 8, &ok);
			if (!ok) {
				v = '\\';
				break;
			}
			if (!cut && v != 0)
				put_utf8(sh, c, v);
			cut = cut || v == 0;
			continue;
		case 'c':
			v = at_end(lx) ? '\\' : (lx->p[lx->i++] & 0x1Fu);
			break;
		/* clang-format off */
		case '0': case '1': case '2': case '3':
		case '4': case '5': case '6': case '7':
			/* clang-format on */
			v = (unsigned long)(ch - '0');
			for (k = 1;
			     k < 3 && peek(lx, 0) >= '0' && peek(lx, 0) <= '7';
			     k++)
				v = v * 8 +
				    (unsigned long)(lx->p[lx->i++] - '0');
			break;
		default:
			v = (unsigned long)ch;
			break;
		}
		/* bash ends the string at a NUL, and so do we. */
		if (v == 0)
			cut = true;
		if (!cut) {
			uint8_t b = (uint8_t)v;

			word_put(sh, c, &b, 1);
		}
	}
	if (lx->top && lx->open_at == NO_POS)
		lx->open_at = lx->i;
	sh->out->open = true;
}

/* Skips a balanced (…) or {…} without reading it; lx->i is past the open. */
static void skip_balanced(struct lex *lx, int open, int close)
{
	int depth = 1;

	while (!at_end(lx) && depth > 0) {
		int ch = lx->p[lx->i++];

		if (ch == '\\' && !at_end(lx))
			lx->i++;
		else if (ch == open)
			depth++;
		else if (ch == close)
			depth--;
	}
}

static void command_subst(struct sh *sh, struct lex *lx, struct cmd *c,
			  bool quoted);
static void backticks(struct sh *sh, struct lex *lx, struct cmd *c,
		      bool quoted);

/* $…: lx->i is at the '$'. */
static void dollar(struct sh *sh, struct lex *lx, struct cmd *c, bool quoted)
{
	int next = peek(lx, 1);
	size_t start = lx->i, n;
	const char *value;

	if (next == '(' && peek(lx, 2) == '(') {
		/* $((…)) arithmetic: kept as written. */
		lx->i += 3;
		skip_balanced(lx, '(', ')');
		if (peek(lx, 0) == ')')
			lx->i++;
		word_put(sh, c, &lx->p[start], lx->i - start);
		/* Not shell syntax, but $(…) and `…` inside it still run. */
		if (lx->depth + 1 < TDM_SH_MAX_DEPTH) {
			struct tdm_buf ignored;
			size_t end = lx->i;

			for (n = 0;
			     n < 2 && end > start + 3 && lx->p[end - 1] == ')';
			     n++)
				end--;
			tdm_buf_init(&ignored, TDM_SH_MAX_BYTES);
			parse_string(sh, &lx->p[start + 3], end - start - 3,
				     lx->depth + 1, &ignored);
			tdm_buf_free(&ignored);
		}
		return;
	}
	if (next == '(') {
		lx->i += 2;
		command_subst(sh, lx, c, quoted);
		return;
	}
	if (next == '{') {
		size_t name_at = lx->i + 2;

		lx->i += 2;
		skip_balanced(lx, '{', '}');
		n = lx->i - name_at - (lx->p[lx->i - 1] == '}' ? 1 : 0);
		if (n == 3 && memcmp(&lx->p[name_at], "IFS", 3) == 0 &&
		    !quoted) {
			word_break(sh, c);
			return;
		}
		value = var_get(sh, (const char *)&lx->p[name_at], n);
		if (value != NULL) {
			if (quoted)
				word_put(sh, c, value, strlen(value));
			else
				word_put_split(sh, c, value);
			return;
		}
		word_put(sh, c, &lx->p[start], lx->i - start);
		return;
	}
	if (next == '\'' && !quoted) {
		lx->i += 2;
		c->cur_plain = false;
		c->cur_quoted = true;
		ansi_c(sh, lx, c);
		return;
	}
	if (is_name_start(next)) {
		lx->i++;
		while (is_name_char(peek(lx, 0)))
			lx->i++;
		n = lx->i - start - 1;
		if (n == 3 && memcmp(&lx->p[start + 1], "IFS", 3) == 0 &&
		    !quoted) {
			word_break(sh, c);
			return;
		}
		value = var_get(sh, (const char *)&lx->p[start + 1], n);
		if (value != NULL) {
			if (quoted)
				word_put(sh, c, value, strlen(value));
			else
				word_put_split(sh, c, value);
			return;
		}
		word_put(sh, c, &lx->p[start], lx->i - start);
		return;
	}
	lx->i++;
	if (next != -1 && strchr("@*#?-$!0123456789", next) != NULL)
		lx->i++;
	word_put(sh, c, &lx->p[start], lx->i - start);
}

/* "…": lx->i is just past the opening quote. */
static void dquote(struct sh *sh, struct lex *lx, struct cmd *c)
{
	size_t opened = lx->i - 1;

	c->cur_any = true;
	while (!at_end(lx)) {
		int ch = lx->p[lx->i];

		if (ch == '"') {
			lx->i++;
			return;
		}
		if (ch == '\\') {
			int next = peek(lx, 1);

			if (next == '\n') {
				lx->i += 2;
				continue;
			}
			if (next == '$' || next == '`' || next == '"' ||
			    next == '\\') {
				word_put(sh, c, &lx->p[lx->i + 1], 1);
				lx->i += 2;
				continue;
			}
			word_put(sh, c, "\\", 1);
			lx->i++;
			continue;
		}
		if (ch == '$') {
			dollar(sh, lx, c, true);
			continue;
		}
		if (ch == '`') {
			backticks(sh, lx, c, true);
			continue;
		}
		word_put(sh, c, &lx->p[lx->i], 1);
		lx->i++;
	}
	if (lx->top && lx->open_at == NO_POS)
		lx->open_at = opened + 1;
	sh->out->open = true;
}

/*
 * What `echo WORDS` or `printf TEXT` (no format, no escapes) inside a
 * substitution prints, so that `$(echo rm) -rf /` reads as `rm -rf /`;
 * NULL for anything else.
 */
static const char *constant_output(const struct tdm_buf *inner)
{
	const char *t = (const char *)inner->data;

	if (t == NULL || memchr(t, '\0', inner->len) != NULL ||
	    strpbrk(t, "$`|&;<>()\n") != NULL)
		return NULL;
	if (strncmp(t, "echo ", 5) == 0) {
		t += 5;
		if (strncmp(t, "-n ", 3) == 0)
			t += 3;
		return t[0] == '-' ? NULL : t;
	}
	if (strncmp(t, "printf ", 7) == 0 && strpbrk(t, "%\\") == NULL &&
	    strchr(t + 7, ' ') == NULL)
		return t + 7;
	return NULL;
}

/* A substitution's text goes into its word, and is a part of its own. */
static void put_substitution(struct sh *sh, struct cmd *c,
			     const struct tdm_buf *inner, bool quoted)
{
	const char *value;

	if (inner->len > 0)
		emit(sh, (const char *)inner->data, inner->len);
	c->cur_plain = false;
	value = constant_output(inner);
	if (value != NULL) {
		c->cur_any = true;
		if (quoted)
			word_put(sh, c, value, strlen(value));
		else
			word_put_split(sh, c, value);
		return;
	}
	word_put(sh, c, "$(", 2);
	word_put(sh, c, inner->data, inner->len);
	word_put(sh, c, ")", 1);
}

/*
 * Reads the list inside (…), whose '(' is just behind lx->i, into inner
 * (initialised by the caller), and the ')' after it.  Past the depth limit
 * it skips to the ')' unread, says so, and returns false.
 */
static bool nested_list(struct sh *sh, struct lex *lx, struct tdm_buf *inner)
{
	if (lx->depth + 1 >= TDM_SH_MAX_DEPTH) {
		sh->out->deep = true;
		skip_balanced(lx, '(', ')');
		return false;
	}
	lx->depth++;
	parse_list(sh, lx, ')', inner);
	lx->depth--;
	if (peek(lx, 0) == ')')
		lx->i++;
	else
		sh->out->open = true;
	return true;
}

/* $(…): lx->i is just past "$(". */
static void command_subst(struct sh *sh, struct lex *lx, struct cmd *c,
			  bool quoted)
{
	struct tdm_buf inner;
	size_t start = lx->i;

	c->cur_plain = false;
	tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
	if (nested_list(sh, lx, &inner)) {
		put_substitution(sh, c, &inner, quoted);
	} else {
		word_put(sh, c, "$(", 2);
		word_put(sh, c, &lx->p[start], lx->i - start);
	}
	tdm_buf_free(&inner);
}

/* `…`: lx->i is at the opening backtick. */
static void backticks(struct sh *sh, struct lex *lx, struct cmd *c, bool quoted)
{
	struct tdm_buf raw, inner;
	bool closed = false;

	c->cur_plain = false;
	tdm_buf_init(&raw, TDM_SH_MAX_BYTES);
	tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
	lx->i++;
	while (!at_end(lx)) {
		int ch = lx->p[lx->i++];

		if (ch == '`') {
			closed = true;
			break;
		}
		if (ch == '\\' && !at_end(lx) &&
		    (lx->p[lx->i] == '`' || lx->p[lx->i] == '\\' ||
		     lx->p[lx->i] == '$')) {
			putc_(sh, &raw, lx->p[lx->i++]);
			continue;
		}
		putc_(sh, &raw, (uint8_t)ch);
	}
	if (!closed)
		sh->out->open = true;
	if (lx->depth + 1 >= TDM_SH_MAX_DEPTH) {
		sh->out->deep = true;
		word_put(sh, c, "$(", 2);
		word_put(sh, c, raw.data, raw.len);
		word_put(sh, c, ")", 1);
	} else {
		parse_string(sh, raw.data, raw.len, lx->depth + 1, &inner);
		put_substitution(sh, c, &inner, quoted);
	}
	tdm_buf_free(&raw);
	tdm_buf_free(&inner);
}

/* One shell word, which unquoted $IFS or a substitution may split. */
static void lex_word(struct sh *sh, struct lex *lx, struct cmd *c)
{
	while (!at_end(lx) && !sh->err) {
		int ch = lx->p[lx->i];

		if (is_meta(ch))
			break;
		if (ch == '\\') {
			c->cur_plain = false;
			c->cur_quoted = true;
			if (lx->i + 1 >= lx->n) {
				/* A trailing backslash continues the line. */
				lx->i++;
				sh->out->open = true;
				c->cur_any = true;
				break;
			}
			if (lx->p[lx->i + 1] != '\n')
				word_put(sh, c, &lx->p[lx->i + 1], 1);
			lx->i += 2;
			continue;
		}
		if (ch == '\'') {
			size_t from = ++lx->i;

			c->cur_plain = false;
			c->cur_quoted = true;
			c->cur_any = true;
			while (!at_end(lx) && lx->p[lx->i] != '\'')
				lx->i++;
			word_put(sh, c, &lx->p[from], lx->i - from);
			if (at_end(lx)) {
				if (lx->top && lx->open_at == NO_POS)
					lx->open_at = from;
				sh->out->open = true;
			} else {
				lx->i++;
			}
			continue;
		}
		if (ch == '"') {
			c->cur_plain = false;
			c->cur_quoted = true;
			lx->i++;
			dquote(sh, lx, c);
			continue;
		}
		if (ch == '$') {
			if (peek(lx, 1) == '"') {
				c->cur_plain = false;
				c->cur_quoted = true;
				lx->i += 2;
				dquote(sh, lx, c);
				continue;
			}
			if (peek(lx, 1) != -1 && !is_meta(peek(lx, 1)))
				c->cur_plain = false;
			dollar(sh, lx, c, false);
			continue;
		}
		if (ch == '`') {
			backticks(sh, lx, c, false);
			continue;
		}
		word_put(sh, c, &lx->p[lx->i], 1);
		lx->i++;
	}
}

static bool word_is_digits(const struct cmd *c)
{
	size_t i;

	if (!c->cur_any || !c->cur_plain || c->cur.len == 0)
		return false;
	for (i = 0; i < c->cur.len; i++)
		if (c->cur.data[i] < '0' || c->cur.data[i] > '9')
			return false;
	return true;
}

static void skip_blanks(struct lex *lx)
{
	while (!at_end(lx)) {
		if (is_blank(lx->p[lx->i]))
			lx->i++;
		else if (lx->p[lx->i] == '\\' && peek(lx, 1) == '\n')
			lx->i += 2;
		else
			break;
	}
}

/*
 * A redirection at lx->i ('<', '>' or "&>"), with io holding the digits
 * that came just before it, if any.
 */
static void lex_redirection(struct sh *sh, struct lex *lx, struct cmd *c,
			    const char *io)
{
	char op[8] = { 0 };
	size_t n = 0;
	int ch = lx->p[lx->i];

	if (ch == '&') {
		op[n++] = '&';
		lx->i++;
		ch = lx->p[lx->i];
	}
	op[n++] = (char)ch;
	lx->i++;
	if (ch == '<') {
		if (peek(lx, 0) == '<') {
			op[n++] = '<';
			lx->i++;
			if (peek(lx, 0) == '<' || peek(lx, 0) == '-')
				op[n++] = (char)lx->p[lx->i++];
		} else if (peek(lx, 0) == '&' || peek(lx, 0) == '>') {
			op[n++] = (char)lx->p[lx->i++];
		}
	} else {
		if (peek(lx, 0) == '>' || peek(lx, 0) == '|' ||
		    peek(lx, 0) == '&')
			op[n++] = (char)lx->p[lx->i++];
	}
	op[n] = '\0';

	{
		struct tdm_buf w;

		tdm_buf_init(&w, 64);
		puts_(sh, &w, io);
		puts_(sh, &w, op);
		add_word(sh, c, (const char *)w.data, w.len, W_REDIR, true);
		tdm_buf_free(&w);
	}
	skip_blanks(lx);
	c->redir_next = true;
	if ((strcmp(op, "<<") == 0 || strcmp(op, "<<-") == 0)) {
		size_t before = c->n;

		lex_word(sh, lx, c);
		word_break(sh, c);
		if (c->n > before && lx->nhd < MAX_HEREDOCS && !sh->err) {
			lx->hd[lx->nhd].delim =
				dup_bytes(sh, c->w[c->n - 1].text,
					  strlen(c->w[c->n - 1].text));
			lx->hd[lx->nhd].strip_tabs = op[2] == '-';
			if (lx->hd[lx->nhd].delim != NULL)
				lx->nhd++;
		}
		c->redir_next = false;
		return;
	}
	lex_word(sh, lx, c);
	word_break(sh, c);
	c->redir_next = false;
}

/* <(…) or >(…): lx->i is at the '<' or '>'. */
static void process_subst(struct sh *sh, struct lex *lx, struct cmd *c)
{
	struct tdm_buf inner;
	char open[3] = { (char)lx->p[lx->i], '(', '\0' };
	size_t start;

	lx->i += 2;
	start = lx->i;
	tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
	if (nested_list(sh, lx, &inner)) {
		emit(sh, (const char *)inner.data, inner.len);
		word_put(sh, c, open, 2);
		word_put(sh, c, inner.data, inner.len);
		word_put(sh, c, ")", 1);
		c->cur_plain = false;
	} else {
		word_put(sh, c, open, 2);
		word_put(sh, c, &lx->p[start], lx->i - start);
	}
	word_break(sh, c);
	tdm_buf_free(&inner);
}

/* ---- simple commands and what they wrap --------------------------------- */

static void peel(struct sh *sh, char **w, char **shown, size_t n,
		 const char *redirs, int depth);

static void join(struct sh *sh, struct tdm_buf *b, char **w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			putc_(sh, b, ' ');
		puts_(sh, b, w[i]);
	}
}

static void emit_words(struct sh *sh, char **w, size_t n, const char *redirs)
{
	struct tdm_buf b;

	tdm_buf_init(&b, TDM_SH_MAX_BYTES);
	join(sh, &b, w, n);
	if (redirs[0] != '\0') {
		if (b.len > 0)
			putc_(sh, &b, ' ');
		puts_(sh, &b, redirs);
	}
	emit(sh, (const char *)b.data, b.len);
	tdm_buf_free(&b);
}

/* Runs words[from..n) joined as a shell string: sh -c, eval, ssh. */
static void run_string(struct sh *sh, char **w, size_t n, int depth)
{
	struct tdm_buf s, inner;

	if (n == 0)
		return;
	if (depth + 1 >= TDM_SH_MAX_DEPTH) {
		sh->out->deep = true;
		return;
	}
	tdm_buf_init(&s, TDM_SH_MAX_BYTES);
	tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
	join(sh, &s, w, n);
	parse_string(sh, s.data, s.len, depth + 1, &inner);
	/* The string's own commands joined, for rules about pipelines. */
	emit(sh, (const char *)inner.data, inner.len);
	tdm_buf_free(&s);
	tdm_buf_free(&inner);
}

static const char *base_name(const char *w)
{
	const char *slash = strrchr(w, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : w;
}

static bool is_option(const char *w)
{
	return w[0] == '-' && w[1] != '\0';
}

/*
 * Skips the options of a wrapper at w[k]; with_arg lists the short options
 * that take an argument (attached or next word), long ones take theirs
 * after '=' or as the next word when listed in long_arg.  Returns the
 * index of the first word after the options.
 */
static size_t skip_options(char **w, size_t n, size_t k, const char *with_arg,
			   const char *const *long_arg)
{
	for (k++; k < n && is_option(w[k]); k++) {
		const char *o = w[k];
		size_t j;

		if (strcmp(o, "--") == 0)
			return k + 1;
		if (o[1] == '-') {
			for (j = 0; long_arg != NULL && long_arg[j] != NULL;
			     j++)
				if (strcmp(o + 2, long_arg[j]) == 0) {
					k++;
					break;
				}
			continue;
		}
		/* -abc: an option taking an argument takes the rest, or the
		 * next word when it is last. */
		for (j = 1; o[j] != '\0'; j++) {
			if (with_arg != NULL &&
			    strchr(with_arg, o[j]) != NULL) {
				if (o[j + 1] == '\0')
					k++;
				break;
			}
		}
	}
	/* An option wanting an argument as the last word steps past the end. */
	return k < n ? k : n;
}

static bool is_shell(const char *b)
{
	static const char *const shells[] = { "sh",  "bash", "dash",  "zsh",
					      "ksh", "mksh", "ash",   "fish",
					      "csh", "tcsh", "rbash", NULL };
	size_t i;

	for (i = 0; shells[i] != NULL; i++)
		if (strcmp(b, shells[i]) == 0)
			return true;
	return false;
}

/* sh -c STRING, bash -lc STRING…: the index of STRING, or n. */
static size_t shell_string(char **w, size_t n, size_t k)
{
	bool c = false;

	for (k++; k < n && (is_option(w[k]) || w[k][0] == '+'); k++) {
		if (strcmp(w[k], "--") == 0) {
			k++;
			break;
		}
		if (w[k][1] != '-' && strchr(w[k], 'c') != NULL)
			c = true;
		/* -o OPTION takes the next word. */
		if (strcmp(w[k], "-o") == 0 || strcmp(w[k], "+o") == 0)
			k++;
	}
	return c && k < n ? k : n;
}

/* w[k..k+4] are the five time fields of a crontab line. */
static bool is_cron_time(char **w, size_t n, size_t k)
{
	size_t i;

	if (k + 5 >= n)
		return false;
	for (i = k; i < k + 5; i++)
		if (w[i][0] == '\0' ||
		    strspn(w[i], "0123456789*/,-") != strlen(w[i]))
			return false;
	return true;
}

/*
 * If w[k] wraps another command, returns the index where that command
 * starts (n when it has none); otherwise returns SIZE_MAX.  Strings the
 * wrapper hands to a shell are parsed here.
 */
static size_t unwrap(struct sh *sh, char **w, char **shown, size_t n, size_t k,
		     int depth)
{
	static const char *const sudo_long[] = {
		"user", "group",      "host",  "prompt",     "role",
		"type", "close-from", "chdir", "other-user", "command-timeout",
		NULL
	};
	static const char *const timeout_long[] = { "signal", "kill-after",
						    NULL };
	static const char *const xargs_long[] = {
		"arg-file",	    "delimiter", "max-args", "max-procs",
		"max-chars",	    "max-lines", "replace",  "eof",
		"process-slot-var", NULL
	};
	const char *b = base_name(w[k]);
	size_t i;

	if (strcmp(b, "command") == 0 || strcmp(b, "builtin") == 0 ||
	    strcmp(b, "nohup") == 0 || strcmp(b, "setsid") == 0 ||
	    strcmp(b, "busybox") == 0 || strcmp(b, "unbuffer") == 0 ||
	    strcmp(b, "catchsegv") == 0 || strcmp(b, "fakeroot") == 0)
		return skip_options(w, n, k, NULL, NULL);
	if (strcmp(b, "exec") == 0)
		return skip_options(w, n, k, "a", NULL);
	if (strcmp(b, "time") == 0)
		return skip_options(w, n, k, "fo", NULL);
	if (strcmp(b, "sudo") == 0)
		return skip_options(w, n, k, "ugChpDrtTU", sudo_long);
	if (strcmp(b, "doas") == 0)
		return skip_options(w, n, k, "uC", NULL);
	if (strcmp(b, "nice") == 0)
		return skip_options(w, n, k, "n", NULL);
	if (strcmp(b, "ionice") == 0)
		return skip_options(w, n, k, "cnP", NULL);
	if (strcmp(b, "stdbuf") == 0)
		return skip_options(w, n, k, "ioe", NULL);
	if (strcmp(b, "strace") == 0 || strcmp(b, "ltrace") == 0)
		return skip_options(w, n, k, "abeEoOpPsSuUXn", NULL);
	if (strcmp(b, "taskset") == 0) {
		i = skip_options(w, n, k, NULL, NULL);
		return i < n ? i + 1 : n; /* the CPU mask */
	}
	if (strcmp(b, "env") == 0) {
		for (i = k + 1; i < n; i++) {
			if (strcmp(w[i], "-S") == 0 && i + 1 < n) {
				run_string(sh, &w[i + 1], 1, depth);
				i++;
			} else if (strncmp(w[i], "-S", 2) == 0 && w[i][2]) {
				char *s = w[i] + 2;

				run_string(sh, &s, 1, depth);
			} else if (strcmp(w[i], "-u") == 0 ||
				   strcmp(w[i], "-C") == 0) {
				i++;
			} else if (!is_option(w[i]) &&
				   assignment_name(w[i]) == 0) {
				break;
			}
		}
		return i;
	}
	if (strcmp(b, "timeout") == 0) {
		i = skip_options(w, n, k, "sk", timeout_long);
		return i < n ? i + 1 : n; /* the duration */
	}
	if (strcmp(b, "chroot") == 0) {
		i = skip_options(w, n, k, NULL, NULL);
		return i < n ? i + 1 : n; /* the new root */
	}
	if (strcmp(b, "flock") == 0) {
		for (i = k + 1; i < n && is_option(w[i]); i++) {
			if ((strcmp(w[i], "-c") == 0 ||
			     strcmp(w[i], "--command") == 0) &&
			    i + 1 < n) {
				run_string(sh, &w[i + 1], 1, depth);
				return n;
			}
			if (strcmp(w[i], "-w") == 0 || strcmp(w[i], "-E") == 0)
				i++;
		}
		return i < n ? i + 1 : n; /* the lock file */
	}
	if (strcmp(b, "xargs") == 0)
		return skip_options(w, n, k, "adEILnPs", xargs_long);
	if (strcmp(b, "watch") == 0) {
		i = skip_options(w, n, k, "nq", NULL);
		run_string(sh, &w[i], n - i, depth);
		return n;
	}
	if (sh->echo_text && (w[k][0] == '@' || is_cron_time(w, n, k))) {
		/* A crontab line: its schedule, then the command. */
		return w[k][0] == '@' ? k + 1 : k + 5;
	}
	if ((strcmp(b, "echo") == 0 || strcmp(b, "printf") == 0) &&
	    sh->captured) {
		/* `echo 'curl x | sh' >> ~/.bashrc`: read what is written
		 * as the commands it will be. */
		bool was = sh->echo_text;

		sh->echo_text = true;
		run_string(sh, &w[k + 1], n - k - 1, depth);
		sh->echo_text = was;
		return SIZE_MAX;
	}
	if (strcmp(b, "eval") == 0) {
		run_string(sh, &w[k + 1], n - k - 1, depth);
		return n;
	}
	if (is_shell(b)) {
		i = shell_string(w, n, k);
		if (i < n)
			run_string(sh, &w[i], 1, depth);
		return n;
	}
	if (strcmp(b, "su") == 0 || strcmp(b, "runuser") == 0) {
		for (i = k + 1; i < n; i++) {
			if ((strcmp(w[i], "-c") == 0 ||
			     strcmp(w[i], "--command") == 0 ||
			     strcmp(w[i], "--session-command") == 0) &&
			    i + 1 < n) {
				run_string(sh, &w[i + 1], 1, depth);
				return n;
			}
			if (strncmp(w[i], "--command=", 10) == 0) {
				char *s = w[i] + 10;

				run_string(sh, &s, 1, depth);
				return n;
			}
			if (strcmp(w[i], "--") == 0)
				return i + 1 < n ? i + 1 : n;
			if (strcmp(w[i], "-u") == 0 ||
			    strcmp(w[i], "-g") == 0 || strcmp(w[i], "-s") == 0)
				i++;
		}
		return n;
	}
	if (strcmp(b, "ssh") == 0) {
		i = skip_options(w, n, k, "bcDEeFIiJLlmOopQRSWwB", NULL);
		if (i + 1 < n)
			run_string(sh, &w[i + 1], n - i - 1, depth);
		return n;
	}
	if (strcmp(b, "find") == 0) {
		for (i = k + 1; i < n; i++) {
			size_t j;

			if (strcmp(w[i], "-exec") != 0 &&
			    strcmp(w[i], "-execdir") != 0 &&
			    strcmp(w[i], "-ok") != 0 &&
			    strcmp(w[i], "-okdir") != 0)
				continue;
			for (j = i + 1; j < n && strcmp(w[j], ";") != 0 &&
					strcmp(w[j], "+") != 0;
			     j++)
				;
			if (j > i + 1 && depth + 1 < TDM_SH_MAX_DEPTH)
				peel(sh, &w[i + 1], &shown[i + 1], j - i - 1,
				     "", depth + 1);
			i = j;
		}
		return SIZE_MAX;
	}
	return SIZE_MAX;
}

/*
 * Emits the command w[0..n) (as shown[]) with its redirections, then what
 * it wraps, each stage its own part; a command named by a path is also
 * emitted by its base name.
 */
static void peel(struct sh *sh, char **w, char **shown, size_t n,
		 const char *redirs, int depth)
{
	size_t k = 0, next;

	while (k < n && !stopped(sh)) {
		emit_words(sh, &shown[k], n - k, redirs);
		if (strchr(w[k], '/') != NULL && base_name(w[k]) != w[k] &&
		    strpbrk(w[k], "$() ") == NULL) {
			char *saved = shown[k];

			shown[k] = (char *)base_name(w[k]);
			emit_words(sh, &shown[k], n - k, redirs);
			shown[k] = saved;
		}
		next = unwrap(sh, w, shown, n, k, depth);
		if (next == SIZE_MAX || next <= k)
			break;
		k = next;
	}
}

static bool is_keyword(const struct word *w)
{
	static const char *const words[] = { "!",    "{",    "}",     "if",
					     "then", "else", "elif",  "fi",
					     "do",   "done", "while", "until",
					     NULL };
	size_t i;

	if (w->kind != W_WORD || !w->plain)
		return false;
	for (i = 0; words[i] != NULL; i++)
		if (strcmp(w->text, words[i]) == 0)
			return true;
	return false;
}

static bool is_declaration(const char *w)
{
	return strcmp(w, "export") == 0 || strcmp(w, "readonly") == 0 ||
	       strcmp(w, "declare") == 0 || strcmp(w, "typeset") == 0 ||
	       strcmp(w, "local") == 0;
}

/*
 * What the engineer quoted stays distinguishable from operators in the
 * text the rules see: a quoted word holding a blank or a shell character
 * is written in single quotes again, so `echo "curl x | sh"` does not
 * read as a pipeline, while `"cu"rl x | s'h'` still does.
 */
static char *shown_word(struct sh *sh, const struct word *w)
{
	struct tdm_buf b;
	const char *q;
	char *out;

	tdm_buf_init(&b, TDM_SH_MAX_BYTES);
	if (!w->quoted || strpbrk(w->text, " \t\n|&;<>()'\"\\`$#") == NULL) {
		puts_(sh, &b, w->text);
	} else {
		putc_(sh, &b, '\'');
		for (q = w->text; *q != '\0'; q++) {
			if (*q == '\'')
				puts_(sh, &b, "'\\''");
			else
				putc_(sh, &b, (uint8_t)*q);
		}
		putc_(sh, &b, '\'');
	}
	out = dup_bytes(sh, b.data ? (const char *)b.data : "", b.len);
	tdm_buf_free(&b);
	return out;
}

/* A command is read: add it to the line's text and emit its parts. */
static void finish_command(struct sh *sh, struct cmd *c, int depth, bool piped,
			   struct tdm_buf *text)
{
	struct tdm_buf redirs, one;
	char **argv = NULL, **shown = NULL;
	size_t i, k, nargv = 0, first;

	word_break(sh, c);
	if (c->n == 0 || sh->err)
		return;
	tdm_buf_init(&redirs, TDM_SH_MAX_BYTES);
	tdm_buf_init(&one, TDM_SH_MAX_BYTES);
	argv = calloc(c->n + 1, sizeof(*argv));
	shown = calloc(c->n + 1, sizeof(*shown));
	if (argv == NULL || shown == NULL) {
		sh->err = TDM_ERR_NOMEM;
		goto out;
	}
	/* argv: the words as the program gets them; shown: as rules see
	 * them.  Redirections go last, in the order written. */
	for (i = 0; i < c->n && !sh->err; i++) {
		char *w = shown_word(sh, &c->w[i]);

		if (w == NULL)
			break;
		if (c->w[i].kind == W_REDIR) {
			if (redirs.len > 0)
				putc_(sh, &redirs, ' ');
			puts_(sh, &redirs, w);
			free(w);
		} else {
			shown[nargv] = w;
			argv[nargv++] = c->w[i].text;
		}
	}
	putc_(sh, &redirs, '\0');
	if (redirs.data == NULL || sh->err)
		goto out;

	/* The line's text keeps every word. */
	if (text->len > 0 && text->data[text->len - 1] != ' ')
		putc_(sh, text, ' ');
	join(sh, &one, shown, nargv);
	if (redirs.data[0] != '\0') {
		if (one.len > 0)
			putc_(sh, &one, ' ');
		puts_(sh, &one, (const char *)redirs.data);
	}
	put(sh, text, one.data, one.len);

	/* Reserved words say nothing about what runs. */
	for (first = 0, k = 0; k < c->n && first < nargv; k++) {
		if (c->w[k].kind == W_REDIR)
			continue;
		if (!is_keyword(&c->w[k]))
			break;
		first++;
	}
	if (first == nargv) {
		emit_words(sh, NULL, 0, (const char *)redirs.data);
		goto out;
	}
	for (k = first; k < nargv && assignment_name(argv[k]) > 0; k++)
		;
	if (k == nargv) {
		for (i = first; i < nargv; i++)
			var_set(sh, argv[i]);
		emit_words(sh, &shown[first], nargv - first,
			   (const char *)redirs.data);
		goto out;
	}
	if (is_declaration(argv[k]))
		for (i = k + 1; i < nargv; i++)
			var_set(sh, argv[i]);
	if (k > first)
		emit_words(sh, &shown[first], nargv - first,
			   (const char *)redirs.data);
	sh->captured = piped || depth > 0 ||
		       strchr((const char *)redirs.data, '>') != NULL;
	peel(sh, &argv[k], &shown[k], nargv - k, (const char *)redirs.data,
	     depth);
	sh->captured = false;
out:
	for (i = 0; shown != NULL && i < nargv; i++)
		free(shown[i]);
	free(shown);
	free(argv);
	tdm_buf_free(&one);
	tdm_buf_free(&redirs);
}

/* Reads the commands up to an operator, a close or the end. */
static void parse_command(struct sh *sh, struct lex *lx, struct tdm_buf *text)
{
	struct cmd c;

	cmd_init(&c);
	while (!stopped(sh)) {
		int ch;

		skip_blanks(lx);
		if (at_end(lx))
			break;
		ch = lx->p[lx->i];
		if (ch == '\n' || ch == ';' || ch == '|' || ch == ')')
			break;
		if (ch == '&' && peek(lx, 1) != '>')
			break;
		if (ch == '#') {
			while (!at_end(lx) && lx->p[lx->i] != '\n')
				lx->i++;
			continue;
		}
		if (ch == '(') {
			if (c.n > 0 && peek(lx, 1) == ')') {
				/* name() starts a function definition. */
				size_t len = strlen(c.w[c.n - 1].text);
				char *t = realloc(c.w[c.n - 1].text, len + 3);

				if (t == NULL) {
					sh->err = TDM_ERR_NOMEM;
					break;
				}
				memcpy(t + len, "()", 3);
				c.w[c.n - 1].text = t;
				lx->i += 2;
				/* The body is a command of its own. */
				finish_command(sh, &c, lx->depth, false, text);
				cmd_free(&c);
				cmd_init(&c);
				continue;
			}
			lx->i++;
			{
				struct tdm_buf inner;

				tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
				if (nested_list(sh, lx, &inner)) {
					word_put(sh, &c, "( ", 2);
					word_put(sh, &c, inner.data, inner.len);
					word_put(sh, &c, " )", 2);
					c.cur_plain = false;
					word_break(sh, &c);
				}
				tdm_buf_free(&inner);
			}
			continue;
		}
		if ((ch == '<' || ch == '>') && peek(lx, 1) == '(') {
			process_subst(sh, lx, &c);
			continue;
		}
		if (ch == '<' || ch == '>' || ch == '&') {
			lex_redirection(sh, lx, &c, "");
			continue;
		}
		lex_word(sh, lx, &c);
		if (!at_end(lx) &&
		    (lx->p[lx->i] == '<' || lx->p[lx->i] == '>') &&
		    word_is_digits(&c) && peek(lx, 1) != '(') {
			char io[16];
			size_t len = c.cur.len < sizeof(io) - 1 ?
					     c.cur.len :
					     sizeof(io) - 1;

			memcpy(io, c.cur.data, len);
			io[len] = '\0';
			tdm_buf_reset(&c.cur);
			c.cur_any = false;
			lex_redirection(sh, lx, &c, io);
			continue;
		}
		word_break(sh, &c);
		/* "function NAME": the body that follows is a command. */
		if (c.n == 2 && c.w[0].plain &&
		    strcmp(c.w[0].text, "function") == 0) {
			finish_command(sh, &c, lx->depth, false, text);
			cmd_free(&c);
			cmd_init(&c);
		}
	}
	finish_command(sh, &c, lx->depth,
		       peek(lx, 0) == '|' && peek(lx, 1) != '|', text);
	cmd_free(&c);
}

/* Heredoc bodies start after the newline that ends their command. */
static void read_heredocs(struct sh *sh, struct lex *lx)
{
	size_t h;

	for (h = 0; h < lx->nhd; h++) {
		const char *delim = lx->hd[h].delim;
		size_t dlen = strlen(delim), body = lx->i, body_end = lx->n;
		bool found = false;

		while (!at_end(lx)) {
			size_t line = lx->i, end = line, s = line;

			while (end < lx->n && lx->p[end] != '\n')
				end++;
			if (lx->hd[h].strip_tabs)
				while (s < end && lx->p[s] == '\t')
					s++;
			lx->i = end < lx->n ? end + 1 : end;
			if (end - s == dlen &&
			    memcmp(&lx->p[s], delim, dlen) == 0) {
				body_end = line;
				found = true;
				break;
			}
		}
		if (!found)
			sh->out->open = true;
		if (lx->depth + 1 >= TDM_SH_MAX_DEPTH) {
			sh->out->deep = true;
		} else {
			struct tdm_buf inner;

			tdm_buf_init(&inner, TDM_SH_MAX_BYTES);
			parse_string(sh, &lx->p[body], body_end - body,
				     lx->depth + 1, &inner);
			emit(sh, (const char *)inner.data, inner.len);
			tdm_buf_free(&inner);
		}
		free(lx->hd[h].delim);
		lx->hd[h].delim = NULL;
	}
	lx->nhd = 0;
}

static void parse_list(struct sh *sh, struct lex *lx, int close,
		       struct tdm_buf *text)
{
	while (!stopped(sh)) {
		const char *op;
		int ch;

		parse_command(sh, lx, text);
		skip_blanks(lx);
		if (at_end(lx) || stopped(sh))
			break;
		ch = lx->p[lx->i];
		if (ch == ')') {
			if (close == ')')
				break;
			/* A case pattern's ')', or a stray one. */
			lx->i++;
			op = ")";
		} else if (ch == '\n') {
			lx->i++;
			op = ";";
			if (lx->nhd > 0)
				read_heredocs(sh, lx);
		} else if (ch == ';') {
			lx->i++;
			op = ";";
			if (peek(lx, 0) == ';') {
				lx->i++;
				op = ";;";
			}
		} else if (ch == '&') {
			lx->i++;
			op = "&";
			if (peek(lx, 0) == '&') {
				lx->i++;
				op = "&&";
			}
		} else {
			lx->i++;
			op = "|";
			if (peek(lx, 0) == '|') {
				lx->i++;
				op = "||";
			} else if (peek(lx, 0) == '&') {
				lx->i++;
				op = "|&";
			}
		}
		/*
		 * After a pipe, && or || the command goes on past line breaks
		 * and comments, as the shell reads it; a line that ends there
		 * is not done, and the shell takes the next line as its rest.
		 */
		if (op[0] == '|' || strcmp(op, "&&") == 0) {
			for (;;) {
				skip_blanks(lx);
				if (peek(lx, 0) == '#')
					while (!at_end(lx) &&
					       lx->p[lx->i] != '\n')
						lx->i++;
				if (peek(lx, 0) != '\n')
					break;
				lx->i++;
				if (lx->nhd > 0)
					read_heredocs(sh, lx);
			}
			if (at_end(lx) && lx->top)
				sh->out->open = true;
		}
		if (text->len > 0) {
			putc_(sh, text, ' ');
			puts_(sh, text, op);
		}
	}
	if (lx->nhd > 0) {
		/* Heredocs whose body never came. */
		size_t h;

		for (h = 0; h < lx->nhd; h++)
			free(lx->hd[h].delim);
		lx->nhd = 0;
		sh->out->open = true;
	}
}

static void parse_string(struct sh *sh, const uint8_t *p, size_t n, int depth,
			 struct tdm_buf *text)
{
	struct lex lx;

	memset(&lx, 0, sizeof(lx));
	lx.p = p;
	lx.n = n;
	lx.depth = depth;
	lx.open_at = NO_POS;
	parse_list(sh, &lx, 0, text);
}

/* ---- entry points ------------------------------------------------------- */

/* A part that is the whole line again adds nothing. */
static void drop_whole_line_copies(struct tdm_sh_parts *out)
{
	size_t i, kept = 1;

	for (i = 1; i < out->n; i++) {
		if (strcmp(out->v[i], out->v[0]) == 0)
			free(out->v[i]);
		else
			out->v[kept++] = out->v[i];
	}
	out->n = kept;
}

void tdm_sh_parts_free(struct tdm_sh_parts *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* min + growth × len, but never more than max (nor overflowing). */
static size_t in_proportion(size_t len, size_t min, size_t growth, size_t max)
{
	return len > (max - min) / growth ? max : min + growth * len;
}

int tdm_sh_parts(const uint8_t *line, size_t len, struct tdm_sh_parts *out)
{
	struct tdm_buf text;
	struct sh sh;
	struct lex lx;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&sh, 0, sizeof(sh));
	sh.out = out;
	out->v = calloc(1, sizeof(*out->v));
	if (out->v == NULL)
		return TDM_ERR_NOMEM;
	out->n = 1;
	/* Nested substitutions can multiply a short line many times over;
	 * what the rules must read stays in proportion to what was typed. */
	sh.max_bytes = in_proportion(len, TDM_SH_MIN_BYTES, TDM_SH_GROWTH,
				     TDM_SH_MAX_BYTES);
	sh.max_work = in_proportion(len, TDM_SH_MIN_WORK, TDM_SH_WORK_GROWTH,
				    TDM_SH_MAX_WORK);
	tdm_buf_init(&text, sh.max_bytes);

	memset(&lx, 0, sizeof(lx));
	lx.p = line;
	lx.n = len;
	lx.top = true;
	lx.open_at = NO_POS;
	parse_list(&sh, &lx, 0, &text);
	/*
	 * A quote left open joins this line to the next one, and what follows
	 * the quote may be code there: read it as code too.
	 */
	if (lx.open_at != NO_POS && lx.open_at < len && !stopped(&sh)) {
		struct tdm_buf ignored;

		tdm_buf_init(&ignored, TDM_SH_MAX_BYTES);
		parse_string(&sh, line + lx.open_at, len - lx.open_at, 1,
			     &ignored);
		tdm_buf_free(&ignored);
	}

	rc = sh.err;
	if (rc == 0) {
		out->v[0] = dup_bytes(&sh, text.data ? (char *)text.data : "",
				      text.len);
		rc = sh.err;
	}
	if (rc == 0)
		drop_whole_line_copies(out);
	tdm_buf_free(&text);
	for (i = 0; i < sh.nvars; i++) {
		free(sh.vars[i].name);
		free(sh.vars[i].value);
	}
	if (rc != 0) {
		tdm_sh_parts_free(out);
		return rc;
	}
	return 0;
}
