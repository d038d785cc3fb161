/*
 * search.c: `tandem-replay search`, decisions across many recordings.
 *
 * Entries read from recordings go through rp_filter_match; the index
 * (index.c) applies the same filters in SQL, with the same regex and the
 * same times, leaving only --attr (rp_filter_attrs_match, once per
 * session).  So search gives the same results with the index, without
 * it, or with an index that is out of date (recordings it does not cover
 * as they are now are read directly); test_replay_search holds them
 * equal.  Output is exactly `commands`' for the same entries: the index
 * keeps each entry's line as `commands` renders it, so text output needs
 * no JSON decoded.
 */
#include "replay.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- dates -------------------------------------------------------------- */

static bool digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * YYYY-MM-DD, or ISO 8601 YYYY-MM-DDTHH:MM[:SS[.FRACTION]][Z|+HH:MM|
 * -HH:MM|+HHMM] (a space for the T is fine; no zone is UTC).  *us is
 * the first microsecond the text names, or, for until, the last one: a
 * day, a minute or a second is taken whole.
 */
static int parse_when(const char *s, bool until, int64_t *us)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, zh = 0, zm = 0, sign = 0;
	int64_t frac_us = 0, span_us, scale = 100000;
	const char *p = s;
	time_t t;

	if (strlen(s) < 10 || !digits(p, 4, &y) || p[4] != '-' ||
	    !digits(p + 5, 2, &mo) || p[7] != '-' || !digits(p + 8, 2, &d))
		return -1;
	p += 10;
	span_us = 86400000000LL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (!digits(p + 1, 2, &h) || p[3] != ':' ||
		    !digits(p + 4, 2, &mi))
			return -1;
		p += 6;
		span_us = 60000000LL;
		if (*p == ':') {
			if (!digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			span_us = 1000000LL;
			if (*p == '.' || *p == ',') {
				if (!isdigit((unsigned char)p[1]))
					return -1;
				for (p++; isdigit((unsigned char)*p); p++) {
					frac_us += (*p - '0') * scale;
					scale /= 10;
				}
				span_us = scale > 0 ? scale * 10 : 1;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p == '+' ? 1 : -1;
			if (!digits(p + 1, 2, &zh))
				return -1;
			p += 3;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p)) {
				if (!digits(p, 2, &zm))
					return -1;
				p += 2;
			}
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || zh > 23 || zm > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm moves 2024-02-30 to March: that date does not exist. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*us = ((int64_t)t - sign * (zh * 3600 + zm * 60)) * 1000000 + frac_us;
	if (until)
		*us += span_us - 1;
	return 0;
}

/* ---- the command's regular expression ----------------------------------- */

/*
 * What the index narrows with before the regex itself decides: strings
 * one of which every match of re contains (relit.h).  FTS5's trigram
 * tokenizer needs three characters of each, and whole UTF-8 ones: a set
 * with a shorter or non-ASCII string narrows nothing.
 */
static int command_literals(struct rp_filter *f, const char *re)
{
	size_t i;
	const unsigned char *c;

	if (tdm_relit_required(re, &f->need) < 0)
		return -1;
	for (i = 0; i < f->need.n; i++) {
		if (strlen(f->need.lit[i]) < 3)
			break;
		for (c = (const unsigned char *)f->need.lit[i]; *c != '\0'; c++)
			if (*c < 0x20 || *c >= 0x7f)
				break;
		if (*c != '\0')
			break;
	}
	if (i < f->need.n)
		tdm_relit_free(&f->need);
	return 0;
}

/* ---- matching ---------------------------------------------------------- */

int64_t rp_entry_time_us(json_t *entry, json_t *session)
{
	json_t *t = json_object_get(entry, "t");
	double secs = json_is_number(t) ? json_number_value(t) : 0;
	int64_t start = json_integer_value(json_object_get(session, "start"));

	if (!(secs >= 0 && secs < 1e10))
		secs = 0;
	/* A forged header's start may be anything: kept to years 1970 to
	 * 9999, so the sum cannot overflow. */
	if (start < 0)
		start = 0;
	if (start > RP_LAST_START)
		start = RP_LAST_START;
	return start * 1000000 + (int64_t)(secs * 1e6 + 0.5);
}

