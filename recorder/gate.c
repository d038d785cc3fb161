/*
 * gate.c: nothing reaches the target except through gate_release().
 *
 * gate_release() records the bytes ("i" event) and only then queues them
 * for the channel.  A pending command is released only by gate_decide(),
 * and only after its decision marker has been written and fdatasync'ed
 * (write-ahead).  If the recording cannot be written the session freezes
 * and the bytes are dropped, never sent unrecorded.
 *
 * Without a PTY the engineer's stdin is released the same way: in parts,
 * each fixed before an escort sees it.  The command's own pending shows
 * the stdin that had come by then; what comes later is held and asked
 * for as the next part ("input"), and so is the end of input.  A part is
 * cut once the stdin ends, fills the hold, pauses GATE_INPUT_QUIET_MS, or
 * has grown for GATE_INPUT_MAX_MS; an upload that ends at once is one
 * decision with its command.
 */
#include "gate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "err.h"
#include "escorts.h"
#include "log.h"
#include "probe.h"
#include "target.h"
#include "visible.h"

#define GATE_INPUT_QUIET_MS 200u
#define GATE_INPUT_MAX_MS 2000u

static int gate_release(struct session *s, const uint8_t *p, size_t n)
{
	int rc;

	if (s->frozen || s->channel == NULL)
		return TDM_ERR_IO;
	rc = tdm_cast_input(s->cast, p, n);
	if (rc < 0) {
		s->frozen = true;
		return rc;
	}
	rc = tdm_buf_put(&s->to_target, p, n);
	if (rc < 0)
		return rc;
	s->bytes_in += n;
	return gate_pump(s);
}

int gate_pump(struct session *s)
{
	if (s->channel == NULL)
		return 0;
	while (s->to_target.len > 0 && !s->frozen) {
		uint32_t window = ssh_channel_window_size(s->channel);
		size_t n = s->to_target.len;
		int wrote;

		if (window == 0)
			return 0;
		if (n > window)
			n = window;
		/* Never more than the window: a write that waits for the
		 * window would stop us reading the target, and both sides
		 * would wait for each other. */
		wrote = ssh_channel_write(s->channel, s->to_target.data,
					  (uint32_t)n);
		if (wrote < 0)
			return TDM_ERR_SSH;
		tdm_buf_consume(&s->to_target, (size_t)wrote);
		if (wrote == 0)
			return 0;
	}
	if (s->eof_approved && s->to_target.len == 0 && !s->eof_sent &&
	    !s->frozen) {
		s->eof_sent = true;
		if (ssh_channel_send_eof(s->channel) != SSH_OK)
			return TDM_ERR_SSH;
	}
	return 0;
}

int gate_init(struct session *s)
{
	lineedit_init(&s->le);
	tdm_buf_init(&s->pending.command, 0);
	tdm_buf_init(&s->pending.send, 0);
	tdm_buf_init(&s->held, LINEEDIT_MAX);
	tdm_buf_init(&s->stdin_held, SESSION_MAX_HELD);
	tdm_buf_init(&s->input_tail, SESSION_TAIL_MAX);
	tdm_buf_init(&s->screen, 0);
	tdm_buf_init(&s->last_line, 512);
	tdm_buf_init(&s->carry, LINEEDIT_MAX);
	s->line_mode = s->tty;
	return 0;
}

void gate_free(struct session *s)
{
	lineedit_free(&s->le);
	tdm_buf_free(&s->pending.command);
	tdm_buf_free(&s->pending.send);
	json_decref(s->pending.risks);
	s->pending.risks = NULL;
	tdm_buf_free(&s->held);
	tdm_buf_free(&s->stdin_held);
	tdm_buf_wipe(&s->input_tail);
	tdm_buf_free(&s->screen);
	tdm_buf_free(&s->last_line);
	tdm_buf_wipe(&s->carry);
}

static const char carried_why[] =
	"continues an approved line that was left unfinished (an open quote, "
	"or a pipe, && or || at its end); the two lines run as one command";
static const char lost_why[] =
	"continues unfinished lines longer than tandem keeps (64 KiB): it was "
	"checked without their start, and they run as one command";
static const char maybe_carried_why[] =
	"may continue an approved line left unfinished: with its keys "
	"changed, the server may not have dropped it on Ctrl-C";
static const char tail_lost_why[] =
	"continues a line longer than tandem keeps (64 KiB): it was checked "
	"without that line's start, and they run as one command";

static void insert_ranked(json_t *risks, enum tdm_level level, const char *why);

/*
 * The built-in rules' sentences for lines that change which keys edit a
 * line on the target (stty; bind and the like; the inputrc).  Once one
 * is approved, tandem can no longer tell what a typed line becomes
 * there.  test_rules.py checks that an approved stty is seen.
 */
static const char *const gate_key_change_whys[] = {
	"changes which keys erase, end or break off a line on the server",
	"changes what keys do in the server's shells",
	"makes keys or familiar command names do something else",
	NULL,
};

static bool changes_keys(json_t *risks)
{
	size_t i, k;

	for (i = 0; i < json_array_size(risks); i++) {
		const char *why = json_string_value(
			json_object_get(json_array_get(risks, i), "why"));

		for (k = 0; why != NULL && gate_key_change_whys[k] != NULL; k++)
			if (strncmp(why, gate_key_change_whys[k],
				    strlen(gate_key_change_whys[k])) == 0)
				return true;
	}
	return false;
}

/*
 * Judges a command against the rules.  A line that continues an approved
 * one left open is judged together with it, as the shell will read it.
 */
