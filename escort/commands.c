/*
 * commands.c: the escort's subcommands.  Output for people shows commands
 * with control and invisible characters made visible; --json output is
 * one object per line.
 */
#include "commands.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "visible.h"

#define MAX_SESSIONS 1024
/* Sessions attached at once by list (each holds a descriptor). */
#define ATTACH_BATCH 128

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* A refusal in the recorder's words (NULL: none given), control characters
 * shown, not run. */
static void say_refusal(const char *text)
{
	struct tdm_buf vis;

	if (text == NULL)
		text = "refused";
	tdm_buf_init(&vis, 0);
	if (tdm_visible((const uint8_t *)text, strlen(text), &vis) == 0 &&
	    tdm_buf_putc(&vis, '\0') == 0)
		fprintf(stderr, "tandem-escort: %s\n", (char *)vis.data);
	else
		fprintf(stderr, "tandem-escort: refused\n");
	tdm_buf_free(&vis);
}

static void print_json(json_t *o)
{
	/* ASCII only: no raw line separators or bidi controls reach a
	 * terminal or a line-splitting reader. */
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (text != NULL) {
		printf("%s\n", text);
		free(text);
	}
}

static void print_risks(json_t *risks)
{
	size_t i;
	json_t *r;

	json_array_foreach (risks, i, r)
		printf("    risk %s: %s\n", jstr(r, "level"), jstr(r, "why"));
}

/* The width of the terminal stdout is, or 0 when it is none. */
static size_t terminal_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) ||
	    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col < 20)
		return 0;
	return ws.ws_col;
}

/*
 * Marks as the console draws them: a row that goes on at the next ends
 * in MARK_GOES_ON, and a space at a row's edge or at the command's end,
 * where a terminal shows nothing, is MARK_SPACE.  The marks' own
 * characters in the command are written as escapes, so none is faked.
 */
#define MARK_GOES_ON "\xe2\x86\xa9" /* U+21A9 */
#define MARK_SPACE "\xe2\x90\xa3"   /* U+2423 */

static int put_unmarked(struct tdm_buf *vis, const char *text, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (i + 3 <= n && memcmp(text + i, MARK_GOES_ON, 3) == 0) {
			rc = tdm_buf_puts(vis, "\\u21a9");
			i += 2;
		} else if (i + 3 <= n && memcmp(text + i, MARK_SPACE, 3) == 0) {
			rc = tdm_buf_puts(vis, "\\u2423");
			i += 2;
		} else {
			rc = tdm_buf_putc(vis, (uint8_t)text[i]);
		}
	}
	return rc;
}

/*
 * The command's visible form on rows of its own, cut to a terminal of
 * cols columns with the marks above: a terminal that wrapped the line
 * itself would hide a space at a row's end ("srv " then "/cache" reads
 * as "srv/cache").  ASCII takes a column, anything else is counted as
 * two, so a row may end early but never wraps.
 */
static void print_wrapped(const char *visible, size_t cols, const char *indent)
{
	size_t width = cols - strlen(indent) - 2, at = 0, end, used, tail, i;
	struct tdm_buf vis, esc, row;

	tdm_buf_init(&vis, 0);
	tdm_buf_init(&esc, 0);
	if (tdm_visible_has_hidden((const uint8_t *)visible, strlen(visible))) {
		if (tdm_visible((const uint8_t *)visible, strlen(visible),
				&esc) < 0)
			goto out;
		visible = (const char *)esc.data;
		if (tdm_buf_putc(&esc, '\0') < 0)
			goto out;
	}
	if (put_unmarked(&vis, visible, strlen(visible)) < 0)
		goto out;
	tail = vis.len;
	while (tail > 0 && vis.data[tail - 1] == ' ')
		tail--;
	do {
		for (end = at, used = 0; end < vis.len;) {
			size_t w = vis.data[end] < 0x80 ? 1 : 2;

			if (used + w > width && end > at)
				break;
			used += w;
			end++;
			while (end < vis.len && (vis.data[end] & 0xc0) == 0x80)
				end++;
		}
		tdm_buf_init(&row, 0);
		tdm_buf_puts(&row, indent);
		for (i = at; i < end; i++) {
			if (vis.data[i] == ' ' &&
			    (i >= tail || (i == at && at > 0) ||
			     (i + 1 == end && end < vis.len)))
				tdm_buf_puts(&row, MARK_SPACE);
			else
				tdm_buf_putc(&row, vis.data[i]);
		}
		if (end < vis.len)
			tdm_buf_puts(&row, MARK_GOES_ON);
		if (tdm_buf_putc(&row, '\0') == 0)
			printf("%s\n", (char *)row.data);
		tdm_buf_free(&row);
		at = end;
	} while (at < vis.len);
out:
	tdm_buf_free(&vis);
	tdm_buf_free(&esc);
}