static bool str_is(json_t *v, const char *want)
{
	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

int rp_filter_attrs_match(const struct rp_filter *f, json_t *session)
{
	json_t *attrs = json_object_get(session, "attrs");
	const char *eq;
	char key[256];
	size_t i, klen;

	for (i = 0; i < f->nattr; i++) {
		eq = strchr(f->attr[i], '=');
		klen = (size_t)(eq - f->attr[i]);
		if (klen >= sizeof(key))
			return 0;
		memcpy(key, f->attr[i], klen);
		key[klen] = '\0';
		if (!str_is(json_object_get(attrs, key), eq + 1))
			return 0;
	}
	return 1;
}

int rp_filter_match(const struct rp_filter *f, json_t *entry, json_t *session)
{
	json_t *cmd;
	int64_t when;

	if (f->engineer != NULL &&
	    !str_is(json_object_get(entry, "engineer"), f->engineer))
		return 0;
	if (f->target != NULL &&
	    !str_is(json_object_get(entry, "target"), f->target))
		return 0;
	if (f->escort != NULL &&
	    !str_is(json_object_get(entry, "escort"), f->escort))
		return 0;
	if (f->has_since || f->has_until) {
		when = rp_entry_time_us(entry, session);
		if ((f->has_since && when < f->since_us) ||
		    (f->has_until && when > f->until_us))
			return 0;
	}
	if (!rp_filter_attrs_match(f, session))
		return 0;
	if (f->has_command) {
		cmd = json_object_get(entry, "command");
		if (!json_is_string(cmd) ||
		    !rp_command_match(&f->command, json_string_value(cmd),
				      json_string_length(cmd)))
			return 0;
	}
	return 1;
}

int rp_command_match(const regex_t *re, const char *s, size_t len)
{
	regmatch_t span[1];

	span[0].rm_so = 0;
	span[0].rm_eo = (regoff_t)len;
	return regexec(re, s, 1, span, REG_STARTEND) == 0;
}

/* ---- the subcommand ---------------------------------------------------- */

struct search {
	struct rp_filter f;
	int as_json, use_index;
	const char *db;
	size_t files, from_index, matches;
};

static void search_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-replay search DIR|FILE... [--command REGEX] "
		"[--engineer N]\n"
		"         [--escort N] [--target N] [--since DATE] [--until "
		"DATE]\n"
		"         [--attr K=V]... [--json] [--no-index] [--db FILE]\n"
		"\n"
		"Decisions on commands across recordings, as `commands` "
		"lists them, that\nmatch every filter given:\n"
		"  --command REGEX  POSIX extended regex over the command "
		"(anywhere in it)\n"
		"  --engineer N, --escort N, --target N   exactly that name\n"
		"  --since DATE, --until DATE   YYYY-MM-DD (whole day) or ISO "
		"8601\n"
		"                   (2024-11-24T10:00:00Z, +02:00; no zone: "
		"UTC); inclusive\n"
		"  --attr K=V       the engineer's policy attribute K is V "
		"(repeatable)\n"
		"  --json           one object per line, as commands --json\n"
		"  --no-index       read every recording, ignore the index\n"
		"  --db FILE        the index is FILE (one DIR only), not "
		"DIR/" RP_INDEX_NAME "\n"
		"\n"
		"The index (tandem-replay index DIR) makes search fast; "
		"recordings it\ndoes not cover as they are now are read "
		"directly, so the results are\nthe same with it, without it, "
		"or with it out of date.\n");
}

static void emit(struct search *s, json_t *e)
{
	s->matches++;
	rp_entry_print(e, s->as_json);
}

/* Reads one recording and prints its matching entries. */
static int scan(struct search *s, const char *path)
{
	struct rp_decisions d;
	json_t *e;
	size_t hits = 0;
	int rc;

	s->files++;
	if (rp_decisions_open(path, rp_bastion_keys, &d) < 0)
		return -1;
	while (rp_decisions_next(&d, &e) == 1) {
		if (rp_filter_match(&s->f, e, d.session)) {
			emit(s, e);
			hits++;
		}
		json_decref(e);
	}
	rc = rp_decisions_close(&d);
	if (hits > 0)
		rp_verdict_warn(path, rp_verdict_name(d.v.verdict), d.v.why);
	return rc;
}