int gate_judge(struct session *s, enum pending_kind kind, const uint8_t *cmd,
	       size_t n, struct tdm_verdict *v, json_t **risks)
{
	struct tdm_buf all;
	bool carried = kind == PENDING_LINE &&
		       (s->carry.len > 0 || s->carry_lost);
	int rc;

	*risks = NULL;
	if (kind == PENDING_EOF) {
		memset(v, 0, sizeof(*v));
		*risks = json_array();
		return *risks != NULL ? 0 : TDM_ERR_NOMEM;
	}
	tdm_buf_init(&all, 0);
	if (carried && (tdm_buf_put(&all, s->carry.data, s->carry.len) < 0 ||
			tdm_buf_put(&all, cmd, n) < 0)) {
		tdm_buf_free(&all);
		return TDM_ERR_NOMEM;
	}
	/* Only a line typed at the target's prompt meets its terminal and
	 * its line editor. */
	if (kind == PENDING_LINE)
		rc = tdm_rules_judge_typed(s->rules, carried ? all.data : cmd,
					   carried ? all.len : n,
					   carried ? s->carry.len : 0, v);
	else
		rc = tdm_rules_judge(s->rules, cmd, n, v);
	tdm_buf_wipe(&all);
	/* The shell may have dropped the open line on Ctrl-C, or not:
	 * the line is judged both ways. */
	if (rc == 0 && carried && s->carry_maybe_gone) {
		struct tdm_verdict alone;

		rc = tdm_rules_judge_typed(s->rules, cmd, n, 0, &alone);
		if (rc == 0)
			tdm_verdict_add(v, &alone);
	}
	if (rc < 0)
		return rc;
	if (kind != PENDING_LINE)
		tdm_verdict_untyped(v);
	*risks = tdm_verdict_risks(v);
	if (*risks == NULL)
		return TDM_ERR_NOMEM;
	if (carried && s->carry_lost)
		insert_ranked(*risks, TDM_LEVEL_HIGH, lost_why);
	else if (carried && s->carry_maybe_gone)
		insert_ranked(*risks, TDM_LEVEL_HIGH, maybe_carried_why);
	else if (carried)
		insert_ranked(*risks, TDM_LEVEL_MEDIUM, carried_why);
	if (kind == PENDING_LINE && s->keys_changed != 0) {
		char why[200];

		snprintf(why, sizeof(why),
			 "comes after #%u changed which keys edit a line on "
			 "the server, so it may not run as shown here",
			 s->keys_changed);
		insert_ranked(*risks, TDM_LEVEL_HIGH, why);
	}
	return 0;
}

static json_t *b64(const uint8_t *p, size_t n)
{
	struct tdm_buf out;
	json_t *j;

	tdm_buf_init(&out, 0);
	if (tdm_b64_encode(&out, p, n) < 0)
		tdm_buf_reset(&out);
	j = json_stringn(out.data ? (char *)out.data : "", out.len);
	tdm_buf_free(&out);
	return j;
}

/* The exact bytes a pending command sends but its Enter: for end of
 * input the byte Ctrl-D sends, where its label says "^D". */
static json_t *exact_b64(const struct pending_cmd *pc)
{
	if (pc->kind == PENDING_EOF)
		return b64(pc->send.data, pc->send.len);
	return b64(pc->command.data, pc->command.len);
}

/* UTF-8 text of arbitrary bytes, bad bytes as U+FFFD. */
static json_t *repaired(const uint8_t *p, size_t n)
{
	struct tdm_buf out;
	size_t i = 0, l;
	uint32_t cp;
	json_t *j;

	tdm_buf_init(&out, 0);
	while (i < n) {
		l = tdm_utf8_decode(p + i, n - i, &cp);
		if (l == 0) {
			tdm_buf_puts(&out, "\xef\xbf\xbd");
			i++;
		} else {
			tdm_buf_put(&out, p + i, l);
			i += l;
		}
	}
	j = json_stringn(out.data ? (char *)out.data : "", out.len);
	tdm_buf_free(&out);
	return j;
}

static void visible_of(const struct tdm_buf *b, struct tdm_buf *out)
{
	tdm_buf_init(out, 0);
	if (tdm_visible(b->data, b->len, out) < 0 || out->data == NULL)
		tdm_buf_puts(out, "");
}

static const char *kind_word(enum pending_kind kind)
{
	switch (kind) {
	case PENDING_EOF:
		return "eof";
	case PENDING_EXEC:
		return "exec";
	case PENDING_INPUT:
		return "input";
	case PENDING_LINE:
		break;
	}
	return "line";
}

/* A decision of this kind releases stdin held without a PTY. */
static bool with_input(const struct session *s, enum pending_kind kind)
{
	return !s->tty && (kind == PENDING_EXEC || kind == PENDING_INPUT);
}

/* What labels show of a pending command: its line, or for a part of the
 * stdin, how much and for which command. */
static void label_of(const struct pending_cmd *pc, struct tdm_buf *out)
{
	struct tdm_buf vis;

	if (pc->kind == PENDING_EOF) {
		/* Not the text "^D", which a line can hold. */
		tdm_buf_init(out, 0);
		tdm_buf_puts(out, "Ctrl-D, the end of input (a shell logs out "
				  "on it)");
		return;
	}
	visible_of(&pc->command, &vis);
	if (pc->kind != PENDING_INPUT) {
		*out = vis;
		return;
	}
	tdm_buf_init(out, 0);
	if (pc->input_len == 0)
		tdm_buf_printf(out, "the end of input to: %s",
			       (char *)vis.data);
	else
		tdm_buf_printf(out, "%zu bytes of input%s to: %s",
			       pc->input_len,
			       pc->input_eof ? " and its end" : "",
			       (char *)vis.data);
	tdm_buf_free(&vis);
}