/*
 * Each line of text[0..n), indented, with control characters shown: a
 * NUL among them too, as \x00, not as the end of what is shown.  On a
 * terminal of cols columns (0: not one), wrapped with marks.
 */
static void print_lines(const char *text, size_t n, size_t cols)
{
	const char *nl, *end = text + n;
	struct tdm_buf vis;

	while (text < end) {
		nl = memchr(text, '\n', (size_t)(end - text));
		tdm_buf_init(&vis, 0);
		if (tdm_visible((const uint8_t *)text,
				(size_t)((nl ? nl : end) - text), &vis) == 0 &&
		    tdm_buf_putc(&vis, '\0') == 0) {
			if (cols > 0)
				print_wrapped((char *)vis.data, cols, "      ");
			else
				printf("      %s\n", (char *)vis.data);
		}
		tdm_buf_free(&vis);
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

static void print_pending(json_t *p, bool json)
{
	json_t *size, *start;
	size_t cols;

	if (json) {
		print_json(p);
		return;
	}
	cols = terminal_width();
	if (cols > 0) {
		printf("%s #%lld %s@%s:\n", jstr(p, "session"),
		       (long long)json_integer_value(json_object_get(p, "seq")),
		       jstr(p, "engineer"), jstr(p, "target"));
		print_wrapped(jstr(p, "visible"), cols, "    ");
	} else {
		printf("%s #%lld %s@%s: %s\n", jstr(p, "session"),
		       (long long)json_integer_value(json_object_get(p, "seq")),
		       jstr(p, "engineer"), jstr(p, "target"),
		       jstr(p, "visible"));
	}
	print_risks(json_object_get(p, "risks"));
	size = json_object_get(p, "stdin_bytes");
	if (json_is_integer(size)) {
		printf("    stdin: %lld bytes%s; it starts:\n",
		       (long long)json_integer_value(size),
		       json_is_true(json_object_get(p, "stdin_complete")) ?
			       ", then its end" :
			       "");
		start = json_object_get(p, "stdin_preview");
		if (json_is_string(start))
			print_lines(json_string_value(start),
				    json_string_length(start), cols);
	}
}

/* Names the sessions of conns[0..n) that are there but did not answer
 * (not those that refused this escort, or had ended). */
static void say_unanswered(const struct session_conn *conns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (conns[i].fd < 0 && conns[i].unanswered)
			fprintf(stderr, "tandem-escort: %s\n", conns[i].error);
}

int cmd_list(const struct escort_ctx *ctx, int argc, char **argv)
{
	static char ids[MAX_SESSIONS][37];
	static struct session_conn conns[ATTACH_BATCH];
	bool json = false;
	size_t i, n, shown = 0;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr,
				"tandem-escort: list takes only "
				"--json, not %s\n",
				argv[a]);
			return 2;
		}
	}
	n = client_sessions(ctx, ids, MAX_SESSIONS);
	for (i = 0; i < n; i++) {
		struct session_conn *c = &conns[i % ATTACH_BATCH];
		json_t *w, *o;

		/* A batch at a time, each batch at once: a session that
		 * does not answer costs its timeout once per batch. */
		if (i % ATTACH_BATCH == 0) {
			size_t batch = n - i < ATTACH_BATCH ? n - i :
							      ATTACH_BATCH;

			client_attach_all(ctx, ids + i, conns, batch, 3000);
			say_unanswered(conns, batch);
		}
		if (c->fd < 0)
			continue; /* not one this escort may supervise */
		w = c->welcome;
		o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:O,s:b}", "session",
			      ids[i], "engineer", jstr(w, "engineer"), "target",
			      jstr(w, "target"), "started", jstr(w, "started"),
			      "pending", c->pending ? 1 : 0, "escorts",
			      json_object_get(w, "escorts"), "raw",
			      json_is_true(json_object_get(w, "raw")));
		if (o != NULL && json) {
			print_json(o);
		} else if (o != NULL) {
			if (shown == 0)
				printf("%-36s  %-12s %-12s %-20s %s\n",
				       "SESSION", "ENGINEER", "TARGET",
				       "STARTED", "PENDING");
			printf("%-36s  %-12s %-12s %-20s %d\n", ids[i],
			       jstr(w, "engineer"), jstr(w, "target"),
			       jstr(w, "started"), c->pending ? 1 : 0);
		}
		shown++;
		json_decref(o);
		client_close(c);
	}
	if (!json && shown == 0)
		printf("No live sessions you may escort.\n");
	return 0;
}

