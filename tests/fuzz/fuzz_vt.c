/*
 * fuzz_vt.c: libFuzzer target for the terminal-safe filter (vt.c).
 *
 * The first byte picks a chunk size, so sequences and UTF-8 characters
 * are split at every kind of boundary.  Any input must give output that
 * is valid UTF-8, holds no C1 control, no C0 control but BS HT LF VT FF
 * CR SO SI, and no ESC that does not start a CSI, an allowed ESC
 * sequence or a character set designation; filtering the output again
 * must not change it.  Seeds are in tests/fuzz/corpus/vt/ (the samples
 * of tests/data/escapes/).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "visible.h"
#include "vt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void filter_all(const uint8_t *p, size_t n, size_t chunk,
		       struct tdm_buf *out)
{
	struct tdm_vt_filter *f;
	size_t i, k;

	if (tdm_vt_filter_new(&f) < 0)
		abort();
	for (i = 0; i < n; i += k) {
		k = n - i < chunk ? n - i : chunk;
		if (tdm_vt_filter(f, p + i, k, out) < 0)
			abort();
	}
	if (tdm_vt_finish(f, out) < 0)
		abort();
	tdm_vt_filter_free(f);
}

static void check_safe(const uint8_t *p, size_t n)
{
	size_t i = 0, l, j;
	uint32_t cp;

	while (i < n) {
		l = tdm_utf8_decode(p + i, n - i, &cp);
		if (l == 0 || (cp >= 0x80 && cp <= 0x9f) || cp == 0x7f)
			abort();
		if (cp < 0x20 && cp != 0x1b &&
		    memchr("\b\t\n\v\f\r\x0e\x0f", (int)cp, 8) == NULL)
			abort();
		if (cp != 0x1b) {
			i += l;
			continue;
		}
		if (i + 1 >= n)
			abort();
		if (p[i + 1] == '[') {
			for (j = i + 2; j < n && p[j] >= 0x20 && p[j] <= 0x3f;
			     j++)
				;
			if (j >= n || p[j] < 0x40 || p[j] > 0x7e)
				abort();
			i = j + 1;
		} else if (memchr("78DEMH", p[i + 1], 6) != NULL) {
			i += 2;
		} else if (i + 2 < n && memchr("()*+-./#", p[i + 1], 8) &&
			   p[i + 2] >= 0x30 && p[i + 2] <= 0x7e) {
			i += 3;
		} else {
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_buf out, again;
	size_t chunk;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	tdm_buf_init(&out, 0);
	tdm_buf_init(&again, 0);
	filter_all(data, size, chunk, &out);
	check_safe(out.data, out.len);
	filter_all(out.data, out.len, out.len > 0 ? out.len : 1, &again);
	if (again.len != out.len ||
	    (out.len > 0 && memcmp(again.data, out.data, out.len) != 0))
		abort();
	tdm_buf_free(&out);
	tdm_buf_free(&again);
	return 0;
}
