/*
 * console.c: the escort's full-screen console.
 *
 * The engineer's screen is shown through a screen model (libvterm): target
 * output only ever changes the model, and the console draws the model's
 * cells itself, with printable characters and its own colour codes.  So no
 * byte the target sends can reach the escort's terminal: no clipboard
 * write, no title, no device query, no escape of any kind.  The model's
 * answers to device queries are discarded.
 *
 * Keys: a approve, d deny (asks a reason), k kill (asks to confirm),
 * r raw mode on/off, n / Tab next session, p previous, q quit.
 */
#include "commands.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <vterm.h>

#include "err.h"
#include "visible.h"

#define MAX_WATCHED 64
/* Sessions listed each scan: watched, refused and others alike. */
#define MAX_LISTED 1024
/* A new pending command must be on screen this long before 'a' works. */
#define LOOK_FIRST_MS 700
/* The screen is drawn at most this often (about 30 frames a second). */
#define DRAW_EVERY_MS 33
/*
 * A session's output is drawn once it pauses this long, or at the latest
 * this long after it changed the screen.  Output comes in bursts (a key's
 * echo, a command's listing): drawing in the pause after one keeps the
 * console off the CPU while the relay is carrying the next key, and a
 * flood is still drawn about ten times a second.
 */
#define DRAW_QUIET_MS 4
#define DRAW_LATEST_MS 100
/*
 * One session's messages are read for at most this long before the console
 * looks at the escort's keys and the clock again: a session whose socket
 * is never empty (a flood) must not keep the kill key waiting.
 */
#define READ_SLICE_MS 20
/*
 * Sessions are joined without waiting on any one of them: a session whose
 * attach burst has not come in this long is let go, and tried again after
 * SLOW_RETRY_MS, as is one that takes no connections now (its recorder
 * stopped, or stuck in a write to a slow disk).
 */
#define JOIN_WAIT_MS 2000
#define SLOW_RETRY_MS 10000

/* Session ids left alone for a while: at most MAX_LISTED, and when full
 * the oldest is forgotten (and tried once more, which is all that
 * forgetting costs). */
struct left_alone {
	char id[MAX_LISTED][37];
	uint64_t until[MAX_LISTED]; /* now_ms() from which to try again */
	size_t n, next;
};

struct watched {
	struct session_conn c;
	VTerm *vt;
	int rows, cols;
	bool raw;	     /* supervised raw mode is on */
	long long shown_seq; /* pending seq last seen, to redraw at once */
};

enum mode { MODE_KEYS, MODE_REASON, MODE_KILL };

struct console {
	const struct escort_ctx *ctx;
	struct watched *w[MAX_WATCHED];
	size_t n, cur;
	int rows, cols;
	enum mode mode;
	char input[200];
	size_t ilen;
	char status[600];
	/* The pending command last drawn (session, seq), since when, and
	 * whether all of it was on screen: what 'a' may approve. */
	char drawn_id[40];
	long long drawn_seq;
	uint64_t drawn_ms;
	bool drawn_whole;
	/* What an open deny or kill prompt is about, fixed when it opened:
	 * a session that ends or a command decided meanwhile cancels it. */
	char asked_id[40];
	long long asked_seq;
	bool too_small; /* the terminal is under 20x8 */
	/* Sessions that refused this escort (another target, their own
	 * session): a refusal holds for the session's life, and each try
	 * would leave a mark in its recording. */
	struct left_alone refused;
	/* Sessions being joined, and until when each may take. */
	struct watched *joining[MAX_WATCHED];
	uint64_t join_until[MAX_WATCHED];
	size_t njoining;
	/* Sessions that did not answer, tried again SLOW_RETRY_MS later. */
	struct left_alone slow;
	/* Live sessions left out at the last scan because MAX_WATCHED
	 * were watched or being joined: the escort is told (draw()). */
	size_t unwatched;
	struct tdm_buf out;
	/* What each row of the terminal shows now, as last written (row r
	 * at shown[r - 1]); nshown 0 when unknown, so all is written. */
	struct tdm_buf *shown;
	int nshown;
	bool quit;
	bool dirty;		  /* something changed since the last draw */
	bool urgent;		  /* ... other than a session's output */
	uint64_t output_first_ms; /* output not drawn yet: first and last */
	uint64_t output_last_ms;
	bool more; /* a read slice ended with messages left */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void discard_output(const char *s, size_t len, void *user)
{
	(void)s;
	(void)len;
	(void)user;
}

static int json_int(json_t *o, const char *k, int dflt)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static const char *json_text(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* The string's length, NULs included (stdin may hold them). */
static size_t json_text_len(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_length(v) : 0;
}

static long long pending_seq(const struct watched *w)
{
	return w->c.pending != NULL ?
		       json_integer_value(
			       json_object_get(w->c.pending, "seq")) :
		       -1;
}

static void watched_free(struct watched *w)
{
	if (w->vt != NULL)
		vterm_free(w->vt);
	client_close(&w->c);
	free(w);
}

static void feed(struct watched *w, const uint8_t *p, size_t n)
{
	if (n > 0)
		vterm_input_write(w->vt, (const char *)p, n);
}

/* A fresh screen model for w, parser included, in place of any old one. */
static int new_screen(struct watched *w)
{
	VTerm *vt = vterm_new(w->rows, w->cols);

	if (vt == NULL)
		return -1;
	vterm_set_utf8(vt, 1);
	vterm_output_set_callback(vt, discard_output, NULL);
	vterm_screen_reset(vterm_obtain_screen(vt), 1);
	if (w->vt != NULL)
		vterm_free(w->vt);
	w->vt = vt;
	return 0;
}

static void leave_alone(struct left_alone *l, const char *id, uint64_t until)
{
	/* Ids are 36 characters: client_sessions checked their shape. */
	memcpy(l->id[l->next], id, 36);
	l->id[l->next][36] = '\0';
	l->until[l->next] = until;
	l->next = (l->next + 1) % MAX_LISTED;
	if (l->n < MAX_LISTED)
		l->n++;
}

static bool left_alone(const struct left_alone *l, const char *id)
{
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->id[i], id) == 0 && l->until[i] > now)
			return true;
	return false;
}

/* A refusal holds for the session's life; silence for SLOW_RETRY_MS. */
static void note_refused(struct console *con, const char *id)
{
	leave_alone(&con->refused, id, UINT64_MAX);
}

static void note_slow(struct console *con, const char *id)
{
	leave_alone(&con->slow, id, now_ms() + SLOW_RETRY_MS);
}

