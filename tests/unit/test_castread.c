/*
 * test_castread.c: the reader's fast path for event lines (castread.c).
 *
 * Lines of the shape the writer writes are parsed without jansson; every
 * other line goes to jansson.  Whatever path a line takes, the event must
 * be the one jansson gives: here each line, hand-picked and mutated at
 * random, is read both by the reader and by a jansson reference that
 * follows the reader's documented rules, and the two must agree.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zstd.h>

#include "castread.h"

#define HEADER "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1}\n"

struct want {
	int ok;
	uint64_t t_us;
	char code;
	char data[512];
	size_t len;
};

/* What jansson makes of the line, by the reader's rules. */
static struct want reference(const char *line)
{
	struct want w = { 0 };
	json_t *j = json_loads(line, JSON_ALLOW_NUL, NULL), *c, *d;
	double t;

	if (j == NULL || !json_is_array(j) || json_array_size(j) < 3 ||
	    !json_is_number(json_array_get(j, 0)) ||
	    !json_is_string(json_array_get(j, 1)) ||
	    !json_is_string(json_array_get(j, 2)))
		goto out;
	t = json_number_value(json_array_get(j, 0));
	if (!isfinite(t) || t < 0 || t > 1e9)
		goto out;
	c = json_array_get(j, 1);
	d = json_array_get(j, 2);
	w.ok = 1;
	w.t_us = (uint64_t)(t * 1e6 + 0.5);
	w.code = json_string_length(c) == 1 &&
				 strchr("oirmx", json_string_value(c)[0]) !=
					 NULL &&
				 json_string_value(c)[0] != '\0' ?
			 json_string_value(c)[0] :
			 '?';
	w.len = json_string_length(d);
	assert_true(w.len < sizeof(w.data));
	memcpy(w.data, json_string_value(d), w.len);
out:
	json_decref(j);
	return w;
}

/* What the reader makes of the line, in a one-frame recording. */
static struct want read_back(const char *line)
{
	char text[2048];
	uint8_t frame[4096];
	struct want w = { 0 };
	struct tdm_castread *r;
	struct tdm_event ev;
	size_t n, z;
	int fd;

	n = (size_t)snprintf(text, sizeof(text), HEADER "%s\n", line);
	assert_true(n < sizeof(text));
	z = ZSTD_compress(frame, sizeof(frame), text, n, 1);
	assert_false(ZSTD_isError(z));
	fd = memfd_create("line", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, frame, z), (ssize_t)z);
	assert_int_equal(tdm_castread_open(fd, "line.cast.zst", &r), 0);
	assert_non_null(tdm_castread_header(r));
	if (tdm_castread_next(r, &ev) == 1) {
		w.ok = 1;
		w.t_us = ev.t_us;
		w.code = ev.code;
		w.len = ev.text_len;
		assert_true(w.len < sizeof(w.data));
		memcpy(w.data, ev.text, w.len);
	}
	tdm_castread_free(r);
	close(fd);
	return w;
}

