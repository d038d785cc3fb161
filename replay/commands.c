/*
 * commands.c: `tandem-replay commands`, the audit list.
 *
 * Every decision marker (docs/recording.md) becomes one entry: when, which
 * session, engineer and target, which escort decided what and why, the
 * risks the escort was shown and the exact command.  Commands are shown
 * with control and invisible characters made visible; nothing recorded is
 * ever written raw to the investigator's terminal.
 */
#include "replay.h"
#include "base64.h"
#include "buf.h"
#include "err.h"
#include "visible.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_t *rp_marker_json(const struct tdm_event *ev)
{
	const char *tab;
	json_t *j;

	if (ev->code != 'm')
		return NULL;
	/* The details follow the last TAB: compact JSON never holds a raw
	 * one, while the readable label may (an escort's reason), and a
	 * label TAB must not make a decision vanish from the audit. */
	tab = memrchr(ev->text, '\t', ev->text_len);
	if (tab == NULL)
		return NULL;
	tab++;
	/* A NUL typed into a command is \u0000 in its JSON: still the
	 * command, and still listed. */
	j = json_loadb(tab, ev->text_len - (size_t)(tab - ev->text),
		       JSON_ALLOW_NUL, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

const char *rp_verdict_name(enum tdm_verdict v)
{
	switch (v) {
	case TDM_VERDICT_SEALED:
		return "sealed";
	case TDM_VERDICT_UNSEALED:
		return "unsealed";
	case TDM_VERDICT_TAMPERED:
		break;
	}
	return "tampered";
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* A field of m copied when it has the expected type, else null. */
static json_t *field(json_t *m, const char *key, int (*is)(const json_t *))
{
	json_t *v = json_object_get(m, key);

	return v != NULL && is(v) ? json_incref(v) : json_null();
}

static int is_string(const json_t *v)
{
	return json_is_string(v);
}

static int is_integer(const json_t *v)
{
	return json_is_integer(v);
}

static int is_array(const json_t *v)
{
	return json_is_array(v);
}

/* The audit entry for a decision marker, in the pinned --json shape. */
static json_t *decision_entry(const struct tdm_rec_header *h,
			      const struct tdm_event *ev, json_t *m,
			      const char *path)
{
	char when[32];
	json_t *e;

	rp_iso_time(h != NULL ? h->timestamp : 0, ev->t_us, when, sizeof(when));
	e = json_object();
	if (e == NULL)
		return NULL;
	json_object_set_new(e, "time", json_string(when));
	json_object_set_new(e, "session", str_or_null(h ? h->session : NULL));
	json_object_set_new(e, "seq", field(m, "seq", is_integer));
	json_object_set_new(e, "engineer", str_or_null(h ? h->engineer : NULL));
	json_object_set_new(e, "target", str_or_null(h ? h->target : NULL));
	json_object_set_new(e, "escort", field(m, "escort", is_string));
	json_object_set_new(e, "decision", field(m, "decision", is_string));
	json_object_set_new(e, "reason", field(m, "reason", is_string));
	json_object_set_new(e, "risks", field(m, "risks", is_array));
	json_object_set_new(e, "command", field(m, "command", is_string));
	json_object_set_new(e, "command_b64",
			    field(m, "command_b64", is_string));
	/* A decision on more stdin for the command, not on the command. */
	if (json_is_string(json_object_get(m, "kind")))
		json_object_set_new(e, "kind", field(m, "kind", is_string));
	if (json_is_integer(json_object_get(m, "stdin_bytes")))
		json_object_set_new(e, "stdin_bytes",
				    field(m, "stdin_bytes", is_integer));
	json_object_set_new(e, "bastion", str_or_null(h ? h->bastion : NULL));
	json_object_set_new(e, "t", json_real((double)ev->t_us / 1e6));
	json_object_set_new(e, "file", json_string(path));
	return e;
}

/* What search needs of the session besides its entries. */
static json_t *session_of(const struct tdm_rec_header *h,
			  const struct tdm_verify *v)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:O,s:s,s:s}", "start",
			 (json_int_t)(h != NULL ? h->timestamp : 0), "session",
			 str_or_null(h ? h->session : NULL), "engineer",
			 str_or_null(h ? h->engineer : NULL), "target",
			 str_or_null(h ? h->target : NULL), "bastion",
			 str_or_null(h ? h->bastion : NULL), "attrs",
			 h != NULL && h->attrs != NULL ? h->attrs : json_null(),
			 "verify", rp_verdict_name(v->verdict), "why", v->why);
}

/* Worse verdicts rank higher: tampered, unsealed, sealed. */
static int verdict_rank(enum tdm_verdict v)
{
	return v == TDM_VERDICT_TAMPERED ? 2 :
	       v == TDM_VERDICT_UNSEALED ? 1 :
					   0;
}

