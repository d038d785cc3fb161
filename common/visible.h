/*
 * visible.h: a command as an escort must see it.
 *
 * Escorts approve exact bytes, so nothing in a command may hide: control
 * characters, bidirectional overrides, zero-width characters and bytes that
 * are not UTF-8 are written as escapes (\t, \n, \x1b, \u202e, \xff), and a
 * backslash is doubled so an escape can never be faked by typing one.
 */
#ifndef TDM_VISIBLE_H
#define TDM_VISIBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

int tdm_visible(const uint8_t *p, size_t n, struct tdm_buf *out);
/* True when p holds anything tdm_visible would escape (besides '\\'). */
bool tdm_visible_has_hidden(const uint8_t *p, size_t n);
/* A code point that changes how text looks or reads without showing
 * (bidi controls, zero widths, C1 controls...). */
bool tdm_visible_hidden_cp(uint32_t c);
/*
 * Length of the valid UTF-8 sequence at p (1-4), or 0 when p does not start
 * one (overlong, surrogate, above U+10FFFF, truncated).  *cp gets the code
 * point.
 */
size_t tdm_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);

#endif