/* The level a risk's name gives, for keeping the list highest first. */
static enum tdm_level level_of(json_t *risk)
{
	enum tdm_level l;

	return tdm_level_parse(
		       json_string_value(json_object_get(risk, "level")), &l) ?
		       l :
		       TDM_LEVEL_CRITICAL;
}

/* Adds a risk among the command's, highest first: a critical one in the
 * input must not end up below "+N more". */
static void insert_ranked(json_t *risks, enum tdm_level level, const char *why)
{
	size_t at = 0;

	while (at < json_array_size(risks) &&
	       level_of(json_array_get(risks, at)) >= level)
		at++;
	json_array_insert_new(risks, at,
			      json_pack("{s:s,s:s}", "level",
					tdm_level_name(level), "why", why));
}

/* Whether text ends in a line continued by a backslash. */
static bool ends_continued(const uint8_t *p, size_t n)
{
	size_t k = 0;

	if (n == 0 || p[n - 1] != '\n')
		return false;
	while (k + 1 < n && p[n - 2 - k] == '\\')
		k++;
	return k % 2 == 1;
}

/* Judges the start of the stdin a decision releases, as a script; *open:
 * the target is left mid-command. */
static int judge_input(struct session *s, json_t *risks, bool *deny,
		       char *deny_why, size_t deny_size, bool *open)
{
	struct tdm_verdict v;
	struct tdm_buf all;
	size_t n = s->stdin_held.len < SESSION_STDIN_JUDGED ?
			   s->stdin_held.len :
			   SESSION_STDIN_JUDGED;
	char why[512];
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if (n < s->stdin_held.len) {
		snprintf(why, sizeof(why),
			 "its input is %zu bytes, and only the first %zu were "
			 "checked against the rules: nobody has read what "
			 "follows them",
			 s->stdin_held.len, n);
		insert_ranked(risks, TDM_LEVEL_HIGH, why);
	}
	memset(&v, 0, sizeof(v));
	/* After the unfinished line the target already has: a command cut
	 * in two parts is judged whole, as the target will read it. */
	tdm_buf_init(&all, 0);
	rc = tdm_buf_put(&all, s->input_tail.data, s->input_tail.len);
	if (rc == 0)
		rc = tdm_buf_put(&all, s->stdin_held.data, n);
	if (rc == 0)
		rc = tdm_rules_judge_input(s->rules, all.data, all.len, &v);
	*open = rc == 0 && (v.open || ends_continued(all.data, all.len));
	tdm_buf_wipe(&all);
	if (rc < 0)
		return rc;
	tdm_verdict_untyped(&v); /* read by a program, not a line editor */
	if (s->tail_lost)
		insert_ranked(risks, TDM_LEVEL_HIGH, tail_lost_why);
	if (v.deny) {
		*deny = true;
		snprintf(deny_why, deny_size, "its input: %s", v.deny_why);
	}
	for (i = 0; i < v.n; i++) {
		snprintf(why, sizeof(why), "its input: %s", v.risks[i].why);
		insert_ranked(risks, v.risks[i].level, why);
	}
	return 0;
}

json_t *gate_pending_json(const struct session *s)
{
	const struct pending_cmd *pc = &s->pending;
	struct tdm_buf vis;
	json_t *j;

	if (!pc->active)
		return NULL;
	label_of(pc, &vis);
	j = json_pack("{s:s,s:I,s:s,s:s,s:o,s:o,s:s,s:O,s:s,s:s}", "session",
		      s->id, "seq", (json_int_t)pc->seq, "engineer",
		      s->engineer->name, "target", s->target->name, "command",
		      repaired(pc->command.data, pc->command.len),
		      "command_b64", exact_b64(pc), "visible", (char *)vis.data,
		      "risks", pc->risks, "time", pc->started, "kind",
		      kind_word(pc->kind));
	tdm_buf_free(&vis);
	if (j != NULL && with_input(s, pc->kind)) {
		size_t shown = pc->input_len < SESSION_STDIN_PREVIEW ?
				       pc->input_len :
				       SESSION_STDIN_PREVIEW;

		json_object_set_new(j, "stdin_preview",
				    repaired(s->stdin_held.data, shown));
		json_object_set_new(j, "stdin_bytes",
				    json_integer((json_int_t)pc->input_len));
		json_object_set_new(j, "stdin_complete",
				    json_boolean(pc->input_eof));
	}
	return j;
}

void gate_redraw(struct session *s)
{
	struct tdm_buf out;
	char status[160];
	const char *st = NULL;

	if (!s->line_mode || s->stop)
		return;
	if (s->pending.active) {
		snprintf(status, sizeof(status),
			 "[tandem] #%u waiting for escort%s\xe2\x80\xa6",
			 s->pending.seq,
			 s->nescorts == 0 || !escorts_any_attached(s) ?
				 " (no escort attached)" :
				 "");
		st = status;
	} else if (s->le.line.len == 0 && !s->le.drawn) {
		return;
	}
	tdm_buf_init(&out, 0);
	if (lineedit_draw(&s->le,
			  s->pending.active ? &s->pending.command : NULL, st,
			  &out) == 0)
		session_to_engineer(s, out.data, out.len);
	tdm_buf_free(&out);
}