static bool is_known(const struct console *con, const char *id)
{
	size_t j;

	for (j = 0; j < con->n; j++)
		if (strcmp(con->w[j]->c.id, id) == 0)
			return true;
	for (j = 0; j < con->njoining; j++)
		if (strcmp(con->joining[j]->c.id, id) == 0)
			return true;
	return left_alone(&con->refused, id) || left_alone(&con->slow, id);
}

/* Starts joining the sessions that are new since the last scan. */
static void attach_new(struct console *con)
{
	static char ids[MAX_LISTED][37];
	size_t i, n = client_sessions(con->ctx, ids, MAX_LISTED);
	size_t was = con->unwatched;
	int rc;

	con->unwatched = 0;
	for (i = 0; i < n; i++) {
		struct watched *w;

		if (is_known(con, ids[i]))
			continue;
		if (con->n + con->njoining >= MAX_WATCHED) {
			con->unwatched++;
			continue;
		}
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return;
		rc = client_attach_start(con->ctx, ids[i], &w->c);
		if (rc < 0) {
			/* Not one this escort may supervise, gone, or
			 * taking no connections now. */
			if (rc == TDM_ERR_DENIED)
				note_refused(con, ids[i]);
			else if (rc == TDM_ERR_IO)
				note_slow(con, ids[i]);
			client_close(&w->c);
			free(w);
			continue;
		}
		con->joining[con->njoining] = w;
		con->join_until[con->njoining++] = now_ms() + JOIN_WAIT_MS;
	}
	if (con->unwatched != was)
		con->dirty = con->urgent = true;
}

/* A joined session goes on the console with the screen it sent. */
static void joined(struct console *con, struct watched *w)
{
	w->rows = json_int(w->c.welcome, "rows", 24);
	w->cols = json_int(w->c.welcome, "cols", 80);
	if (w->rows < 1 || w->rows > 500 || w->cols < 1 || w->cols > 1000) {
		w->rows = 24;
		w->cols = 80;
	}
	if (new_screen(w) < 0) {
		watched_free(w);
		return;
	}
	feed(w, w->c.early.data, w->c.early.len);
	tdm_buf_free(&w->c.early);
	w->shown_seq = -1;
	con->w[con->n++] = w;
	con->dirty = con->urgent = true;
	/* What came after the attach burst in the same read is in the
	 * buffer already, where poll cannot see it. */
	if (w->c.in.len > 0)
		con->more = true;
}

/* Reads what the sessions being joined have sent, without waiting. */
static void join_step(struct console *con)
{
	size_t i = 0;

	while (i < con->njoining) {
		struct watched *w = con->joining[i];
		int rc = client_attach_step(&w->c);

		if (rc == 0 && now_ms() < con->join_until[i]) {
			i++;
			continue;
		}
		if (rc == 1) {
			joined(con, w);
		} else {
			if (rc == TDM_ERR_DENIED)
				note_refused(con, w->c.id);
			else
				note_slow(con, w->c.id);
			watched_free(w);
		}
		con->njoining--;
		con->joining[i] = con->joining[con->njoining];
		con->join_until[i] = con->join_until[con->njoining];
	}
}

static void on_message(struct console *con, struct watched *w,
		       const struct tdm_msg *m)
{
	int rows, cols;
	uint64_t now;

	if (m->type == TDM_MSG_OUTPUT) {
		now = now_ms();
		if (!con->dirty)
			con->output_first_ms = now;
		con->output_last_ms = now;
	} else {
		con->urgent = true;
	}
	con->dirty = true;
	switch (m->type) {
	case TDM_MSG_OUTPUT:
		feed(w, m->payload, m->len);
		break;
	case TDM_MSG_SCREEN:
		/* After a gap: the screen is rebuilt from recent output, by
		 * a new model, since the old one's parser may be inside an
		 * escape sequence cut by the gap. */
		if (new_screen(w) < 0)
			vterm_screen_reset(vterm_obtain_screen(w->vt), 1);
		feed(w, m->payload, m->len);
		break;
	case TDM_MSG_SKIPPED:
		snprintf(con->status, sizeof(con->status),
			 "output came "
			 "faster than this console could show it: %lld bytes "
			 "not shown live (the recording has them); screen "
			 "rebuilt",
			 tdm_msg_int(m, "bytes"));
		break;
	case TDM_MSG_STATE:
		w->raw = json_is_true(json_object_get(m->json, "raw"));
		rows = (int)tdm_msg_int(m, "rows");
		cols = (int)tdm_msg_int(m, "cols");
		if (rows > 0 && rows <= 500 && cols > 0 && cols <= 1000 &&
		    (rows != w->rows || cols != w->cols)) {
			w->rows = rows;
			w->cols = cols;
			vterm_set_size(w->vt, rows, cols);
		}
		break;
	case TDM_MSG_OK:
		snprintf(con->status, sizeof(con->status), "%s #%lld",
			 tdm_msg_str(m, "what") ? tdm_msg_str(m, "what") :
						  "done",
			 tdm_msg_int(m, "seq"));
		break;
	case TDM_MSG_ERROR:
		snprintf(con->status, sizeof(con->status), "refused: %s",
			 w->c.error);
		break;
	case TDM_MSG_DECIDED:
		if (tdm_msg_str(m, "decision") != NULL &&
		    strcmp(tdm_msg_str(m, "decision"), "refused") == 0) {
			/* No escort was asked: say why, and what it was. */
			snprintf(con->status, sizeof(con->status),
				 "#%lld refused by policy (%s): %s",
				 tdm_msg_int(m, "seq"),
				 tdm_msg_str(m, "reason") ?
					 tdm_msg_str(m, "reason") :
					 "?",
				 tdm_msg_str(m, "visible") ?
					 tdm_msg_str(m, "visible") :
					 "");
			break;
		}
		snprintf(con->status, sizeof(con->status), "#%lld %s by %s",
			 tdm_msg_int(m, "seq"),
			 tdm_msg_str(m, "decision") ?
				 tdm_msg_str(m, "decision") :
				 "?",
			 tdm_msg_str(m, "escort") ? tdm_msg_str(m, "escort") :
						    "tandem");
		break;
	}
}

/* Text from the recorder or policy, drawn with control characters shown. */
static void put_safe(struct tdm_buf *out, const char *s, size_t max_cols)
{
	struct tdm_buf vis;
	size_t i, cols = 0;

	tdm_buf_init(&vis, 0);
	if (tdm_visible((const uint8_t *)s, strlen(s), &vis) == 0) {
		for (i = 0; i < vis.len; i++) {
			if ((vis.data[i] & 0xc0) != 0x80 && ++cols > max_cols)
				break;
			tdm_buf_putc(out, vis.data[i]);
		}
	}
	tdm_buf_free(&vis);
}

