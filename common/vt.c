/*
 * vt.c: interim terminal-safe filter (the table-driven VT parser replaces
 * it).  Until then it is strict rather than faithful: every control byte
 * except TAB, LF, CR and BS is dropped, and so are C1 controls encoded as
 * UTF-8 (U+0080..U+009F), so no recorded sequence can act on the
 * investigator's terminal; colours are lost and the rest of a dropped
 * sequence shows as text.  This file must never pass ESC, a C1 control or
 * DEL through.
 */
#include "vt.h"
#include "err.h"

#include <stdlib.h>

struct tdm_vt_filter {
	uint64_t dropped;
	int after_c2;           /* the previous byte was a held-back 0xC2 */
	int need;               /* continuation bytes the sequence still needs */
};

int tdm_vt_filter_new(struct tdm_vt_filter **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : TDM_ERR_NOMEM;
}

int tdm_vt_filter(struct tdm_vt_filter *f, const uint8_t *in, size_t n,
		  struct tdm_buf *out)
{
	size_t i;
	uint8_t c;
	int rc;

	/* At most every byte in, plus a 0xC2 held back from before. */
	rc = tdm_buf_reserve(out, n + 1);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		c = in[i];
		if (f->after_c2) {
			/* U+0080..U+009F: a C1 control spelt in UTF-8. */
			f->after_c2 = 0;
			if (c >= 0x80 && c <= 0x9f) {
				f->dropped++;
				continue;
			}
			out->data[out->len++] = 0xc2;
			f->need = 1;
		}
		if (c >= 0x80 && c <= 0xbf) {
			if (f->need > 0) {
				f->need--;
				out->data[out->len++] = c;
			} else {
				/* A stray byte: raw 8-bit C1 included. */
				f->dropped++;
			}
			continue;
		}
		f->need = 0;
		if (c == 0xc2) {
			f->after_c2 = 1;
			continue;
		}
		if (c >= 0xc3 && c <= 0xdf)
			f->need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			f->need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			f->need = 3;
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' &&
		     c != '\b') || c == 0x7f) {
			f->dropped++;
			continue;
		}
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
	return 0;
}

uint64_t tdm_vt_dropped(const struct tdm_vt_filter *f)
{
	return f->dropped;
}

void tdm_vt_filter_free(struct tdm_vt_filter *f)
{
	free(f);
}