static void iso_now(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * A marker's details about the stdin its decision is on: which kind, how
 * many bytes, whether its end, and exactly what the escorts are shown of
 * it, so the record has even input that is refused or denied.
 */
static void input_details(const struct session *s, json_t *details,
			  enum pending_kind kind, size_t len, bool eof)
{
	size_t shown = len < SESSION_STDIN_PREVIEW ? len :
						     SESSION_STDIN_PREVIEW;

	if (details == NULL || !with_input(s, kind))
		return;
	json_object_set_new(details, "kind", json_string(kind_word(kind)));
	json_object_set_new(details, "stdin_bytes",
			    json_integer((json_int_t)len));
	json_object_set_new(details, "stdin_complete", json_boolean(eof));
	json_object_set_new(details, "stdin_preview_b64",
			    b64(s->stdin_held.data, shown));
}

/*
 * What the target has of a command not ended yet, after n released
 * bytes: the start of its last line, where its command is, or, when the
 * bytes left it mid-command (open), all of them after what was kept; up
 * to SESSION_TAIL_MAX, past which it is marked lost, and what continues
 * it says so.
 */
static void keep_tail(struct session *s, const uint8_t *p, size_t n, bool open)
{
	const uint8_t *nl = p + n;
	size_t room;

	if (open) {
		nl = p;
	} else {
		while (nl > p && nl[-1] != '\n')
			nl--;
		if (nl > p) {
			tdm_buf_wipe(&s->input_tail);
			s->tail_lost = false;
		}
	}
	n -= (size_t)(nl - p);
	room = SESSION_TAIL_MAX - s->input_tail.len;
	if (n > room) {
		n = room;
		s->tail_lost = true;
	}
	if (tdm_buf_put(&s->input_tail, nl, n) < 0) {
		tdm_buf_wipe(&s->input_tail);
		s->tail_lost = true;
	}
}

/* A part of the stdin that was not approved: it is never sent. */
static void drop_input(struct session *s, size_t n, bool eof)
{
	memset(s->stdin_held.data, 0, n);
	tdm_buf_consume(&s->stdin_held, n);
	if (eof)
		s->eof_in_unit = true;
}

/*
 * A deny rule matched: the command is refused before any escort is asked.
 * The refusal is recorded like a decision, and both sides see it.
 */
static int refuse(struct session *s, enum pending_kind kind, const uint8_t *cmd,
		  size_t n, const char *why, json_t *risks)
{
	struct tdm_buf vis, shown, out;
	unsigned seq = ++s->next_seq;
	json_t *details;
	int rc;

	tdm_buf_init(&shown, 0);
	if (tdm_buf_put(&shown, cmd, n) < 0) {
		tdm_buf_free(&shown);
		return TDM_ERR_NOMEM;
	}
	visible_of(&shown, &vis);
	tdm_buf_free(&shown);
	details = json_pack("{s:s,s:I,s:s,s:n,s:n,s:s,s:O,s:o,s:o}", "event",
			    "decision", "seq", (json_int_t)seq, "decision",
			    "refused", "escort", "escort_attrs", "reason", why,
			    "risks", risks, "command", repaired(cmd, n),
			    "command_b64", b64(cmd, n));
	input_details(s, details, kind, s->stdin_held.len, s->in_eof);
	rc = session_mark(s, LOG_NOTICE, details,
			  "refused #%u by policy (%s): %s", seq, why,
			  (char *)vis.data);
	if (rc == 0)
		escorts_send_refused(s, seq, why, (char *)vis.data);
	tdm_buf_free(&vis);
	if (rc < 0) {
		s->frozen = true;
		return rc;
	}
	tdm_buf_init(&out, 0);
	lineedit_erase(&s->le, &out);
	session_to_engineer(s, out.data, out.len);
	tdm_buf_free(&out);
	session_notice(s, "#%u refused by policy: %s; nothing was sent", seq,
		       why);
	if (kind == PENDING_INPUT)
		drop_input(s, s->stdin_held.len, s->in_eof);
	if (kind == PENDING_EXEC || (kind == PENDING_INPUT && s->in_eof)) {
		snprintf(s->end_why, sizeof(s->end_why), "refused");
		s->stop = true;
	}
	return 0;
}

static int next_input(struct session *s);

/* Makes the pending command, records it, tells the escorts. */
static int submit(struct session *s, enum pending_kind kind, const uint8_t *cmd,
		  size_t n, const uint8_t *send, size_t send_n)
{
	struct pending_cmd *pc = &s->pending;
	struct tdm_verdict verdict;
	struct tdm_buf vis;
	json_t *details, *risks;
	bool input = with_input(s, kind), input_deny = false,
	     input_open = false;
	char input_why[600];
	int rc;

	if (kind == PENDING_INPUT) {
		memset(&verdict, 0, sizeof(verdict));
		risks = json_array();
		rc = risks != NULL ? 0 : TDM_ERR_NOMEM;
	} else {
		rc = gate_judge(s, kind, cmd, n, &verdict, &risks);
	}
	if (rc == 0 && input)
		rc = judge_input(s, risks, &input_deny, input_why,
				 sizeof(input_why), &input_open);
	if (rc < 0) {
		json_decref(risks);
		return rc;
	}
	if (verdict.deny || input_deny) {
		rc = refuse(s, kind, cmd, n,
			    verdict.deny ? verdict.deny_why : input_why, risks);
		json_decref(risks);
		return rc;
	}
	tdm_buf_reset(&pc->command);
	tdm_buf_reset(&pc->send);
	if (tdm_buf_put(&pc->command, cmd, n) < 0 ||
	    tdm_buf_put(&pc->send, send, send_n) < 0) {
		json_decref(risks);
		return TDM_ERR_NOMEM;
	}
	json_decref(pc->risks);
	pc->risks = risks;
	pc->open = verdict.open;
	pc->kind = kind;
	pc->seq = ++s->next_seq;
	pc->active = true;
	/* Raw mode is for the program approved just before: not for one
	 * approved before this. */
	s->last_program[0] = '\0';
	pc->deadline_ms = session_now_ms() + s->policy->approval_timeout_ms;
	iso_now(pc->started, sizeof(pc->started));
	pc->input_len = input ? s->stdin_held.len : 0;
	pc->input_eof = input && s->in_eof;
	pc->input_open = input_open;
	if (pc->input_eof)
		s->eof_in_unit = true;

	label_of(pc, &vis);
	details = json_pack("{s:s,s:I,s:s,s:o,s:o,s:O}", "event", "pending",
			    "seq", (json_int_t)pc->seq, "kind", kind_word(kind),
			    "command", repaired(cmd, n), "command_b64",
			    exact_b64(pc), "risks", pc->risks);
	input_details(s, details, kind, pc->input_len, pc->input_eof);
	rc = session_mark(s, LOG_NOTICE, details, "pending #%u: %s", pc->seq,
			  (char *)vis.data);
	tdm_buf_free(&vis);
	if (rc < 0) {
		s->frozen = true;
		return rc;
	}
	escorts_send_pending(s);
	if (!s->tty && !escorts_any_attached(s))
		session_notice(s, "#%u waits for an escort (none attached)",
			       pc->seq);
	gate_redraw(s);
	return 0;
}

int gate_submit_exec(struct session *s)
{
	s->channel_wanted = true;
	if (s->tty)
		return submit(s, PENDING_EXEC, (const uint8_t *)s->command,
			      strlen(s->command), NULL, 0);
	/* First the start of its stdin, if any comes soon. */
	s->exec_waiting = true;
	s->input_first_ms = s->input_last_ms = session_now_ms();
	return next_input(s);
}

/*
 * Without a PTY: ms until the next part of the stdin (or the command
 * itself, with the start of it) is to become pending; 0 now, -1 when
 * there is nothing to ask for.
 */
static int input_due(const struct session *s, uint64_t now)
{
	uint64_t at;

	if (s->tty || s->pending.active || s->stop || s->frozen)
		return -1;
	if (!s->exec_waiting &&
	    (s->channel == NULL ||
	     (s->stdin_held.len == 0 && (!s->in_eof || s->eof_in_unit))))
		return -1;
	if (s->in_eof ||
	    s->stdin_held.len + SESSION_READ_CHUNK > SESSION_MAX_HELD)
		return 0;
	at = s->input_last_ms + GATE_INPUT_QUIET_MS;
	if (s->input_first_ms + GATE_INPUT_MAX_MS < at)
		at = s->input_first_ms + GATE_INPUT_MAX_MS;
	return now >= at ? 0 : (int)(at - now);
}

static int next_input(struct session *s)
{
	const uint8_t *cmd = (const uint8_t *)s->command;

	if (input_due(s, session_now_ms()) != 0)
		return 0;
	if (!s->exec_waiting)
		return submit(s, PENDING_INPUT, cmd, strlen(s->command), NULL,
			      0);
	s->exec_waiting = false;
	return submit(s, PENDING_EXEC, cmd, strlen(s->command), NULL, 0);
}

static int run_keys(struct session *s, const uint8_t *p, size_t n);

static int interrupt(struct session *s)
{
	struct tdm_buf out;
	int rc;

	tdm_buf_init(&out, 0);
	lineedit_erase(&s->le, &out);
	lineedit_clear(&s->le);
	tdm_buf_reset(&s->held);
	/* Ctrl-C makes the shell drop a line it was continuing, and may
	 * have stopped the program raw mode was for; unless an approved
	 * line changed the keys, when it may be text like any other. */
	if (s->keys_changed != 0 && (s->carry.len > 0 || s->carry_lost)) {
		s->carry_maybe_gone = true;
	} else {
		tdm_buf_wipe(&s->carry);
		s->carry_lost = false;
	}
	s->last_program[0] = '\0';
	session_to_engineer(s, out.data, out.len);
	tdm_buf_free(&out);
	if (s->channel == NULL)
		return 0;
	/* Exempt from approval: stopping something is always allowed. */
	rc = gate_release(s, (const uint8_t *)"\x03", 1);
	gate_redraw(s);
	return rc;
}

static int run_keys(struct session *s, const uint8_t *p, size_t n)
{
	bool was_paste;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		enum le_action act;

		if (s->pending.active) {
			/* Held locally, never sent: it is typed-ahead for
			 * after the decision.  Ctrl-C still interrupts. */
			if (p[i] == 0x03 && !s->le.paste) {
				rc = interrupt(s);
				if (rc < 0)
					return rc;
				continue;
			}
			if (tdm_buf_put(&s->held, p + i, n - i) < 0)
				session_to_engineer(s, "\a", 1);
			return 0;
		}
		/*
		 * Inside a bracketed paste Ctrl-C is text.  A paste whose end
		 * marker never came would hold the line for good, so a Ctrl-C
		 * a second or more after the paste began is the engineer's
		 * key: the pasted text is dropped, nothing of it sent.
		 */
		if (s->le.paste && p[i] == 0x03 &&
		    session_now_ms() - s->paste_since_ms >=
			    GATE_PASTE_STUCK_MS) {
			rc = interrupt(s);
			if (rc < 0)
				return rc;
			continue;
		}
		was_paste = s->le.paste;
		rc = lineedit_feed(&s->le, p[i], &act);
		if (s->le.paste && !was_paste)
			s->paste_since_ms = session_now_ms();
		if (rc < 0) {
			session_to_engineer(s, "\a", 1);
			continue;
		}
		switch (act) {
		case LE_NONE:
		case LE_ESCAPE:
			break;
		case LE_INTERRUPT:
			rc = interrupt(s);
			if (rc < 0)
				return rc;
			break;
		case LE_EOF:
			rc = submit(s, PENDING_EOF, (const uint8_t *)"^D", 2,
				    (const uint8_t *)"\x04", 1);
			if (rc < 0)
				return rc;
			break;
		case LE_SUBMIT: {
			struct tdm_buf send;

			tdm_buf_init(&send, 0);
			rc = tdm_buf_put(&send, s->le.line.data,
					 s->le.line.len);
			if (rc == 0)
				rc = tdm_buf_putc(&send, '\r');
			if (rc == 0)
				rc = submit(s, PENDING_LINE, s->le.line.data,
					    s->le.line.len, send.data,
					    send.len);
			tdm_buf_free(&send);
			if (rc < 0)
				return rc;
			lineedit_take(&s->le);
			break;
		}
		}
	}
	gate_redraw(s);
	return 0;
}

