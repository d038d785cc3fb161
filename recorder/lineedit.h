/*
 * lineedit.h: the engineer's line editor.
 *
 * In line mode nothing the engineer types goes to the target as it is
 * typed: the editor keeps the line locally (insert, backspace, Ctrl-U,
 * Ctrl-W, Ctrl-A/E, left/right, home/end, Delete, local history, bracketed
 * paste as one unit) and hands over the exact line when Enter is pressed.
 * It has no I/O of its own: it is fed bytes and appends what to draw.
 */
#ifndef TDM_REC_LINEEDIT_H
#define TDM_REC_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LINEEDIT_MAX (64u * 1024u)
#define LINEEDIT_HISTORY 200

enum le_action {
	LE_NONE,
	LE_SUBMIT,    /* Enter: the line is in le->line */
	LE_INTERRUPT, /* Ctrl-C: exempt, goes to the target at once */
	LE_EOF,	      /* Ctrl-D on an empty line */
	LE_ESCAPE,    /* Ctrl-]: the engineer leaves supervised raw mode */
};

struct lineedit {
	struct tdm_buf line;
	size_t cursor; /* byte offset into line */
	char *history[LINEEDIT_HISTORY];
	size_t history_len[LINEEDIT_HISTORY];
	size_t nhistory;
	size_t browse; /* == nhistory when not browsing */
	int esc;       /* escape-sequence parser state */
	char csi[16];
	size_t ncsi;
	bool paste;   /* inside a bracketed paste */
	bool literal; /* Ctrl-V: the next byte is taken as is */
	bool drawn;   /* the line is on the engineer's screen */
};

void lineedit_init(struct lineedit *le);
void lineedit_free(struct lineedit *le);
/* Feeds one byte; *act says what the engineer asked for. */
int lineedit_feed(struct lineedit *le, uint8_t c, enum le_action *act);
/* After LE_SUBMIT: remembers the line in history and empties it. */
void lineedit_take(struct lineedit *le);
void lineedit_clear(struct lineedit *le);

/*
 * Drawing.  The first draw saves the cursor where the line starts; later
 * draws redraw from there: the line being edited, or text (a pending
 * command) when not NULL, then status if any.  erase removes it all.
 */
int lineedit_draw(struct lineedit *le, const struct tdm_buf *text,
		  const char *status, struct tdm_buf *out);
int lineedit_erase(struct lineedit *le, struct tdm_buf *out);

#endif
