/*
 * vt.h: a terminal-safe filter for recorded output.
 *
 * A table-driven VT500-style parser (the state machine of Paul Williams'
 * DEC parser, as tmux's input.c uses) passes on text, colours, cursor
 * movement and screen modes, and drops what acts outside the screen: OSC
 * strings (clipboard OSC 52, titles, hyperlinks OSC 8, file transfers),
 * DCS/APC/PM/SOS strings, device and status queries and reports, mouse and
 * focus reporting, 8-bit C1 controls (raw or UTF-8 encoded), and the
 * ZMODEM start sequence.  State carries across calls, so a sequence split
 * between two chunks is still recognised.
 */
#ifndef TDM_VT_H
#define TDM_VT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct tdm_vt_filter;

int tdm_vt_filter_new(struct tdm_vt_filter **out);
/* Appends to out what of in is safe to show; counts what was dropped. */
int tdm_vt_filter(struct tdm_vt_filter *f, const uint8_t *in, size_t n,
		  struct tdm_buf *out);
/* Sequences dropped so far. */
uint64_t tdm_vt_dropped(const struct tdm_vt_filter *f);
void tdm_vt_filter_free(struct tdm_vt_filter *f);

#endif