/*
 * Waits up to timeout_ms for any of the sessions to send, then reads what
 * each has sent, so that every session is read in every pass: one that
 * goes unread while messages wait for it is dropped by its recorder.
 * True when a session had more than one pass may take from it.
 */
static bool read_ready(struct session_conn *conns, size_t n, int timeout_ms)
{
	static struct pollfd pfd[MAX_SESSIONS];
	static size_t at[MAX_SESSIONS];
	size_t i, np = 0;
	bool more = false;
	struct tdm_msg m;
	int j, rc;

	for (i = 0; i < n; i++) {
		if (conns[i].fd < 0 || conns[i].ended)
			continue;
		pfd[np].fd = conns[i].fd;
		pfd[np].events = POLLIN;
		pfd[np].revents = 0;
		at[np++] = i;
		/* Read already (after an attach burst), where poll cannot
		 * see it: look at every session now. */
		if (conns[i].in.len > 0)
			timeout_ms = 0;
	}
	if (poll(pfd, np, timeout_ms) < 0)
		return false;
	for (i = 0; i < np; i++) {
		struct session_conn *c = &conns[at[i]];

		if (pfd[i].revents == 0 && timeout_ms > 0)
			continue;
		/* What has arrived, but not without end from a busy one. */
		rc = 0;
		for (j = 0; j < 64; j++) {
			rc = client_next(c, &m, 0);
			if (rc != 1)
				break;
			tdm_msg_clear(&m);
		}
		if (rc < 0)
			c->ended = true; /* gone, or not the protocol */
		more = more || j == 64;
	}
	return more;
}

int cmd_pending(const struct escort_ctx *ctx, int argc, char **argv)
{
	static char ids[MAX_SESSIONS][37];
	static struct session_conn conns[MAX_SESSIONS];
	bool json = false, seen[MAX_SESSIONS] = { false };
	bool backlog = true; /* the attach bursts may hold more messages */
	long wait_s = 0;
	size_t i, n, found = 0;
	struct timespec t0, t1;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[a], "--wait") == 0 && a + 1 < argc) {
			char *end;

			wait_s = strtol(argv[++a], &end, 10);
			if (*end != '\0' || wait_s < 0 || wait_s > 86400) {
				fprintf(stderr, "tandem-escort: --wait takes "
						"seconds, 0 to 86400\n");
				return 2;
			}
		} else {
			fprintf(stderr,
				"tandem-escort: pending takes "
				"--json and --wait SECONDS, not %s\n",
				argv[a]);
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = client_sessions(ctx, ids, MAX_SESSIONS);
	client_attach_all(ctx, ids, conns, n, 3000);
	say_unanswered(conns, n);
	for (i = 0; i < n; i++) {
		if (conns[i].pending != NULL) {
			print_pending(conns[i].pending, json);
			seen[i] = true;
			found++;
		}
	}
	/* --wait: until something is pending or the time is up. */
	while (found == 0 && wait_s > 0) {
		long elapsed;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		elapsed = (t1.tv_sec - t0.tv_sec) * 1000 +
			  (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (elapsed >= wait_s * 1000)
			break;
		/* Sessions that started while we wait count too. */
		if (n < MAX_SESSIONS) {
			char more[MAX_SESSIONS][37];
			size_t m = client_sessions(ctx, more, MAX_SESSIONS), j,
			       k, had = n;

			for (j = 0; j < m && n < MAX_SESSIONS; j++) {
				for (k = 0; k < n; k++)
					if (strcmp(ids[k], more[j]) == 0)
						break;
				if (k == n)
					memcpy(ids[n++], more[j], 37);
			}
			client_attach_all(ctx, ids + had, conns + had, n - had,
					  3000);
			say_unanswered(conns + had, n - had);
		}
		backlog = read_ready(conns, n, backlog ? 0 : 200);
		for (i = 0; i < n && found == 0; i++) {
			if (conns[i].pending != NULL && !seen[i]) {
				print_pending(conns[i].pending, json);
				seen[i] = true;
				found++;
			}
		}
	}
	for (i = 0; i < n; i++)
		client_close(&conns[i]);
	if (!json && found == 0)
		printf("Nothing is pending.\n");
	return 0;
}

static int parse_seq(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v == 0 || v > 0xffffffffUL)
		return TDM_ERR_INVAL;
	*out = (unsigned)v;
	return 0;
}