static int raw_keys(struct session *s, const uint8_t *p, size_t n)
{
	const uint8_t *esc = memchr(p, 0x1d, n);
	size_t pass = esc != NULL ? (size_t)(esc - p) : n;
	int rc = 0;

	/* Raw keys pass only while someone watches them, and only within
	 * the time granted: keys read after it are line mode's, even when
	 * the loop has not yet looked at the clock. */
	if (!escorts_any_attached(s)) {
		gate_raw_off(s, NULL, "no escort attached");
		return run_keys(s, p, n);
	}
	if (session_now_ms() >= s->raw_deadline_ms) {
		gate_raw_off(s, NULL, "raw-limit reached");
		return run_keys(s, p, n);
	}
	if (pass > 0)
		rc = gate_release(s, p, pass);
	if (rc < 0 || esc == NULL)
		return rc;
	/* Ctrl-]: the engineer leaves raw mode; the rest is line mode. */
	gate_raw_off(s, s->engineer->name, "engineer pressed Ctrl-]");
	return run_keys(s, esc + 1, n - pass - 1);
}

int gate_keys(struct session *s, const uint8_t *p, size_t n)
{
	s->last_activity_ms = session_now_ms();
	if (!s->line_mode)
		return gate_stdin(s, p, n);
	if (s->raw)
		return raw_keys(s, p, n);
	return run_keys(s, p, n);
}

