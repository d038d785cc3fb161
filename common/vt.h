/*
 * vt.h: a terminal-safe filter for recorded output.
 *
 * A table-driven VT500-style parser (the state machine of Paul Williams'
 * DEC parser, as tmux's input.c uses it) passes on text, colours, cursor
 * movement, erasing, scrolling and the screen modes a full-screen program
 * needs, and drops what acts outside the screen: OSC strings (clipboard
 * OSC 52, titles, hyperlinks OSC 8, iTerm2 file transfer OSC 1337, colour
 * queries), DCS/APC/PM/SOS strings (DECRQSS, XTGETTCAP, sixel, kitty
 * graphics APC _G), device and status queries and reports (DA, DSR,
 * DECRQM, XTVERSION, window operations CSI t), mouse, focus and keyboard
 * modes, 8-bit C1 controls (raw bytes or UTF-8 encoded U+0080..U+009F),
 * and ZMODEM headers ("**" CAN "B..." that terminals answer by starting a
 * file transfer).  State carries across calls, so a sequence or a UTF-8
 * character split between two chunks is still recognised.
 *
 * What comes out is valid UTF-8 (bad bytes become U+FFFD) in which ESC only
 * starts a whole sequence from the allowlist in vt.c; no C1 control and no
 * C0 control other than BS, HT, LF, VT, FF, CR, SO and SI appears.
 * Filtering the output again gives the same output.
 */
#ifndef TDM_VT_H
#define TDM_VT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct tdm_vt_filter;

/* What was dropped, by family (a sequence counts once). */
struct tdm_vt_stats {
	uint64_t osc;	   /* OSC strings: title, clipboard, links... */
	uint64_t strings;  /* DCS, APC, PM and SOS strings */
	uint64_t queries;  /* CSI/ESC sequences not on the allowlist */
	uint64_t c1;	   /* 8-bit C1 controls (and what they began) */
	uint64_t controls; /* C0 controls such as BEL, ENQ, CAN, DEL */
	uint64_t zmodem;   /* ZMODEM headers */
	uint64_t bad_utf8; /* bytes replaced by U+FFFD */
};

int tdm_vt_filter_new(struct tdm_vt_filter **out);
/* Appends to out what of in is safe to show. */
int tdm_vt_filter(struct tdm_vt_filter *f, const uint8_t *in, size_t n,
		  struct tdm_buf *out);
/*
 * The end of the stream: appends what was held back (a cut-off UTF-8
 * character as U+FFFD, a trailing "*" or two) and the sequences that undo
 * what the output left switched on (alternate screen, hidden cursor,
 * colours, scroll region, line-drawing characters), so the investigator's
 * terminal is usable afterwards.  The filter starts afresh after it.
 */
int tdm_vt_finish(struct tdm_vt_filter *f, struct tdm_buf *out);
/* Sequences and bytes dropped so far, all families together. */
uint64_t tdm_vt_dropped(const struct tdm_vt_filter *f);
void tdm_vt_stats(const struct tdm_vt_filter *f, struct tdm_vt_stats *st);
void tdm_vt_filter_free(struct tdm_vt_filter *f);

#endif