/* approve S SEQ | deny S SEQ [--reason T] | kill S [--reason T] | raw S on|off */
int cmd_decide(const struct escort_ctx *ctx, int argc, char **argv)
{
	const char *verb = argv[0], *reason = NULL;
	struct session_conn c;
	struct tdm_msg m;
	unsigned seq = 0;
	bool need_seq = strcmp(verb, "approve") == 0 ||
			strcmp(verb, "deny") == 0;
	bool raw = strcmp(verb, "raw") == 0;
	int a, rc, status = 1;
	json_t *req;
	uint8_t type;

	if (argc < 2 || ((need_seq || raw) && argc < 3)) {
		fprintf(stderr, "tandem-escort: usage: %s SESSION%s\n", verb,
			need_seq ? " SEQ" :
			raw	 ? " on|off" :
				   "");
		return 2;
	}
	a = 2;
	if (need_seq) {
		if (parse_seq(argv[2], &seq) < 0) {
			fprintf(stderr,
				"tandem-escort: %s is not a command "
				"number; `pending` shows them\n",
				argv[2]);
			return 2;
		}
		a = 3;
	} else if (raw) {
		if (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0) {
			fprintf(stderr, "tandem-escort: raw takes on or off\n");
			return 2;
		}
		a = 3;
	}
	for (; a < argc; a++) {
		if (strcmp(argv[a], "--reason") == 0 && a + 1 < argc &&
		    strcmp(verb, "approve") != 0 && !raw) {
			reason = argv[++a];
		} else {
			fprintf(stderr, "tandem-escort: %s: unexpected %s\n",
				verb, argv[a]);
			return 2;
		}
	}
	if (!tdm_session_id_ok(argv[1], strlen(argv[1]))) {
		fprintf(stderr,
			"tandem-escort: %s is not a session id; `list` "
			"shows them\n",
			argv[1]);
		return 2;
	}
	if (client_attach(ctx, argv[1], &c, 5000) < 0) {
		say_refusal(c.error);
		client_close(&c);
		return 1;
	}
	if (strcmp(verb, "approve") == 0) {
		type = TDM_MSG_APPROVE;
		req = json_pack("{s:I}", "seq", (json_int_t)seq);
	} else if (strcmp(verb, "deny") == 0) {
		type = TDM_MSG_DENY;
		req = json_pack("{s:I,s:s?}", "seq", (json_int_t)seq, "reason",
				reason);
	} else if (strcmp(verb, "kill") == 0) {
		type = TDM_MSG_KILL;
		req = json_pack("{s:s?}", "reason", reason);
	} else {
		type = TDM_MSG_RAW;
		req = json_pack("{s:b}", "on", strcmp(argv[2], "on") == 0);
	}
	rc = client_send(&c, type, req);
	if (rc < 0)
		say_refusal(c.error[0] != '\0' ? c.error : NULL);
	while (rc == 0) {
		rc = client_next(&c, &m, 10000);
		if (rc != 1) {
			fprintf(stderr,
				"tandem-escort: session %s did not "
				"confirm; check with `pending`\n",
				c.id);
			break;
		}
		rc = 0;
		if (m.type == TDM_MSG_OK) {
			status = 0;
			tdm_msg_clear(&m);
			break;
		}
		if (m.type == TDM_MSG_ERROR) {
			say_refusal(tdm_msg_str(&m, "error"));
			tdm_msg_clear(&m);
			break;
		}
		tdm_msg_clear(&m);
	}
	client_close(&c);
	return status;
}