static void assert_same(const char *line)
{
	struct want a = reference(line), b = read_back(line);

	if (a.ok != b.ok || a.t_us != b.t_us || a.code != b.code ||
	    a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		fail_msg("line %s: jansson ok=%d t=%llu code=%c len=%zu, "
			 "reader ok=%d t=%llu code=%c len=%zu",
			 line, a.ok, (unsigned long long)a.t_us,
			 a.code ? a.code : '-', a.len, b.ok,
			 (unsigned long long)b.t_us, b.code ? b.code : '-',
			 b.len);
}

static const char *const lines[] = {
	"[0.000088, \"o\", \"Welcome\\r\\n$ \"]",
	"[12.5, \"i\", \"ls\\r\"]",
	"[3, \"o\", \"integer time\"]",
	"[0, \"o\", \"\"]",
	"[1.25,\"o\",\"no spaces\"]",
	"[ 1.25 , \"o\" , \"more spaces\" ]",
	"[1.25,\t\"o\", \"a tab: jansson\"]",
	"[1e3, \"o\", \"exponent\"]",
	"[-1, \"o\", \"negative\"]",
	"[01, \"o\", \"leading zero\"]",
	"[1., \"o\", \"bad number\"]",
	"[1.5, \"o\", \"x\", 4]",
	"[1.5, \"o\"]",
	"[1.5, \"oo\", \"long code\"]",
	"[1.5, \"q\", \"unknown code\"]",
	"[1.5, \"\\u006f\", \"escaped code\"]",
	"[1.5, \"m\", \"quote \\\" backslash \\\\ slash \\/ \\b\\f\\n\\r\\t\"]",
	"[1.5, \"o\", \"\\u001b[31mred\\u001b[0m\"]",
	"[1.5, \"o\", \"nul \\u0000 inside\"]",
	"[1.5, \"o\", \"\\u00e9\\u20ac\\u4e2d\"]",
	"[1.5, \"o\", \"pair \\ud83d\\ude42\"]",
	"[1.5, \"o\", \"lone \\ud83d\"]",
	"[1.5, \"o\", \"low \\ude42\"]",
	"[1.5, \"o\", \"bad \\x escape\"]",
	"[1.5, \"o\", \"bad \\u12g4\"]",
	"[1.5, \"o\", \"raw\tcontrol\"]",
	"[1.5, \"o\", \"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x99\x82\"]",
	"[1.5, \"o\", \"bad \xff utf8\"]",
	"[1.5, \"o\", \"overlong \xc0\xaf\"]",
	"[1.5, \"o\", \"surrogate \xed\xa0\x80\"]",
	"[1.5, \"o\", \"cut \xe2\x9c\"]",
	"[1.5, \"o\", \"unterminated]",
	"[1.5, \"o\", \"trailing\"] ",
	"[1.5, \"o\", \"trailing\"]x",
	"[1000000001, \"o\", \"too late\"]",
	"[999999999.9999996, \"o\", \"rounding\"]",
	"[0.0000005, \"o\", \"half a microsecond\"]",
	"[123456789012345678901234567890, \"o\", \"huge\"]",
	"{\"not\": \"an array\"}",
	"[1.5, 5, \"number code\"]",
	"[1.5, \"o\", 5]",
	"[\"1.5\", \"o\", \"string time\"]",
};

static void test_fast_path_agrees_with_jansson_on_every_shape(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_same(lines[i]);
}

/* Valid lines with one byte changed, inserted or removed. */
static void test_fast_path_agrees_with_jansson_on_mutations(void **state)
{
	static const char pool[] = "[]\",\\u0123456789.eE- \t\x1b\xc3\xa9\xff"
				   "oimx";
	char line[600];
	uint32_t seed = 7;
	size_t i, k, n, at;

	(void)state;
	for (i = 0; i < 4000; i++) {
		const char *base = lines[i % 21];

		n = strlen(base);
		memcpy(line, base, n + 1);
		for (k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % (n + 1);
			seed = seed * 1103515245u + 12345u;
			switch ((seed >> 16) % 3) {
			case 0:
				if (at < n)
					line[at] = pool[(seed >> 4) %
							(sizeof(pool) - 1)];
				break;
			case 1:
				memmove(line + at + 1, line + at, n - at + 1);
				line[at] =
					pool[(seed >> 4) % (sizeof(pool) - 1)];
				n++;
				break;
			default:
				if (at < n) {
					memmove(line + at, line + at + 1,
						n - at);
					n--;
				}
				break;
			}
		}
		/* A NUL or newline would end the line early: not a case. */
		if (strlen(line) != n || strchr(line, '\n') != NULL || n == 0)
			continue;
		assert_same(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_fast_path_agrees_with_jansson_on_every_shape),
		cmocka_unit_test(
			test_fast_path_agrees_with_jansson_on_mutations),
	};

	return cmocka_run_group_tests_name("castread", tests, NULL, NULL);
}
