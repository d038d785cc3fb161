/* visible.c: commands with nothing hidden; see visible.h. */
#include "visible.h"

#include "err.h"

size_t tdm_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * Code points that change how text looks or reads without showing: C1
 * controls, line separators, interlinear annotation marks and Unicode's
 * whole Default_Ignorable_Code_Point set (which renders as nothing).
 */
bool tdm_visible_hidden_cp(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) ||	 /* C1 controls */
	       c == 0xad ||			 /* soft hyphen */
	       c == 0x034f ||			 /* grapheme joiner */
	       c == 0x061c ||			 /* Arabic letter mark */
	       c == 0x115f || c == 0x1160 ||	 /* Hangul fillers */
	       c == 0x17b4 || c == 0x17b5 ||	 /* Khmer inherent vowels */
	       (c >= 0x180b && c <= 0x180f) ||	 /* Mongolian selectors */
	       (c >= 0x200b && c <= 0x200f) ||	 /* zero-width, LRM, RLM */
	       (c >= 0x2028 && c <= 0x202e) ||	 /* separators, bidi */
	       (c >= 0x2060 && c <= 0x206f) ||	 /* word joiner, isolates */
	       c == 0x3164 ||			 /* Hangul filler */
	       (c >= 0xfe00 && c <= 0xfe0f) ||	 /* variation selectors */
	       c == 0xfeff ||			 /* BOM */
	       c == 0xffa0 ||			 /* half-width filler */
	       (c >= 0xfff0 && c <= 0xfffb) ||	 /* unassigned, interlinear */
	       (c >= 0x1bca0 && c <= 0x1bca3) || /* shorthand controls */
	       (c >= 0x1d173 && c <= 0x1d17a) || /* musical formatting */
	       (c >= 0xe0000 && c <= 0xe0fff);	 /* tags, selectors */
}

bool tdm_visible_has_hidden(const uint8_t *p, size_t n)
{
	size_t i = 0, l;
	uint32_t c;

	while (i < n) {
		l = tdm_utf8_decode(p + i, n - i, &c);
		if (l == 0)
			return true;
		if (c < 0x20 || c == 0x7f || tdm_visible_hidden_cp(c))
			return true;
		i += l;
	}
	return false;
}

int tdm_visible(const uint8_t *p, size_t n, struct tdm_buf *out)
{
	size_t i = 0, l, old = out->len;
	uint32_t c;
	int rc = 0;

	while (i < n && rc == 0) {
		l = tdm_utf8_decode(p + i, n - i, &c);
		if (l == 0) {
			rc = tdm_buf_printf(out, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (c == '\\')
			rc = tdm_buf_puts(out, "\\\\");
		else if (c == '\t')
			rc = tdm_buf_puts(out, "\\t");
		else if (c == '\n')
			rc = tdm_buf_puts(out, "\\n");
		else if (c == '\r')
			rc = tdm_buf_puts(out, "\\r");
		else if (c < 0x20 || c == 0x7f)
			rc = tdm_buf_printf(out, "\\x%02x", (unsigned)c);
		else if (tdm_visible_hidden_cp(c))
			rc = tdm_buf_printf(out, "\\u%04x", (unsigned)c);
		else
			rc = tdm_buf_put(out, p + i, l);
		i += l;
	}
	if (rc < 0)
		out->len = old;
	return rc;
}