int rp_decisions_open(const char *path, const struct tdm_trust *keys,
		      struct rp_decisions *d)
{
	struct tdm_castread *first;
	int rc;

	memset(d, 0, sizeof(*d));
	d->path = path;
	/* First the verdict, reading the frames without decoding them:
	 * then each entry is whole when it is handed on, and none is kept
	 * (a small file can hold gigabytes of decisions). */
	if (rp_open(path, &d->fd, &first) < 0)
		return -1;
	rp_verdict(path, first, keys, &d->v);
	tdm_castread_verify(first, &d->first);
	tdm_castread_free(first);
	rc = tdm_castread_open(d->fd, path, &d->r);
	if (rc < 0) {
		rp_say(stderr, "tandem-replay: cannot read %s: %s", path,
		       tdm_strerror(rc));
		close(d->fd);
		return -1;
	}
	tdm_castread_keep_link(d->r, d->first.links);
	d->h = tdm_castread_header(d->r);
	d->session = session_of(d->h, &d->v);
	if (d->session == NULL) {
		fprintf(stderr, "tandem-replay: out of memory\n");
		rp_close(d->fd, d->r);
		return -1;
	}
	return 0;
}

int rp_decisions_next(struct rp_decisions *d, json_t **entry)
{
	struct tdm_event ev;
	json_t *m, *e, *decision;

	while (tdm_castread_next(d->r, &ev) == 1) {
		m = rp_marker_json(&ev);
		if (m == NULL)
			continue;
		decision = json_object_get(m, "event");
		e = json_is_string(decision) &&
				    strcmp(json_string_value(decision),
					   "decision") == 0 ?
			    decision_entry(d->h, &ev, m, d->path) :
			    NULL;
		json_decref(m);
		if (e == NULL)
			continue;
		json_object_set_new(e, "verify",
				    json_string(rp_verdict_name(d->v.verdict)));
		/* Covered by a link that matched: not changed since. */
		json_object_set_new(e, "intact",
				    json_boolean(ev.frame < d->v.good_frames));
		*entry = e;
		return 1;
	}
	return 0;
}

/*
 * Whether the second reading read what the first verified: the same link
 * where the first's chain ended (so the same bytes up to it), and for a
 * sealed file the same seal.  A file that grew after the first reading
 * (a session still recording) passes: what came later is NOT VERIFIED.
 */
static bool read_what_was_verified(struct rp_decisions *d,
				   const struct tdm_verify *again)
{
	uint8_t link[TDM_LINK_SIZE];

	if (d->first.links > 0 &&
	    (tdm_castread_kept_link(d->r, link) < 0 ||
	     memcmp(link, d->first.good_link, sizeof(link)) != 0))
		return false;
	if (d->first.verdict == TDM_VERDICT_SEALED &&
	    (again->verdict != TDM_VERDICT_SEALED ||
	     strcmp(again->last_link, d->first.last_link) != 0 ||
	     memcmp(again->signer, d->first.signer, TDM_ED25519_PUB) != 0))
		return false;
	return verdict_rank(again->verdict) <= verdict_rank(d->first.verdict);
}

int rp_decisions_close(struct rp_decisions *d)
{
	struct tdm_verify again;
	int rc = 0;

	if (tdm_castread_problems(d->r) > 0)
		rp_say(stderr, "tandem-replay: warning: %s",
		       tdm_castread_problem(d->r));
	tdm_castread_verify(d->r, &again);
	if (!read_what_was_verified(d, &again)) {
		rp_say(stderr,
		       "tandem-replay: %s changed while it was read: what "
		       "was listed may not be what was verified; read it "
		       "again",
		       d->path);
		rc = -1;
	}
	json_decref(d->session);
	rp_close(d->fd, d->r);
	d->session = NULL;
	d->r = NULL;
	d->fd = -1;
	return rc;
}

static void put_visible(struct tdm_buf *b, const char *s)
{
	if (s != NULL)
		tdm_visible((const uint8_t *)s, strlen(s), b);
}