static bool listed_interactive(const struct session *s, const char *prog)
{
	size_t i;

	for (i = 0; prog[0] != '\0' && i < s->target->ninteractive; i++)
		if (strcmp(s->target->interactive[i], prog) == 0)
			return true;
	return false;
}

int gate_raw_on(struct session *s, const struct tdm_person *escort, char *why,
		size_t why_size)
{
	if (escorts_same_person(escort, s->engineer)) {
		snprintf(why, why_size,
			 "four-eyes: %s cannot grant raw mode "
			 "in their own session",
			 escort->name);
		return TDM_ERR_DENIED;
	}
	if (!s->tty || s->channel == NULL) {
		snprintf(why, why_size,
			 "raw mode needs an interactive "
			 "session");
		return TDM_ERR_DENIED;
	}
	if (s->pending.active) {
		snprintf(why, why_size, "decide #%u first", s->pending.seq);
		return TDM_ERR_DENIED;
	}
	if (!listed_interactive(s, s->last_program)) {
		snprintf(why, why_size,
			 "raw mode is only for the programs "
			 "the policy lists as interactive for %s, approved "
			 "just before; the last approved command runs %s",
			 s->target->name,
			 s->last_program[0] ? s->last_program : "none of them");
		return TDM_ERR_DENIED;
	}
	if (s->raw)
		return 0;
	if (session_mark(s, LOG_NOTICE,
			 json_pack("{s:s,s:b,s:s,s:s,s:I}", "event", "raw",
				   "on", 1, "escort", escort->name, "program",
				   s->last_program, "limit_ms",
				   (json_int_t)s->target->raw_limit_ms),
			 "raw mode on by %s for %s", escort->name,
			 s->last_program) < 0) {
		s->frozen = true;
		snprintf(why, why_size, "the recording cannot be written");
		return TDM_ERR_IO;
	}
	s->raw = true;
	/* Keys now reach the shell directly; nothing carries over. */
	tdm_buf_wipe(&s->carry);
	s->carry_lost = false;
	s->carry_maybe_gone = false;
	s->raw_deadline_ms = session_now_ms() + s->target->raw_limit_ms;
	lineedit_clear(&s->le);
	session_notice(s,
		       "raw mode granted by %s: keys go straight to %s, "
		       "every one recorded; Ctrl-] ends it",
		       escort->name, s->target->name);
	escorts_send_state(s);
	return 0;
}

void gate_raw_off(struct session *s, const char *who, const char *why)
{
	if (!s->raw)
		return;
	s->raw = false;
	if (session_mark(s, LOG_NOTICE,
			 json_pack("{s:s,s:b,s:s?,s:s}", "event", "raw", "on",
				   0, "escort", who, "why", why),
			 "raw mode off (%s)", why) < 0)
		s->frozen = true;
	session_notice(s,
		       "raw mode ended (%s): each line waits for an "
		       "escort again",
		       why);
	escorts_send_state(s);
}