struct row {
	int have;
	char *rel;
	const char *line; /* text output: the entry's line, no entry */
	json_t *entry, *session;
};

static void row_drop(struct row *r)
{
	free(r->rel);
	json_decref(r->entry);
	json_decref(r->session);
	r->rel = NULL;
	r->line = NULL;
	r->entry = r->session = NULL;
	r->have = 0;
}

/* as_json: the entry decoded; otherwise its line only. */
static int row_next(struct rp_index *ix, struct row *r, int as_json)
{
	const char *rel;
	int rc;

	row_drop(r);
	rc = rp_index_next(ix, &rel, &r->entry, as_json ? NULL : &r->line,
			   &r->session);
	if (rc <= 0)
		return rc;
	r->rel = strdup(rel);
	if (r->rel == NULL) {
		row_drop(r);
		return -1;
	}
	r->have = 1;
	return 1;
}

/*
 * One directory: recordings the index covers as they are now come from
 * the index, in the same order as the walk; the rest are read.
 */
static int search_dir(struct search *s, const char *dir)
{
	struct rp_paths paths = { 0 };
	struct rp_index *ix = NULL;
	struct row row = { 0 };
	struct tdm_buf db;
	struct stat st;
	const char *rel, *verify = NULL, *why = NULL;
	char *arg = (char *)dir;
	size_t i, hits;
	int rc = 0, fresh;

	tdm_buf_init(&db, 0);
	if (rp_paths_collect(&arg, 1, &paths) < 0)
		rc = -1;
	if (s->use_index) {
		if (s->db != NULL)
			tdm_buf_puts(&db, s->db);
		else
			tdm_buf_printf(&db, "%s/" RP_INDEX_NAME, dir);
		if (db.data == NULL ||
		    rp_index_open_ro((const char *)db.data, &ix) < 0) {
			fprintf(stderr,
				"tandem-replay: note: searching the "
				"recordings in %s without the index\n",
				dir);
			ix = NULL;
		}
		if (ix != NULL && (rp_index_query(ix, &s->f) < 0 ||
				   row_next(ix, &row, s->as_json) < 0)) {
			rp_index_close(ix);
			ix = NULL;
			row_drop(&row);
		}
	}
	for (i = 0; i < paths.n; i++) {
		rel = rp_rel_path(dir, paths.path[i]);
		while (row.have && strcmp(row.rel, rel) < 0)
			if (row_next(ix, &row, s->as_json) < 0)
				goto index_failed;
		fresh = ix != NULL && stat(paths.path[i], &st) == 0 &&
			rp_index_fresh(ix, rel, &st);
		if (!fresh) {
			if (scan(s, paths.path[i]) < 0)
				rc = -1;
			continue;
		}
		s->files++;
		s->from_index++;
		hits = 0;
		while (row.have && strcmp(row.rel, rel) == 0) {
			/* The index matched every filter but --attr. */
			if (rp_filter_attrs_match(&s->f, row.session)) {
				if (row.entry != NULL) {
					json_object_set_new(
						row.entry, "file",
						json_string(paths.path[i]));
					emit(s, row.entry);
				} else {
					s->matches++;
					rp_put_line(stdout, row.line);
				}
				if (hits++ == 0) {
					verify = json_string_value(
						json_object_get(row.session,
								"verify"));
					why = json_string_value(json_object_get(
						row.session, "why"));
					rp_verdict_warn(paths.path[i],
							verify ? verify : "?",
							why ? why : "");
				}
			}
			if (row_next(ix, &row, s->as_json) < 0)
				goto index_failed;
		}
	}
	goto out;
index_failed:
	/* Cannot happen with a sound index; the rest is read directly. */
	fprintf(stderr,
		"tandem-replay: the index of %s failed part way; "
		"reading the rest of the recordings\n",
		dir);
	for (i++; i < paths.n; i++)
		if (scan(s, paths.path[i]) < 0)
			rc = -1;
out:
	row_drop(&row);
	rp_index_close(ix);
	rp_paths_free(&paths);
	tdm_buf_free(&db);
	return rc;
}