/* One line for a person: time, who, where, decision, risks, command. */
void rp_entry_line(json_t *e, struct tdm_buf *line)
{
	const char *decision =
		json_string_value(json_object_get(e, "decision"));
	const char *escort = json_string_value(json_object_get(e, "escort"));
	const char *reason = json_string_value(json_object_get(e, "reason"));
	const char *b64 = json_string_value(json_object_get(e, "command_b64"));
	const char *cmd = json_string_value(json_object_get(e, "command"));
	json_t *risks = json_object_get(e, "risks"), *risk;
	struct tdm_buf exact;
	size_t i;

	tdm_buf_init(&exact, 0);
	tdm_buf_printf(line, "%s  ",
		       json_string_value(json_object_get(e, "time")));
	put_visible(line, json_string_value(json_object_get(e, "engineer")));
	tdm_buf_putc(line, '@');
	put_visible(line, json_string_value(json_object_get(e, "target")));
	tdm_buf_printf(
		line, "  #%lld  ",
		(long long)json_integer_value(json_object_get(e, "seq")));
	put_visible(line, decision != NULL ? decision : "?");
	if (escort != NULL) {
		tdm_buf_puts(line, " by ");
		put_visible(line, escort);
	}
	if (reason != NULL) {
		tdm_buf_puts(line, " (");
		put_visible(line, reason);
		tdm_buf_putc(line, ')');
	}
	tdm_buf_puts(line, "  [");
	json_array_foreach (risks, i, risk) {
		if (i > 0)
			tdm_buf_puts(line, "; ");
		put_visible(line,
			    json_string_value(json_object_get(risk, "level")));
		tdm_buf_puts(line, ": ");
		put_visible(line,
			    json_string_value(json_object_get(risk, "why")));
	}
	tdm_buf_puts(line, "]  ");
	if (json_is_string(json_object_get(e, "kind")) &&
	    strcmp(json_string_value(json_object_get(e, "kind")), "input") == 0)
		tdm_buf_printf(line, "%lld bytes of input to: ",
			       (long long)json_integer_value(
				       json_object_get(e, "stdin_bytes")));
	/* The exact bytes when recorded, so nothing hides in repair. */
	if (b64 != NULL && tdm_b64_decode(&exact, b64, strlen(b64)) == 0)
		tdm_visible(exact.data != NULL ? exact.data :
						 (const uint8_t *)"",
			    exact.len, line);
	else
		put_visible(line, cmd);
	if (!json_is_true(json_object_get(e, "intact")))
		tdm_buf_puts(line, "  (NOT VERIFIED)");
	tdm_buf_free(&exact);
}

void rp_entry_print(json_t *e, int as_json)
{
	char *line;

	if (!as_json) {
		struct tdm_buf b;

		tdm_buf_init(&b, 0);
		rp_entry_line(e, &b);
		printf("%s\n", b.data != NULL ? (const char *)b.data : "");
		tdm_buf_free(&b);
		return;
	}
	line = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER |
				     JSON_ENSURE_ASCII |
				     JSON_REAL_PRECISION(15));
	if (line != NULL)
		printf("%s\n", line);
	free(line);
}

void rp_put_line(FILE *f, const char *text)
{
	struct tdm_buf vis;

	/* Text made by tandem is escaped already; what is not (a forged
	 * index row, a file name) is escaped here. */
	if (!tdm_visible_has_hidden((const uint8_t *)text, strlen(text))) {
		fprintf(f, "%s\n", text);
		return;
	}
	tdm_buf_init(&vis, 0);
	if (tdm_visible((const uint8_t *)text, strlen(text), &vis) == 0 &&
	    tdm_buf_putc(&vis, '\0') == 0)
		fprintf(f, "%s\n", (const char *)vis.data);
	tdm_buf_free(&vis);
}

void rp_say(FILE *f, const char *fmt, ...)
{
	char line[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rp_put_line(f, line);
}

void rp_verdict_warn(const char *path, const char *verdict, const char *why)
{
	if (strcmp(verdict, "sealed") != 0)
		rp_say(stderr, "tandem-replay: warning: %s is %s: %s", path,
		       strcmp(verdict, "tampered") == 0 ? "TAMPERED" :
							  "UNSEALED",
		       why);
}

static void commands_usage(FILE *f)
{
	fprintf(f, "usage: tandem-replay commands FILE|DIR... [--json]\n"
		   "\n"
		   "The audit list: every decision on a command, with time, "
		   "engineer,\ntarget, escort, decision, risks and the exact "
		   "command.  --json: one\nobject per line.\n");
}

int rp_cmd_commands(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rp_paths paths = { 0 };
	struct rp_decisions d;
	json_t *e;
	size_t i;
	int c, as_json = 0, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = 1;
			break;
		case 'h':
			commands_usage(stdout);
			return 0;
		default:
			commands_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		commands_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_paths_collect(argv + optind, argc - optind, &paths) < 0)
		status = RP_EXIT_ERROR;
	for (i = 0; i < paths.n; i++) {
		if (rp_decisions_open(paths.path[i], rp_bastion_keys, &d) < 0) {
			status = RP_EXIT_ERROR;
			continue;
		}
		while (rp_decisions_next(&d, &e) == 1) {
			rp_entry_print(e, as_json);
			json_decref(e);
		}
		if (rp_decisions_close(&d) < 0)
			status = RP_EXIT_ERROR;
		rp_verdict_warn(paths.path[i], rp_verdict_name(d.v.verdict),
				d.v.why);
	}
	status = rp_none_found(paths.n, status);
	if (paths.n > 0)
		rp_note_unpinned();
	rp_paths_free(&paths);
	return status;
}