int gate_stdin(struct session *s, const uint8_t *p, size_t n)
{
	uint64_t now = session_now_ms();
	size_t asked = s->pending.active ? s->pending.input_len : 0;
	int rc;

	/* Not a byte without approval: held for the next part. */
	if (s->stdin_held.len == asked && !s->exec_waiting)
		s->input_first_ms = now;
	s->input_last_ms = now;
	rc = tdm_buf_put(&s->stdin_held, p, n);
	if (rc < 0)
		return rc;
	return next_input(s);
}

int gate_stdin_eof(struct session *s)
{
	int rc;

	s->in_eof = true;
	rc = next_input(s);
	if (rc < 0)
		return rc;
	return gate_pump(s);
}

bool gate_wants_input(const struct session *s)
{
	if (s->frozen || s->in_eof)
		return false;
	/* Only read when a whole chunk fits, so nothing read is refused. */
	if (!s->tty &&
	    s->stdin_held.len + SESSION_READ_CHUNK > SESSION_MAX_HELD)
		return false;
	return s->to_target.len < SESSION_MAX_QUEUED;
}

static const char *decision_word(enum gate_decision d)
{
	switch (d) {
	case GATE_APPROVED:
		return "approved";
	case GATE_DENIED:
		return "denied";
	case GATE_TIMEOUT:
		break;
	}
	return "timeout";
}

static json_t *attrs_json(const struct tdm_person *p)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; p != NULL && i < p->nattrs; i++)
		json_object_set_new(o, p->attrs[i].key,
				    json_string(p->attrs[i].value));
	return o;
}

/* A byte a program's name or path may hold: no quoting, no expansion. */
static bool program_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
	       c == '-' || c == '/';
}

/*
 * The program a command runs, for raw mode: the first word's last path
 * part.  Only a plain line has one: a first word that is a bare path
 * (no quote, "$(...)" or backquote there could make "vim" run a shell
 * first), and nothing after it that runs something else.
 */
static void note_program(struct session *s, const struct tdm_buf *cmd)
{
	size_t i = 0, start, end;
	uint8_t c;

	s->last_program[0] = '\0';
	while (i < cmd->len && (cmd->data[i] == ' ' || cmd->data[i] == '\t'))
		i++;
	start = end = i;
	while (end < cmd->len && program_byte(cmd->data[end])) {
		if (cmd->data[end] == '/')
			start = end + 1;
		end++;
	}
	if (end < cmd->len && cmd->data[end] != ' ' && cmd->data[end] != '\t')
		return;
	for (i = end; i < cmd->len; i++) {
		c = cmd->data[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f ||
		    strchr(";|&`$<>(){}", c) != NULL)
			return;
	}
	if (end == start || end - start >= sizeof(s->last_program))
		return;
	memcpy(s->last_program, cmd->data + start, end - start);
	s->last_program[end - start] = '\0';
}

static int after_approval(struct session *s, struct pending_cmd *pc)
{
	char why[1024];
	int rc;

	/* A line the shell reads as the rest of an open quote starts no
	 * program. */
	if (pc->kind != PENDING_INPUT && !pc->open && s->carry.len == 0 &&
	    !s->carry_lost)
		note_program(s, &pc->command);
	if (pc->kind == PENDING_EXEC && s->channel == NULL) {
		rc = target_open(s, why, sizeof(why));
		if (rc < 0) {
			session_notice(s, "%s", why);
			/* Nothing can reach the command: the session ends,
			 * its held input unsent. */
			snprintf(s->end_why, sizeof(s->end_why),
				 "target refused");
			s->stop = true;
			return rc;
		}
		s->channel_wanted = false;
	}
	if (with_input(s, pc->kind)) {
		if (pc->input_len > 0) {
			rc = gate_release(s, s->stdin_held.data, pc->input_len);
			keep_tail(s, s->stdin_held.data, pc->input_len,
				  pc->input_open);
			drop_input(s, pc->input_len, false);
			if (rc < 0)
				return rc;
		}
		if (pc->input_eof)
			s->eof_approved = true;
		rc = next_input(s);
		if (rc < 0)
			return rc;
		return gate_pump(s);
	}
	if (pc->kind == PENDING_EXEC)
		return gate_pump(s);
	if (pc->kind == PENDING_LINE) {
		/* The shell now holds an open quote: the next line is read
		 * as its continuation, and judged so. */
		if (changes_keys(pc->risks))
			s->keys_changed = pc->seq;
		if (!pc->open) {
			tdm_buf_wipe(&s->carry);
			s->carry_lost = false;
			s->carry_maybe_gone = false;
		} else if (s->carry.len + pc->command.len + 1 > LINEEDIT_MAX ||
			   tdm_buf_put(&s->carry, pc->command.data,
				       pc->command.len) < 0 ||
			   tdm_buf_putc(&s->carry, '\n') < 0) {
			/* Kept as far as it goes, and every line after
			 * says what is missing until one ends it. */
			s->carry_lost = true;
		}
	}
	return gate_release(s, pc->send.data, pc->send.len);
}

