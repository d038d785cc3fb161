/*
 * lineedit.c: the engineer's line editor; see lineedit.h.
 *
 * The editor never decides what reaches the target: it only turns
 * keystrokes into a line.  Every byte of the line is kept exactly as typed
 * (a pasted newline, a Ctrl-V literal, an escape character) so the escort
 * approves precisely what will be sent.
 */
#include "lineedit.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "visible.h"

enum { ST_TEXT, ST_ESC, ST_CSI, ST_SS3 };

void lineedit_init(struct lineedit *le)
{
	memset(le, 0, sizeof(*le));
	tdm_buf_init(&le->line, LINEEDIT_MAX);
}

void lineedit_free(struct lineedit *le)
{
	size_t i;

	tdm_buf_free(&le->line);
	for (i = 0; i < le->nhistory; i++)
		free(le->history[i]);
	le->nhistory = 0;
}

void lineedit_clear(struct lineedit *le)
{
	tdm_buf_reset(&le->line);
	le->cursor = 0;
	le->browse = le->nhistory;
	/* Nothing half-read survives: no paste, escape or Ctrl-V. */
	le->paste = false;
	le->literal = false;
	le->esc = ST_TEXT;
	le->ncsi = 0;
}

static int insert(struct lineedit *le, const uint8_t *p, size_t n)
{
	struct tdm_buf *b = &le->line;
	int rc = tdm_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	memmove(b->data + le->cursor + n, b->data + le->cursor,
		b->len - le->cursor + 1);
	memcpy(b->data + le->cursor, p, n);
	b->len += n;
	le->cursor += n;
	return 0;
}

static void delete_range(struct lineedit *le, size_t from, size_t to)
{
	struct tdm_buf *b = &le->line;

	/* Nothing to delete; a line never typed in has no memory yet. */
	if (from == to) {
		le->cursor = from;
		return;
	}
	memmove(b->data + from, b->data + to, b->len - to + 1);
	b->len -= to - from;
	le->cursor = from;
}

/* Byte offset of the character before / after off (UTF-8 aware). */
static size_t prev_char(const struct lineedit *le, size_t off)
{
	if (off == 0)
		return 0;
	off--;
	while (off > 0 && (le->line.data[off] & 0xc0) == 0x80)
		off--;
	return off;
}

static size_t next_char(const struct lineedit *le, size_t off)
{
	if (off >= le->line.len)
		return le->line.len;
	off++;
	while (off < le->line.len && (le->line.data[off] & 0xc0) == 0x80)
		off++;
	return off;
}

static void kill_word(struct lineedit *le)
{
	size_t at = le->cursor;

	while (at > 0 && le->line.data[at - 1] == ' ')
		at--;
	while (at > 0 && le->line.data[at - 1] != ' ')
		at--;
	delete_range(le, at, le->cursor);
}

static int recall(struct lineedit *le, size_t idx)
{
	lineedit_clear(le);
	le->browse = idx;
	if (idx >= le->nhistory)
		return 0;
	return insert(le, (const uint8_t *)le->history[idx],
		      le->history_len[idx]);
}

void lineedit_take(struct lineedit *le)
{
	char *copy;

	if (le->line.len > 0) {
		copy = malloc(le->line.len);
		if (copy != NULL) {
			if (le->nhistory == LINEEDIT_HISTORY) {
				free(le->history[0]);
				memmove(le->history, le->history + 1,
					(LINEEDIT_HISTORY - 1) *
						sizeof(le->history[0]));
				memmove(le->history_len, le->history_len + 1,
					(LINEEDIT_HISTORY - 1) *
						sizeof(le->history_len[0]));
				le->nhistory--;
			}
			memcpy(copy, le->line.data, le->line.len);
			le->history[le->nhistory] = copy;
			le->history_len[le->nhistory] = le->line.len;
			le->nhistory++;
		}
	}
	lineedit_clear(le);
}

static int csi_key(struct lineedit *le, char final)
{
	le->csi[le->ncsi] = '\0';
	if (final == '~') {
		if (strcmp(le->csi, "200") == 0) {
			le->paste = true;
		} else if (strcmp(le->csi, "3") == 0) {
			if (le->cursor < le->line.len)
				delete_range(le, le->cursor,
					     next_char(le, le->cursor));
		} else if (strcmp(le->csi, "1") == 0 ||
			   strcmp(le->csi, "7") == 0) {
			le->cursor = 0;
		} else if (strcmp(le->csi, "4") == 0 ||
			   strcmp(le->csi, "8") == 0) {
			le->cursor = le->line.len;
		}
		return 0;
	}
	switch (final) {
	case 'A':
		if (le->browse > 0)
			return recall(le, le->browse - 1);
		return 0;
	case 'B':
		if (le->browse < le->nhistory)
			return recall(le, le->browse + 1);
		return 0;
	case 'C':
		le->cursor = next_char(le, le->cursor);
		return 0;
	case 'D':
		le->cursor = prev_char(le, le->cursor);
		return 0;
	case 'H':
		le->cursor = 0;
		return 0;
	case 'F':
		le->cursor = le->line.len;
		return 0;
	}
	return 0;
}