static void filter_free(struct rp_filter *f)
{
	if (f->has_command)
		regfree(&f->command);
	tdm_relit_free(&f->need);
}

int rp_cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "command", required_argument, NULL, 'c' },
		{ "engineer", required_argument, NULL, 'e' },
		{ "escort", required_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "attr", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-index", no_argument, NULL, 'n' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct search s = { .use_index = 1 };
	struct stat st;
	char err[256];
	int c, i, rc, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (s.f.has_command) {
				fprintf(stderr,
					"tandem-replay: give --command "
					"once; combine with | in the regex\n");
				goto usage;
			}
			rc = regcomp(&s.f.command, optarg,
				     REG_EXTENDED | REG_NOSUB);
			if (rc != 0) {
				regerror(rc, &s.f.command, err, sizeof(err));
				fprintf(stderr,
					"tandem-replay: --command "
					"\"%s\" is not a POSIX extended regular "
					"expression: %s\n",
					optarg, err);
				goto usage;
			}
			s.f.has_command = 1;
			if (command_literals(&s.f, optarg) < 0) {
				fprintf(stderr, "tandem-replay: out of "
						"memory\n");
				goto usage;
			}
			break;
		case 'e':
			s.f.engineer = optarg;
			break;
		case 's':
			s.f.escort = optarg;
			break;
		case 't':
			s.f.target = optarg;
			break;
		case 'S':
		case 'U':
			if (parse_when(optarg, c == 'U',
				       c == 'S' ? &s.f.since_us :
						  &s.f.until_us) < 0) {
				fprintf(stderr,
					"tandem-replay: --%s \"%s\" is "
					"not a date; use YYYY-MM-DD or ISO "
					"8601 such as 2024-11-24T10:00:00Z\n",
					c == 'S' ? "since" : "until", optarg);
				goto usage;
			}
			if (c == 'S')
				s.f.has_since = 1;
			else
				s.f.has_until = 1;
			break;
		case 'a':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=' ||
			    s.f.nattr ==
				    sizeof(s.f.attr) / sizeof(s.f.attr[0])) {
				fprintf(stderr,
					"tandem-replay: --attr \"%s\": "
					"give KEY=VALUE, e.g. --attr "
					"clearance=secret (at most 16)\n",
					optarg);
				goto usage;
			}
			s.f.attr[s.f.nattr++] = optarg;
			break;
		case 'j':
			s.as_json = 1;
			break;
		case 'n':
			s.use_index = 0;
			break;
		case 'd':
			s.db = optarg;
			break;
		case 'h':
			search_usage(stdout);
			filter_free(&s.f);
			return 0;
		default:
			search_usage(stderr);
			filter_free(&s.f);
			return RP_EXIT_USAGE;
		}
	}
	if (optind >= argc || (s.db != NULL && optind != argc - 1)) {
		search_usage(stderr);
		filter_free(&s.f);
		return RP_EXIT_USAGE;
	}
	for (i = optind; i < argc; i++) {
		if (stat(argv[i], &st) < 0) {
			rp_say(stderr,
			       "tandem-replay: %s: %s (give a "
			       "recording file or a directory of them)",
			       argv[i], strerror(errno));
			status = RP_EXIT_ERROR;
		} else if (S_ISDIR(st.st_mode)) {
			if (search_dir(&s, argv[i]) < 0)
				status = RP_EXIT_ERROR;
		} else if (scan(&s, argv[i]) < 0) {
			status = RP_EXIT_ERROR;
		}
	}
	status = rp_none_found(s.files, status);
	if (s.files > 0)
		rp_note_unpinned();
	if (isatty(STDERR_FILENO))
		fprintf(stderr,
			"tandem-replay: %zu match%s in %zu "
			"recording%s (%zu from the index)\n",
			s.matches, s.matches == 1 ? "" : "es", s.files,
			s.files == 1 ? "" : "s", s.from_index);
	filter_free(&s.f);
	return status;
usage:
	filter_free(&s.f);
	return RP_EXIT_USAGE;
}