static void put_cp(struct tdm_buf *out, uint32_t cp)
{
	uint8_t b[4];

	/* Nor what reorders or hides text: bidi overrides, zero widths. */
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || tdm_visible_hidden_cp(cp)) {
		tdm_buf_putc(out, '?');
		return;
	}
	if (cp < 0x80) {
		tdm_buf_putc(out, (uint8_t)cp);
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		tdm_buf_put(out, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		tdm_buf_put(out, b, 3);
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		tdm_buf_put(out, b, 4);
	}
}

static void put_color(struct tdm_buf *out, const VTermColor *c, int base)
{
	if (base == 30 ? VTERM_COLOR_IS_DEFAULT_FG(c) :
			 VTERM_COLOR_IS_DEFAULT_BG(c))
		tdm_buf_printf(out, ";%d", base + 9);
	else if (VTERM_COLOR_IS_INDEXED(c))
		tdm_buf_printf(out, ";%d;5;%u", base + 8, c->indexed.idx);
	else
		tdm_buf_printf(out, ";%d;2;%u;%u;%u", base + 8, c->rgb.red,
			       c->rgb.green, c->rgb.blue);
}

/* Whether two colours draw the same. */
static bool same_color(const VTermColor *a, const VTermColor *b)
{
	if (a->type != b->type)
		return false;
	if (VTERM_COLOR_IS_INDEXED(a))
		return a->indexed.idx == b->indexed.idx;
	return a->rgb.red == b->rgb.red && a->rgb.green == b->rgb.green &&
	       a->rgb.blue == b->rgb.blue;
}

/* Whether two cells take the same colour code (put_look). */
static bool same_look(const VTermScreenCell *a, const VTermScreenCell *b)
{
	return a->attrs.bold == b->attrs.bold &&
	       a->attrs.italic == b->attrs.italic &&
	       a->attrs.underline == b->attrs.underline &&
	       a->attrs.reverse == b->attrs.reverse &&
	       same_color(&a->fg, &b->fg) && same_color(&a->bg, &b->bg);
}

static void put_look(struct tdm_buf *out, const VTermScreenCell *cell)
{
	tdm_buf_puts(out, "\x1b[0");
	if (cell->attrs.bold)
		tdm_buf_puts(out, ";1");
	if (cell->attrs.italic)
		tdm_buf_puts(out, ";3");
	if (cell->attrs.underline)
		tdm_buf_puts(out, ";4");
	if (cell->attrs.reverse)
		tdm_buf_puts(out, ";7");
	put_color(out, &cell->fg, 30);
	put_color(out, &cell->bg, 40);
	tdm_buf_putc(out, 'm');
}

/* The model's cells, drawn by us: only text and our own colour codes. */
/* The first of the engineer's rows a pane of height rows shows: with a
 * taller screen than the pane, the cursor's part. */
static int pane_first_row(struct watched *w, int height)
{
	VTermPos cursor;
	int first = 0;

	vterm_state_get_cursorpos(vterm_obtain_state(w->vt), &cursor);
	if (w->rows > height)
		first = cursor.row - height + 1 > 0 ? cursor.row - height + 1 :
						      0;
	if (first + height > w->rows && w->rows > height)
		first = w->rows - height;
	return first;
}

/*
 * When the engineer's screen is wider or taller than the pane, what part
 * of it the escort sees, in text (empty when all of it): what is cut off
 * is otherwise silently missing, such as the end of a long line of a
 * script the escort reads before approving its run.
 */
static void pane_crop_note(const struct console *con, struct watched *w,
			   int height, char *text, size_t size)
{
	int first, last_col, last_row;

	text[0] = '\0';
	if (height <= 0 || (w->cols <= con->cols && w->rows <= height))
		return;
	first = pane_first_row(w, height);
	last_col = w->cols < con->cols ? w->cols : con->cols;
	last_row = first + height < w->rows ? first + height : w->rows;
	snprintf(text, size,
		 " engineer's screen is %dx%d, you see columns 1-%d, rows "
		 "%d-%d: enlarge this window to see all ",
		 w->cols, w->rows, last_col, first + 1, last_row);
}