int gate_decide(struct session *s, unsigned seq, enum gate_decision d,
		const struct tdm_person *escort, const char *reason, char *why,
		size_t why_size)
{
	struct pending_cmd *pc = &s->pending;
	struct tdm_buf vis, out, why_vis;
	const char *shown_reason;
	json_t *details;
	int rc;

	if (!pc->active || pc->seq != seq) {
		snprintf(why, why_size,
			 "no command #%u is pending in "
			 "session %s",
			 seq, s->id);
		return TDM_ERR_NOTFOUND;
	}
	if (escort != NULL && escorts_same_person(escort, s->engineer)) {
		snprintf(why, why_size,
			 "%s is the engineer of session %s; "
			 "four-eyes: another escort must decide",
			 escort->name, s->id);
		return TDM_ERR_DENIED;
	}
	label_of(pc, &vis);
	/* The reason is the escort's free text: exact in the details, with
	 * control characters shown in the label, syslog and notices. */
	tdm_buf_init(&why_vis, 0);
	if (reason != NULL && (tdm_visible((const uint8_t *)reason,
					   strlen(reason), &why_vis) < 0 ||
			       tdm_buf_putc(&why_vis, '\0') < 0)) {
		tdm_buf_free(&vis);
		tdm_buf_free(&why_vis);
		snprintf(why, why_size, "out of memory; nothing was sent");
		return TDM_ERR_NOMEM;
	}
	shown_reason = reason != NULL ? (const char *)why_vis.data : NULL;
	details = json_pack("{s:s,s:I,s:s,s:s?,s:o,s:o,s:O,s:o,s:o}", "event",
			    "decision", "seq", (json_int_t)seq, "decision",
			    decision_word(d), "escort",
			    escort ? escort->name : NULL, "escort_attrs",
			    attrs_json(escort), "reason",
			    reason != NULL ? repaired((const uint8_t *)reason,
						      strlen(reason)) :
					     json_null(),
			    "risks", pc->risks, "command",
			    repaired(pc->command.data, pc->command.len),
			    "command_b64", exact_b64(pc));
	/* Which it decides: the command, or a part of its stdin. */
	input_details(s, details, pc->kind, pc->input_len, pc->input_eof);
	/* Write-ahead: the decision is on disk before a byte is sent. */
	if (d == GATE_TIMEOUT)
		rc = session_mark(s, LOG_NOTICE, details, "timeout #%u: %s",
				  seq, (char *)vis.data);
	else if (reason != NULL && reason[0] != '\0')
		rc = session_mark(s, LOG_NOTICE, details,
				  "%s #%u by %s (%s): %s", decision_word(d),
				  seq, escort->name, shown_reason,
				  (char *)vis.data);
	else
		rc = session_mark(s, LOG_NOTICE, details, "%s #%u by %s: %s",
				  decision_word(d), seq, escort->name,
				  (char *)vis.data);
	tdm_buf_free(&vis);
	if (rc < 0) {
		tdm_buf_free(&why_vis);
		s->frozen = true;
		snprintf(why, why_size,
			 "the recording cannot be written; "
			 "nothing was sent");
		return rc;
	}
	pc->active = false;
	escorts_send_decided(s, seq, decision_word(d),
			     escort ? escort->name : NULL, reason);

	tdm_buf_init(&out, 0);
	lineedit_erase(&s->le, &out);
	session_to_engineer(s, out.data, out.len);
	tdm_buf_free(&out);
	if (d == GATE_APPROVED) {
		probe_fire();
		rc = after_approval(s, pc);
		if (!s->tty && rc == 0)
			session_notice(s, "#%u approved by %s", seq,
				       escort->name);
	} else {
		if (d == GATE_TIMEOUT)
			session_notice(s,
				       "#%u was not approved in time; "
				       "nothing was sent",
				       seq);
		else
			session_notice(s,
				       "#%u denied by %s%s%s%s; nothing "
				       "was sent",
				       seq, escort->name, reason ? " (" : "",
				       reason ? shown_reason : "",
				       reason ? ")" : "");
		if (pc->kind == PENDING_INPUT)
			drop_input(s, pc->input_len, pc->input_eof);
		/* The command, or the end of its input, was refused: it can
		 * get nothing more. */
		if (pc->kind == PENDING_EXEC ||
		    (pc->kind == PENDING_INPUT && pc->input_eof)) {
			s->end_why[0] = '\0';
			snprintf(s->end_why, sizeof(s->end_why), "%s",
				 d == GATE_TIMEOUT ? "timeout" : "denied");
			s->stop = true;
		}
		rc = next_input(s);
	}
	tdm_buf_free(&why_vis);
	/* What was typed while waiting is now edited as usual. */
	if (s->held.len > 0 && rc == 0 && !s->stop) {
		struct tdm_buf held = s->held;

		tdm_buf_init(&s->held, LINEEDIT_MAX);
		rc = run_keys(s, held.data, held.len);
		tdm_buf_free(&held);
	}
	gate_redraw(s);
	return rc;
}

int gate_tick(struct session *s)
{
	uint64_t now = session_now_ms();
	char why[256];

	if (s->raw && now >= s->raw_deadline_ms)
		gate_raw_off(s, NULL, "raw-limit reached");
	if (s->raw)
		return (int)(s->raw_deadline_ms - now);
	if (!s->pending.active) {
		int due = input_due(s, now);

		if (due != 0)
			return due;
		if (next_input(s) < 0 && !s->frozen) {
			snprintf(s->end_why, sizeof(s->end_why),
				 "out of memory");
			s->stop = true;
		}
		return -1;
	}
	if (now >= s->pending.deadline_ms) {
		gate_decide(s, s->pending.seq, GATE_TIMEOUT, NULL, NULL, why,
			    sizeof(why));
		return -1;
	}
	return (int)(s->pending.deadline_ms - now);
}