/* Inside a bracketed paste everything is text until ESC [ 2 0 1 ~. */
static int feed_paste(struct lineedit *le, uint8_t c)
{
	static const char end[] = "\x1b[201~";
	size_t have = le->ncsi;

	if ((uint8_t)end[have] == c) {
		le->ncsi++;
		if (le->ncsi == sizeof(end) - 1) {
			le->ncsi = 0;
			le->paste = false;
		}
		return 0;
	}
	le->ncsi = 0;
	if (have > 0) {
		int rc = insert(le, (const uint8_t *)end, have);

		if (rc < 0)
			return rc;
		if (c == (uint8_t)end[0]) {
			le->ncsi = 1;
			return 0;
		}
	}
	return insert(le, &c, 1);
}

int lineedit_feed(struct lineedit *le, uint8_t c, enum le_action *act)
{
	*act = LE_NONE;
	if (le->paste)
		return feed_paste(le, c);
	if (le->literal) {
		le->literal = false;
		return insert(le, &c, 1);
	}
	switch (le->esc) {
	case ST_ESC:
		le->esc = ST_TEXT;
		if (c == '[') {
			le->esc = ST_CSI;
			le->ncsi = 0;
			return 0;
		}
		if (c == 'O') {
			le->esc = ST_SS3;
			return 0;
		}
		/* A lone escape followed by text: keep both, visibly. */
		{
			int rc = insert(le, (const uint8_t *)"\x1b", 1);

			return rc < 0 ? rc : lineedit_feed(le, c, act);
		}
	case ST_SS3:
		le->esc = ST_TEXT;
		le->ncsi = 0;
		return csi_key(le, (char)c);
	case ST_CSI:
		if ((c >= '0' && c <= '9') || c == ';') {
			if (le->ncsi < sizeof(le->csi) - 1)
				le->csi[le->ncsi++] = (char)c;
			return 0;
		}
		le->esc = ST_TEXT;
		{
			int rc = csi_key(le, (char)c);

			le->ncsi = 0;
			return rc;
		}
	}
	switch (c) {
	case '\r':
	case '\n':
		*act = LE_SUBMIT;
		return 0;
	case 0x03:
		*act = LE_INTERRUPT;
		return 0;
	case 0x04:
		if (le->line.len == 0)
			*act = LE_EOF;
		else if (le->cursor < le->line.len)
			delete_range(le, le->cursor, next_char(le, le->cursor));
		return 0;
	case 0x1d:
		*act = LE_ESCAPE;
		return 0;
	case 0x1b:
		le->esc = ST_ESC;
		return 0;
	case 0x7f:
	case 0x08:
		if (le->cursor > 0)
			delete_range(le, prev_char(le, le->cursor), le->cursor);
		return 0;
	case 0x15: /* Ctrl-U */
		delete_range(le, 0, le->cursor);
		return 0;
	case 0x17: /* Ctrl-W */
		kill_word(le);
		return 0;
	case 0x01: /* Ctrl-A */
		le->cursor = 0;
		return 0;
	case 0x05: /* Ctrl-E */
		le->cursor = le->line.len;
		return 0;
	case 0x02: /* Ctrl-B */
		le->cursor = prev_char(le, le->cursor);
		return 0;
	case 0x06: /* Ctrl-F */
		le->cursor = next_char(le, le->cursor);
		return 0;
	case 0x0b: /* Ctrl-K */
		delete_range(le, le->cursor, le->line.len);
		return 0;
	case 0x16: /* Ctrl-V */
		le->literal = true;
		return 0;
	}
	return insert(le, &c, 1);
}

/* Columns the visible form of p takes (one per code point). */
static size_t columns(const uint8_t *p, size_t n)
{
	size_t i, cols = 0;

	for (i = 0; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			cols++;
	return cols;
}

int lineedit_draw(struct lineedit *le, const struct tdm_buf *text,
		  const char *status, struct tdm_buf *out)
{
	const struct tdm_buf *line = text != NULL ? text : &le->line;
	struct tdm_buf tail;
	int rc;

	tdm_buf_init(&tail, 0);
	/* DECSC where the line starts; DECRC + clear to redraw it. */
	/* clang-format off */
	rc = tdm_buf_puts(out, le->drawn ? "\x1b" "8\x1b[J" : "\x1b" "7");
	/* clang-format on */
	if (rc == 0)
		rc = tdm_visible(line->data, line->len, out);
	if (rc == 0 && status != NULL)
		rc = tdm_buf_printf(out, "  \x1b[2m%s\x1b[0m", status);
	if (rc == 0 && text == NULL && status == NULL &&
	    le->cursor < le->line.len) {
		rc = tdm_visible(le->line.data + le->cursor,
				 le->line.len - le->cursor, &tail);
		if (rc == 0)
			rc = tdm_buf_printf(out, "\x1b[%zuD",
					    columns(tail.data, tail.len));
	}
	tdm_buf_free(&tail);
	if (rc == 0)
		le->drawn = true;
	return rc;
}

int lineedit_erase(struct lineedit *le, struct tdm_buf *out)
{
	if (!le->drawn)
		return 0;
	le->drawn = false;
	/* clang-format off */
	return tdm_buf_puts(out, "\x1b" "8\x1b[J");
	/* clang-format on */
}