static void draw_pane(struct console *con, struct watched *w, int top,
		      int height)
{
	VTermScreen *scr = vterm_obtain_screen(w->vt);
	VTermScreenCell cell, last;
	VTermPos pos;
	int first = pane_first_row(w, height), r, c, width = con->cols;
	bool have_last;

	memset(&last, 0, sizeof(last));
	for (r = 0; r < height; r++) {
		tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[0m\x1b[K", top + r);
		have_last = false;
		pos.row = first + r;
		if (pos.row >= w->rows)
			continue;
		for (c = 0; c < w->cols && c < width; c++) {
			int i;

			pos.col = c;
			if (!vterm_screen_get_cell(scr, pos, &cell))
				continue;
			/* A colour code only where the look changes. */
			if (!have_last || !same_look(&cell, &last)) {
				put_look(&con->out, &cell);
				last = cell;
				have_last = true;
			}
			if (cell.chars[0] == 0)
				tdm_buf_putc(&con->out, ' ');
			for (i = 0;
			     i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] != 0;
			     i++)
				put_cp(&con->out, cell.chars[i]);
			if (cell.width == 2)
				c++;
		}
		tdm_buf_puts(&con->out, "\x1b[0m");
	}
}

/*
 * Where a row of shown text ends: ASCII takes a column, anything else is
 * counted as two, so a row may end early but never runs past the edge,
 * where the terminal would drop it unseen.
 */
static size_t row_end(const struct tdm_buf *vis, size_t at, size_t width)
{
	size_t cols = 0, i = at, w;

	while (i < vis->len) {
		w = vis->data[i] < 0x80 ? 1 : 2;
		if (cols + w > width && i > at)
			break;
		cols += w;
		i++;
		while (i < vis->len && (vis->data[i] & 0xc0) == 0x80)
			i++;
	}
	return i;
}

/*
 * Marks the console draws itself, dim, where the eye would otherwise be
 * fooled: a row that goes on at the next one, and a space at a row's edge
 * or at a line's end, which is blank like the screen around it ("srv " at
 * the end of a row, "/cache" on the next, reads as "srv/cache").  The
 * same characters in the text itself are drawn as escapes (\u21a9,
 * \u2423), so no command can fake a mark.
 */
#define MARK_GOES_ON "\xe2\x86\xa9" /* U+21A9 leftwards arrow with hook */
#define MARK_SPACE "\xe2\x90\xa3"   /* U+2423 open box */
#define MARK_LOOK "\x1b[0;2m"

/* The marks' own characters in vis, written as escapes instead. */
static void escape_marks(struct tdm_buf *vis)
{
	struct tdm_buf out;
	size_t i;

	if (vis->len < 3 ||
	    (memmem(vis->data, vis->len, MARK_GOES_ON, 3) == NULL &&
	     memmem(vis->data, vis->len, MARK_SPACE, 3) == NULL))
		return;
	tdm_buf_init(&out, 0);
	for (i = 0; i < vis->len; i++) {
		if (i + 3 <= vis->len &&
		    memcmp(vis->data + i, MARK_GOES_ON, 3) == 0) {
			tdm_buf_puts(&out, "\\u21a9");
			i += 2;
		} else if (i + 3 <= vis->len &&
			   memcmp(vis->data + i, MARK_SPACE, 3) == 0) {
			tdm_buf_puts(&out, "\\u2423");
			i += 2;
		} else {
			tdm_buf_putc(&out, vis->data[i]);
		}
	}
	tdm_buf_reset(vis);
	tdm_buf_put(vis, out.data, out.len);
	tdm_buf_free(&out);
}

/* How put_rows draws a text. */
struct rows_look {
	const char *first; /* before a line's first row */
	const char *next;  /* before its further rows, as wide as first */
	const char *style; /* the text's own look */
	int mark_col;	   /* the column of the "goes on" marks */
	bool by_line;	   /* each line on rows of its own (stdin) */
	bool escaped;	   /* the recorder's "visible" text, escaped */
};

/* One row, vis[at, end), of a line whose spaces from tail on end it. */
static void put_row(struct console *con, const struct tdm_buf *vis, size_t at,
		    size_t end, size_t tail, int row,
		    const struct rows_look *look)
{
	bool goes_on = end < vis->len;
	size_t i;

	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[K%s%s", row,
		       at == 0 ? look->first : look->next, look->style);
	for (i = at; i < end; i++) {
		if (vis->data[i] == ' ' && (i >= tail || (i == at && at > 0) ||
					    (i + 1 == end && goes_on))) {
			tdm_buf_printf(&con->out,
				       MARK_LOOK MARK_SPACE "\x1b[0m%s",
				       look->style);
			continue;
		}
		tdm_buf_putc(&con->out, vis->data[i]);
	}
	if (goes_on)
		tdm_buf_printf(&con->out, "\x1b[%d;%dH" MARK_LOOK MARK_GOES_ON,
			       row, look->mark_col);
	tdm_buf_puts(&con->out, "\x1b[0m");
}

/*
 * Text (n bytes, a NUL among them shown as \x00) with control characters
 * shown, cut into rows of width columns: the command's "visible" form, a
 * risk, or (by_line) stdin, each line of it on rows of its own.  Draws up
 * to max rows from row top (none when top is 0) and returns how many rows
 * all of it needs.
 */
static size_t put_rows(struct console *con, const char *text, size_t n,
		       size_t width, int top, size_t max,
		       const struct rows_look *look)
{
	const char *line = text, *nl, *stop = text + n;
	struct tdm_buf vis;
	size_t rows = 0, at, end, len, tail;
	int rc;

	do {
		nl = look->by_line ? memchr(line, '\n', (size_t)(stop - line)) :
				     NULL;
		len = (size_t)((nl ? nl : stop) - line);
		tdm_buf_init(&vis, 0);
		/* The recorder's "visible" text comes escaped already: it is
		 * escaped again only where it is not. */
		if (look->escaped &&
		    !tdm_visible_has_hidden((const uint8_t *)line, len))
			rc = tdm_buf_put(&vis, line, len);
		else
			rc = tdm_visible((const uint8_t *)line, len, &vis);
		if (rc < 0)
			tdm_buf_reset(&vis);
		escape_marks(&vis);
		tail = vis.len;
		while (tail > 0 && vis.data[tail - 1] == ' ')
			tail--;
		at = 0;
		do {
			end = row_end(&vis, at, width);
			if (top > 0 && rows < max)
				put_row(con, &vis, at, end, tail,
					top + (int)rows, look);
			rows++;
			at = end;
		} while (at < vis.len);
		tdm_buf_free(&vis);
		line = nl ? nl + 1 : NULL;
	} while (line != NULL && line < stop);
	return rows;
}

/* How the pending area's rows are shared, most important first. */
struct plan {
	size_t cmd, cmd_need; /* the command: rows it gets, rows it needs */
	size_t input;	      /* the line about its stdin: 0 or 1 */
	size_t preview;	      /* rows of the stdin's first bytes */
	size_t preview_need;  /* rows all of those bytes would take */
	size_t risks;	      /* at least 1: "no risks" says so too */
	size_t risks_need;    /* rows every risk would take, whole */
	size_t rows;	      /* all of it, the heading included */
};

static size_t text_width(const struct console *con)
{
	return (size_t)(con->cols > 6 ? con->cols - 4 : 2);
}

/* Text rows end two columns in (the indent) from text_width: the marks
 * go in the column after. */
static int mark_col(const struct console *con)
{
	return (int)text_width(con) + 3;
}

static const struct rows_look command_look = {
	.first = "  ", .next = "  ", .style = "\x1b[1m", .escaped = true
};

static const struct rows_look stdin_look = {
	.first = "    ", .next = "    ", .style = "", .by_line = true
};

/*
 * One risk, "  LEVEL: WHY", its text wrapped onto further rows under its
 * start, never cut: draws up to max rows from top (none when top is 0)
 * and returns how many it needs.
 */
static size_t put_risk(struct console *con, json_t *r, int top, size_t max)
{
	const char *level = json_text(r, "level");
	char word[12], first[40], next[20];
	struct rows_look look = { .first = first, .next = next, .style = "" };
	size_t i, indent, width = text_width(con);

	/* Levels are the policy's words ("critical"): kept short and
	 * printable, so the text keeps most of the row. */
	for (i = 0; i + 1 < sizeof(word) && level[i] != '\0'; i++)
		word[i] = level[i] > 0x20 && level[i] < 0x7f ? level[i] : '?';
	word[i] = '\0';
	indent = i + 4;
	snprintf(first, sizeof(first), "  \x1b[1;31m%s:\x1b[0m ", word);
	memset(next, ' ', indent);
	next[indent] = '\0';
	look.mark_col = mark_col(con);
	width = width + 2 > indent + 4 ? width + 2 - indent : 4;
	return put_rows(con, json_text(r, "why"), json_text_len(r, "why"),
			width, top, max, &look);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * The risks' rows are set aside before the command's: a long command must
 * not push them off the screen.  What does not fit is said so, and the
 * console then refuses to approve (draw(), key()).
 */
static void plan_pending(struct console *con, struct watched *w,
			 struct plan *pl)
{
	json_t *p = w != NULL ? w->c.pending : NULL, *risks, *r;
	struct rows_look look = command_look;
	size_t left, for_risks, i;
	/* Room for the pending area; the pane keeps at least 3 rows. */
	int room = con->rows - 3 - 3 - 1;

	memset(pl, 0, sizeof(*pl));
	if (p == NULL) {
		pl->cmd = pl->risks = 1;
		pl->rows = 3;
		return;
	}
	left = room > 3 ? (size_t)room : 3;
	pl->input = json_is_integer(json_object_get(p, "stdin_bytes"));
	look.mark_col = mark_col(con);
	pl->cmd_need = put_rows(con, json_text(p, "visible"),
				json_text_len(p, "visible"), text_width(con), 0,
				0, &look);
	risks = json_object_get(p, "risks");
	json_array_foreach (risks, i, r)
		pl->risks_need += put_risk(con, r, 0, 0);
	if (pl->risks_need == 0)
		pl->risks_need = 1;
	/* The risks' rows first: all the command leaves them, and at
	 * least half, so a long command cannot push them off.  When not
	 * all fits, nothing can be approved here, and each part shows
	 * what it can. */
	left -= pl->input;
	for_risks = pl->cmd_need < left ? left - pl->cmd_need : 0;
	if (for_risks < left / 2)
		for_risks = left / 2;
	pl->risks = min_size(pl->risks_need, for_risks);
	left -= pl->risks;
	pl->cmd = min_size(pl->cmd_need, left);
	left -= pl->cmd;
	if (pl->input) {
		look = stdin_look;
		look.mark_col = mark_col(con);
		pl->preview_need = put_rows(con, json_text(p, "stdin_preview"),
					    json_text_len(p, "stdin_preview"),
					    text_width(con) - 2, 0, 0, &look);
		pl->preview = min_size(pl->preview_need, left);
	}
	pl->rows = 1 + pl->cmd + pl->input + pl->preview + pl->risks;
}

/* Whether all of the command, its risks and its stdin's start fit. */
static bool all_fits(const struct plan *pl)
{
	return pl->cmd == pl->cmd_need && pl->risks == pl->risks_need &&
	       pl->preview == pl->preview_need;
}

/* A red note in place of what does not fit, on its own row. */
static void put_cut_note(struct console *con, int row, size_t rows,
			 const char *what)
{
	char text[160];

	snprintf(text, sizeof(text),
		 "(%zu more rows of %s do not fit: enlarge the window to "
		 "approve)",
		 rows, what);
	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[K  \x1b[1;31m", row);
	put_safe(&con->out, text, text_width(con));
	tdm_buf_puts(&con->out, "\x1b[0m");
}

/*
 * Draws up to `rows` rows of a text that needs `need`: all of it, or what
 * fits with a note on the last row that the rest does not.  Returns the
 * rows drawn.
 */
static size_t put_part(struct console *con, const char *text, size_t n,
		       size_t width, int top, size_t rows, size_t need,
		       const struct rows_look *look, const char *what)
{
	size_t shown = rows < need && rows > 0 ? rows - 1 : rows;

	put_rows(con, text, n, width, top, shown, look);
	if (shown < rows)
		put_cut_note(con, top + (int)shown, need - shown, what);
	return rows;
}

static void put_stdin(struct console *con, json_t *p, int row,
		      const struct plan *pl)
{
	const char *start = json_text(p, "stdin_preview");
	size_t start_len = json_text_len(p, "stdin_preview");
	long long bytes = json_integer_value(json_object_get(p, "stdin_bytes"));
	struct rows_look look = stdin_look;
	const char *note = "";
	char text[256];

	/* Bad bytes make the repaired start longer, never equal. */
	if (pl->preview < pl->preview_need)
		note = ": not all fits, enlarge the window to approve";
	else if (bytes != (long long)start_len)
		note = " (only the start is shown)";
	snprintf(text, sizeof(text), "stdin: %lld bytes%s%s", bytes,
		 json_is_true(json_object_get(p, "stdin_complete")) ?
			 ", then its end" :
			 "",
		 note);
	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[K  \x1b[1m", row++);
	put_safe(&con->out, text, text_width(con));
	tdm_buf_puts(&con->out, "\x1b[0m");
	look.mark_col = mark_col(con);
	put_part(con, start, start_len, text_width(con) - 2, row, pl->preview,
		 pl->preview_need, &look, "stdin");
}

/* Every risk whole, highest first, in the rows the layout gave them. */
static void put_risks(struct console *con, json_t *p, int row,
		      const struct plan *pl)
{
	json_t *risks = json_object_get(p, "risks"), *r;
	size_t i, left = pl->risks, used, drawn = 0;

	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[K", row);
	if (json_array_size(risks) == 0) {
		tdm_buf_puts(&con->out, "  \x1b[2mno risks known to the "
					"policy\x1b[0m");
		return;
	}
	/* When they do not all fit, the last row says so. */
	if (pl->risks < pl->risks_need)
		left--;
	json_array_foreach (risks, i, r) {
		if (left == 0)
			break;
		used = min_size(put_risk(con, r, row, left), left);
		row += (int)used;
		left -= used;
		drawn += used;
	}
	if (pl->risks < pl->risks_need)
		put_cut_note(con, row, pl->risks_need - drawn, "risks");
}

static void draw_pending(struct console *con, struct watched *w, int top,
			 const struct plan *pl)
{
	json_t *p = w->c.pending;
	struct rows_look look = command_look;
	const char *kind;
	char text[256];
	int row = top;

	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[0m\x1b[K", row++);
	if (p == NULL) {
		tdm_buf_puts(&con->out, "\x1b[2mNothing pending.\x1b[0m");
		tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[K\x1b[%d;1H\x1b[K",
			       row, row + 1);
		return;
	}
	/* Every row is clipped to the width: one that wrapped would spill
	 * over a row the next frame does not redraw. */
	kind = json_text(p, "kind");
	snprintf(text, sizeof(text), "#%d %s %s:", json_int(p, "seq", 0),
		 json_text(p, "engineer"),
		 strcmp(kind, "input") == 0 ? "wants to send more input" :
		 strcmp(kind, "exec") == 0  ? "wants to run (non-interactive)" :
					      "wants to run");
	tdm_buf_puts(&con->out, "\x1b[1;33m");
	put_safe(&con->out, text, text_width(con) + 2);
	tdm_buf_puts(&con->out, "\x1b[0m");
	/* All of the command, or a plain note that it does not fit: the
	 * console then refuses to approve it (key()). */
	look.mark_col = mark_col(con);
	row += (int)put_part(con, json_text(p, "visible"),
			     json_text_len(p, "visible"), text_width(con), row,
			     pl->cmd, pl->cmd_need, &look, "it");
	if (pl->input) {
		put_stdin(con, p, row, pl);
		row += 1 + (int)pl->preview;
	}
	put_risks(con, p, row, pl);
}

static void forget_shown(struct console *con)
{
	int r;

	for (r = 0; r < con->nshown; r++)
		tdm_buf_free(&con->shown[r]);
	free(con->shown);
	con->shown = NULL;
	con->nshown = 0;
}

/* The row a segment of a frame starts on ("\x1b[ROW;1H"), or 0. */
static int segment_row(const uint8_t *p, size_t n)
{
	size_t i = 2;
	int row = 0;

	if (n < 6 || p[0] != 0x1b || p[1] != '[')
		return 0;
	while (i < n && p[i] >= '0' && p[i] <= '9' && row < 10000)
		row = row * 10 + (p[i++] - '0');
	if (i + 3 > n || memcmp(p + i, ";1H", 3) != 0)
		return 0;
	return row;
}

/* Where the first segment at or after p starts, or end. */
static const uint8_t *next_segment(const uint8_t *p, const uint8_t *end)
{
	while (p < end && segment_row(p, (size_t)(end - p)) == 0)
		p++;
	return p;
}

/*
 * Writes the frame in con->out, but only the rows that differ from what
 * the terminal shows: a frame is a prefix, then one segment per row, each
 * starting at its row and ending in the default colours.  Typing in a
 * raw-mode session changes one row; escorts watch over ssh.  A frame
 * that clears to the end of the screen is written whole.
 */
static void put_frame(struct console *con)
{
	const uint8_t *p = con->out.data, *end = p + con->out.len, *seg, *next;
	struct tdm_buf diff;
	int row, r;

	if (p == NULL)
		return;
	if (con->nshown != con->rows) {
		forget_shown(con);
		con->shown = calloc((size_t)con->rows, sizeof(*con->shown));
		if (con->shown != NULL) {
			con->nshown = con->rows;
			/* Nothing known yet: every row differs. */
			for (r = 0; r < con->rows; r++) {
				tdm_buf_init(&con->shown[r], 0);
				tdm_buf_puts(&con->shown[r], "?");
			}
		}
	}
	if (con->shown == NULL ||
	    memmem(p, con->out.len, "\x1b[J", 3) != NULL) {
		forget_shown(con);
		if (write(STDOUT_FILENO, p, con->out.len) < 0)
			con->quit = true;
		return;
	}
	tdm_buf_init(&diff, 0);
	/* The prefix (cursor hidden) is always written. */
	seg = next_segment(p, end);
	tdm_buf_put(&diff, p, (size_t)(seg - p));
	while (seg < end) {
		row = segment_row(seg, (size_t)(end - seg));
		next = next_segment(seg + 1, end);
		if (row >= 1 && row <= con->nshown) {
			struct tdm_buf *was = &con->shown[row - 1];
			size_t n = (size_t)(next - seg);

			if (was->len != n ||
			    (n > 0 && memcmp(was->data, seg, n) != 0)) {
				tdm_buf_puts(&diff, "\x1b[0m");
				tdm_buf_put(&diff, seg, n);
				tdm_buf_reset(was);
				tdm_buf_put(was, seg, n);
			}
		} else {
			tdm_buf_put(&diff, seg, (size_t)(next - seg));
		}
		seg = next;
	}
	if (diff.data != NULL && write(STDOUT_FILENO, diff.data, diff.len) < 0)
		con->quit = true;
	tdm_buf_free(&diff);
}

/* The separator row names the other sessions with a command waiting:
 * an escort watching one session must not leave another's engineer
 * waiting unseen.  used: columns the row already holds. */
static void put_waiting_elsewhere(struct console *con, int used)
{
	char text[160];
	size_t i, len = 0, waiting = 0, room;

	for (i = 0; i < con->n; i++) {
		if (i == con->cur || con->w[i]->c.pending == NULL)
			continue;
		if (waiting++ == 0)
			len = (size_t)snprintf(text, sizeof(text),
					       " waiting in session");
		if (len < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						" %zu/%zu", i + 1, con->n);
	}
	if (waiting == 0 || con->cols <= used + 1)
		return;
	if (len < sizeof(text))
		snprintf(text + len, sizeof(text) - len, " (n/p goes there)");
	room = (size_t)(con->cols - used - 1);
	tdm_buf_puts(&con->out, "\x1b[1;33m");
	put_safe(&con->out, text, room);
	tdm_buf_puts(&con->out, "\x1b[0m");
}

static void draw(struct console *con)
{
	struct watched *w = con->n > 0 ? con->w[con->cur] : NULL;
	struct plan pl;
	char unwatched[120], crop[160];
	int pane, sep, sep_used = 17;

	plan_pending(con, w, &pl);
	sep = con->rows - 1 - (int)pl.rows;
	pane = sep - 2;
	/* The look-first time starts when a command is on screen. */
	if (w != NULL && (strcmp(con->drawn_id, w->c.id) != 0 ||
			  con->drawn_seq != pending_seq(w))) {
		snprintf(con->drawn_id, sizeof(con->drawn_id), "%s", w->c.id);
		con->drawn_seq = pending_seq(w);
		con->drawn_ms = now_ms();
	}
	/* The command, every risk in full and the stdin's start: the
	 * escort approves all of it, so all of it must be on screen. */
	con->drawn_whole = !con->too_small && all_fits(&pl);

	/* Sessions past MAX_WATCHED are not on this console at all: their
	 * commands wait unseen unless the escort is told where to look. */
	unwatched[0] = '\0';
	if (con->unwatched > 0)
		snprintf(unwatched, sizeof(unwatched),
			 "%zu more session%s NOT WATCHED: use tandem-escort "
			 "pending | ",
			 con->unwatched, con->unwatched == 1 ? "" : "s");

	tdm_buf_reset(&con->out);
	tdm_buf_puts(&con->out, "\x1b[?25l\x1b[1;1H\x1b[0;7m\x1b[K");
	if (w == NULL) {
		tdm_buf_printf(&con->out,
			       " tandem escort %s: %sno live "
			       "sessions you may escort",
			       con->ctx->me->name, unwatched);
	} else {
		/* Most important first: a narrow terminal cuts the end. */
		tdm_buf_printf(&con->out,
			       " tandem escort %s | %s%ssession "
			       "%zu/%zu: %s@%s | %s",
			       con->ctx->me->name,
			       w->raw ? "RAW MODE: keys pass unapproved | " :
					"",
			       unwatched, con->cur + 1, con->n,
			       json_text(w->c.welcome, "engineer"),
			       json_text(w->c.welcome, "target"), w->c.id);
	}
	tdm_buf_puts(&con->out, "\x1b[0m");
	if (w != NULL && pane > 0)
		draw_pane(con, w, 2, pane);
	else
		tdm_buf_puts(&con->out, "\x1b[2;1H\x1b[J");
	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[0;2m\x1b[K", sep);
	tdm_buf_puts(&con->out, "---- pending ----\x1b[0m");
	crop[0] = '\0';
	if (w != NULL)
		pane_crop_note(con, w, pane, crop, sizeof(crop));
	if (crop[0] != '\0' && con->cols > sep_used + 1) {
		tdm_buf_puts(&con->out, "\x1b[1;30;43m");
		put_safe(&con->out, crop, (size_t)(con->cols - sep_used - 1));
		tdm_buf_puts(&con->out, "\x1b[0m");
		sep_used += (int)strlen(crop);
	}
	put_waiting_elsewhere(con, sep_used);
	if (w != NULL)
		draw_pending(con, w, sep + 1, &pl);
	else
		tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[J", sep + 1);
	tdm_buf_printf(&con->out, "\x1b[%d;1H\x1b[0;7m\x1b[K", con->rows);
	if (con->mode == MODE_REASON) {
		static const char ask[] = " reason for denying (Enter sends, "
					  "Esc cancels): ";
		int room = con->cols - (int)sizeof(ask);

		tdm_buf_puts(&con->out, ask);
		/* The end of what is typed, clipped to the row. */
		if (room > 0)
			put_safe(&con->out,
				 con->input +
					 (con->ilen > (size_t)room ?
						  con->ilen - (size_t)room :
						  0),
				 (size_t)room);
	} else if (con->mode == MODE_KILL) {
		tdm_buf_puts(&con->out, " end this session? y to confirm, "
					"any other key cancels");
	} else {
		static const char keys_help[] = "a approve  d deny  k kill  "
						"r raw on/off  n/p next/prev  "
						"q quit";
		size_t room = (size_t)(con->cols > 2 ? con->cols - 2 : 0);
		size_t used = strlen(con->status);

		/* What the last key did, then the keys, clipped to the row:
		 * a wrapped row would scroll the whole screen.  (Bytes count
		 * as columns, so the clip is never late.) */
		tdm_buf_putc(&con->out, ' ');
		put_safe(&con->out, con->status, room);
		if (used + 3 < room) {
			tdm_buf_puts(&con->out, " | ");
			put_safe(&con->out, keys_help, room - used - 3);
		}
	}
	tdm_buf_puts(&con->out, "\x1b[0m");
	put_frame(con);
}

static void act(struct console *con, uint8_t type, json_t *req)
{
	struct watched *w = con->n > 0 ? con->w[con->cur] : NULL;

	if (w == NULL) {
		json_decref(req);
		return;
	}
	if (client_send(&w->c, type, req) < 0)
		snprintf(con->status, sizeof(con->status),
			 "the session is "
			 "gone");
}

static void key(struct console *con, uint8_t k)
{
	struct watched *w = con->n > 0 ? con->w[con->cur] : NULL;
	long long seq = -1;

	con->dirty = true;
	con->urgent = true;
	if (w != NULL)
		seq = pending_seq(w);
	if (con->mode == MODE_REASON) {
		if (k == '\r' || k == '\n') {
			if (seq > 0 && seq == con->asked_seq &&
			    strcmp(w->c.id, con->asked_id) == 0)
				act(con, TDM_MSG_DENY,
				    json_pack("{s:I,s:s?}", "seq",
					      (json_int_t)seq, "reason",
					      con->ilen ? con->input : NULL));
			else
				snprintf(con->status, sizeof(con->status),
					 "#%lld was decided or withdrawn "
					 "meanwhile: nothing was denied",
					 con->asked_seq);
			con->mode = MODE_KEYS;
		} else if (k == 0x1b) {
			con->mode = MODE_KEYS;
		} else if ((k == 0x7f || k == 0x08) && con->ilen > 0) {
			con->input[--con->ilen] = '\0';
		} else if (k >= 0x20 && k != 0x7f &&
			   con->ilen + 1 < sizeof(con->input)) {
			con->input[con->ilen++] = (char)k;
			con->input[con->ilen] = '\0';
		}
		return;
	}
	if (con->mode == MODE_KILL) {
		if (k == 'y' && w != NULL &&
		    strcmp(w->c.id, con->asked_id) == 0)
			act(con, TDM_MSG_KILL,
			    json_pack("{s:s}", "reason", "ended by escort"));
		con->mode = MODE_KEYS;
		return;
	}
	switch (k) {
	case 'a':
		if (seq <= 0) {
			snprintf(con->status, sizeof(con->status),
				 "nothing to approve");
		} else if (strcmp(con->drawn_id, w->c.id) != 0 ||
			   con->drawn_seq != seq ||
			   now_ms() - con->drawn_ms < LOOK_FIRST_MS) {
			snprintf(con->status, sizeof(con->status),
				 "#%lld just arrived: read it first", seq);
		} else if (!con->drawn_whole) {
			/* The pending area says which part does not fit. */
			snprintf(con->status, sizeof(con->status),
				 "#%lld is not all on screen: enlarge the "
				 "window or use tandem-escort pending",
				 seq);
		} else {
			act(con, TDM_MSG_APPROVE,
			    json_pack("{s:I}", "seq", (json_int_t)seq));
		}
		break;
	case 'd':
		if (seq > 0) {
			con->mode = MODE_REASON;
			con->ilen = 0;
			con->input[0] = '\0';
			snprintf(con->asked_id, sizeof(con->asked_id), "%s",
				 w->c.id);
			con->asked_seq = seq;
		}
		break;
	case 'k':
		if (w != NULL) {
			con->mode = MODE_KILL;
			snprintf(con->asked_id, sizeof(con->asked_id), "%s",
				 w->c.id);
		}
		break;
	case 'r':
		if (w != NULL)
			act(con, TDM_MSG_RAW,
			    json_pack("{s:b}", "on", !w->raw));
		break;
	case 'n':
	case '\t':
		if (con->n > 0)
			con->cur = (con->cur + 1) % con->n;
		break;
	case 'p':
		if (con->n > 0)
			con->cur = (con->cur + con->n - 1) % con->n;
		break;
	case 'q':
		con->quit = true;
		break;
	}
}

static void window_size(struct console *con)
{
	struct winsize ws;

	con->rows = 24;
	con->cols = 80;
	con->too_small = false;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	/* Drawn as if 80x24, which such a window cannot show: nothing can
	 * be approved until it is made larger. */
	con->too_small = ws.ws_row < 8 || ws.ws_col < 20;
	if (!con->too_small) {
		con->rows = ws.ws_row;
		con->cols = ws.ws_col;
	}
}

static void drop_ended(struct console *con)
{
	size_t i = 0;

	while (i < con->n) {
		if (!con->w[i]->c.ended) {
			i++;
			continue;
		}
		/* A prompt about the session that ended is over. */
		if (i == con->cur && con->mode != MODE_KEYS) {
			con->mode = MODE_KEYS;
			snprintf(con->status, sizeof(con->status),
				 "the session ended: nothing was sent");
		}
		watched_free(con->w[i]);
		con->dirty = con->urgent = true;
		memmove(con->w + i, con->w + i + 1,
			(con->n - i - 1) * sizeof(con->w[0]));
		con->n--;
		/* The escort stays on the session they were looking at. */
		if (i < con->cur)
			con->cur--;
		if (con->cur >= con->n && con->n > 0)
			con->cur = con->n - 1;
		if (con->n == 0)
			con->cur = 0;
	}
}

static void loop(struct console *con, int sigfd)
{
	uint64_t last_scan = 0, last_draw = 0;

	while (!con->quit) {
		struct pollfd pfd[2 * MAX_WATCHED + 2];
		size_t i, n = 0;
		uint8_t keys[256];
		ssize_t got;
		bool more;
		int wait;

		if (now_ms() - last_scan >= 1000) {
			attach_new(con);
			last_scan = now_ms();
		}
		for (i = 0; i < con->n; i++) {
			struct watched *w = con->w[i];
			long long seq = pending_seq(w);

			if (seq != w->shown_seq) {
				/* Drawn at once: the look-first time starts
				 * when it is on screen (draw()). */
				w->shown_seq = seq;
				con->dirty = con->urgent = true;
				last_draw = 0;
			}
		}
		/* At most one frame every DRAW_EVERY_MS: a flood of output,
		 * or every key of a raw-mode session, changes the model many
		 * times a frame, and each draw renders the whole model.  A
		 * change that is only output also waits for a pause in it. */
		wait = 500;
		if (con->dirty) {
			uint64_t now = now_ms(), due = 0, at;

			if (!con->urgent) {
				at = con->output_last_ms + DRAW_QUIET_MS;
				if (con->output_first_ms + DRAW_LATEST_MS < at)
					at = con->output_first_ms +
					     DRAW_LATEST_MS;
				due = at > now ? at - now : 0;
			}
			if (now - last_draw < DRAW_EVERY_MS &&
			    DRAW_EVERY_MS - (now - last_draw) > due)
				due = DRAW_EVERY_MS - (now - last_draw);
			if (due == 0) {
				draw(con);
				con->dirty = con->urgent = false;
				last_draw = now_ms();
			} else {
				wait = (int)due;
			}
		}
		/* Messages already read from a socket poll cannot see. */
		if (con->more)
			wait = 0;
		pfd[n].fd = STDIN_FILENO;
		pfd[n++].events = POLLIN;
		pfd[n].fd = sigfd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < con->n; i++) {
			pfd[n].fd = con->w[i]->c.fd;
			pfd[n++].events = POLLIN;
		}
		/* Sessions being joined wake the loop too; their deadlines
		 * are looked at every half second at least. */
		for (i = 0; i < con->njoining; i++) {
			pfd[n + i].fd = con->joining[i]->c.fd;
			pfd[n + i].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)(n + con->njoining), wait) < 0 &&
		    errno != EINTR)
			break;
		if (pfd[0].revents & (POLLHUP | POLLERR))
			break;
		if (pfd[0].revents & POLLIN) {
			got = read(STDIN_FILENO, keys, sizeof(keys));
			if (got <= 0)
				break;
			for (i = 0; i < (size_t)got; i++)
				key(con, keys[i]);
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) > 0)
				if (si.ssi_signo != SIGWINCH)
					con->quit = true;
			window_size(con);
			forget_shown(con);
			con->dirty = con->urgent = true;
		}
		more = con->more;
		con->more = false;
		for (i = 0; i + 2 < n && i < con->n; i++) {
			struct watched *w = con->w[i];
			uint64_t until = now_ms() + READ_SLICE_MS;
			struct tdm_msg m;
			int rc;

			if (!(pfd[i + 2].revents & (POLLIN | POLLHUP)) && !more)
				continue;
			while ((rc = client_next(&w->c, &m, 0)) == 1) {
				on_message(con, w, &m);
				tdm_msg_clear(&m);
				if (now_ms() >= until) {
					con->more = true;
					break;
				}
			}
			if (rc < 0)
				w->c.ended = true;
		}
		join_step(con);
		drop_ended(con);
	}
}

int cmd_console(const struct escort_ctx *ctx)
{
	struct console con;
	struct termios saved, raw;
	sigset_t set;
	size_t i;
	int sigfd;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tandem-escort: the console needs a terminal "
				"(ssh -t escort@BASTION); without one use the "
				"subcommands (see --help)\n");
		return 2;
	}
	memset(&con, 0, sizeof(con));
	con.ctx = ctx;
	tdm_buf_init(&con.out, 0);
	window_size(&con);
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	tcgetattr(STDIN_FILENO, &saved);
	raw = saved;
	cfmakeraw(&raw);
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	/* No autowrap: a row too long for the terminal is cut at its
	 * edge, never spilled onto the next row, which a frame may leave
	 * as it was. */
	if (write(STDOUT_FILENO, "\x1b[?1049h\x1b[?7l\x1b[2J", 17) < 0)
		con.quit = true;
	snprintf(con.status, sizeof(con.status), "watching");
	con.dirty = con.urgent = true;
	loop(&con, sigfd);
	if (write(STDOUT_FILENO, "\x1b[0m\x1b[?7h\x1b[?25h\x1b[?1049l", 23) < 0)
		con.quit = true;
	tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	for (i = 0; i < con.n; i++)
		watched_free(con.w[i]);
	for (i = 0; i < con.njoining; i++)
		watched_free(con.joining[i]);
	tdm_buf_free(&con.out);
	forget_shown(&con);
	if (sigfd >= 0)
		close(sigfd);
	return 0;
}
