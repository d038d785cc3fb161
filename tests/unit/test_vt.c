/*
 * test_vt.c: the terminal-safe output filter (vt.c).
 *
 * Every sample in tests/data/escapes/ (one per family of sequences that
 * act outside the screen, made by make.py there) must come out as exactly
 * its .expected text, in one chunk, byte by byte and split at every point;
 * benign colours, cursor movement and erasing must pass unchanged; and on
 * any input the output must hold nothing a terminal could act on beyond
 * its screen.  Run from the top of the tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "visible.h"
#include "vt.h"

#define DATA "tests/data/escapes/"

struct blob {
	uint8_t *p;
	size_t n;
};

static struct blob slurp(const char *name, const char *ext)
{
	char path[256];
	struct blob b = { 0 };
	FILE *f;
	long len;

	snprintf(path, sizeof(path), DATA "%s.%s", name, ext);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (run from the top of the tree)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	b.n = (size_t)len;
	b.p = malloc(b.n + 1);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, b.n, f), b.n);
	fclose(f);
	return b;
}

/* Filters in chunks of `chunk` bytes (0: all at once), then finishes. */
static struct tdm_buf filter_chunked(const uint8_t *p, size_t n, size_t chunk,
				     uint64_t *dropped)
{
	struct tdm_vt_filter *f;
	struct tdm_buf out;
	size_t i, k;

	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_vt_filter_new(&f), 0);
	if (chunk == 0)
		chunk = n > 0 ? n : 1;
	for (i = 0; i < n; i += k) {
		k = n - i < chunk ? n - i : chunk;
		assert_int_equal(tdm_vt_filter(f, p + i, k, &out), 0);
	}
	assert_int_equal(tdm_vt_finish(f, &out), 0);
	if (dropped != NULL)
		*dropped = tdm_vt_dropped(f);
	tdm_vt_filter_free(f);
	return out;
}

/* Filters in two chunks split at `at`. */
static struct tdm_buf filter_split(const uint8_t *p, size_t n, size_t at)
{
	struct tdm_vt_filter *f;
	struct tdm_buf out;

	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_vt_filter_new(&f), 0);
	assert_int_equal(tdm_vt_filter(f, p, at, &out), 0);
	assert_int_equal(tdm_vt_filter(f, p + at, n - at, &out), 0);
	assert_int_equal(tdm_vt_finish(f, &out), 0);
	tdm_vt_filter_free(f);
	return out;
}

static struct tdm_buf filter_str(const char *s)
{
	return filter_chunked((const uint8_t *)s, strlen(s), 0, NULL);
}

/* Shows both sides visibly when they differ. */
static void assert_bytes(const uint8_t *got, size_t got_n, const uint8_t *want,
			 size_t want_n, const char *what)
{
	struct tdm_buf g, w;

	if (got_n == want_n && (want_n == 0 || memcmp(got, want, want_n) == 0))
		return;
	tdm_buf_init(&g, 0);
	tdm_buf_init(&w, 0);
	tdm_visible(got, got_n, &g);
	tdm_visible(want, want_n, &w);
	print_error("%s:\n  got  \"%s\"\n  want \"%s\"\n", what,
		    g.data ? (char *)g.data : "", w.data ? (char *)w.data : "");
	tdm_buf_free(&g);
	tdm_buf_free(&w);
	fail();
}

static void assert_str_out(const char *in, const char *want)
{
	struct tdm_buf out = filter_str(in);

	assert_bytes(out.data, out.len, (const uint8_t *)want, strlen(want),
		     "filtered");
	tdm_buf_free(&out);
}

/*
 * What no output may hold: bytes that are not UTF-8, C1 controls, C0
 * controls but BS HT LF VT FF CR SO SI, and ESC other than at the start
 * of a sequence the filter may pass (ESC [ ... final, ESC 7 8 D E M H,
 * ESC ( ) * + - . / X, ESC # 3 4 5 6 8).
 */
static void assert_safe(const uint8_t *p, size_t n, const char *what)
{
	size_t i = 0, l, j;
	uint32_t cp;

	while (i < n) {
		l = tdm_utf8_decode(p + i, n - i, &cp);
		if (l == 0)
			fail_msg("%s: byte %zu (0x%02x) is not UTF-8", what, i,
				 p[i]);
		if (cp >= 0x80 && cp <= 0x9f)
			fail_msg("%s: C1 control U+%04X at %zu", what,
				 (unsigned)cp, i);
		if (cp == 0x7f ||
		    (cp < 0x20 && cp != 0x1b &&
		     strchr("\b\t\n\v\f\r\x0e\x0f", (int)cp) == NULL))
			fail_msg("%s: control 0x%02x at %zu", what,
				 (unsigned)cp, i);
		if (cp != 0x1b) {
			i += l;
			continue;
		}
		if (i + 1 >= n)
			fail_msg("%s: lone ESC at the end", what);
		if (p[i + 1] == '[') {
			for (j = i + 2; j < n && p[j] >= 0x20 && p[j] <= 0x3f;
			     j++)
				;
			if (j >= n || p[j] < 0x40 || p[j] > 0x7e)
				fail_msg("%s: unfinished CSI at %zu", what, i);
			if (p[i + 2] == '>' || p[i + 2] == '=' ||
			    p[i + 2] == '<')
				fail_msg("%s: CSI %c at %zu", what, p[i + 2],
					 i);
			if (p[j] == 'c' || p[j] == 'n' || p[j] == 't' ||
			    p[j] == 'q' || p[j] == 'p' || p[j] == 'x' ||
			    p[j] == 'y')
				fail_msg("%s: query CSI ...%c at %zu", what,
					 p[j], i);
			i = j + 1;
		} else if (strchr("78DEMH", p[i + 1]) != NULL) {
			i += 2;
		} else if (i + 2 < n && strchr("()*+-./#", p[i + 1]) != NULL &&
			   p[i + 2] >= 0x30 && p[i + 2] <= 0x7e) {
			i += 3;
		} else {
			fail_msg("%s: ESC 0x%02x at %zu is not allowed", what,
				 p[i + 1], i);
		}
	}
}

/* The sample NAME.txt, whole, byte by byte and split everywhere. */
static void check_sample(const char *name)
{
	struct blob in = slurp(name, "txt"), want = slurp(name, "expected");
	struct tdm_buf out, again;
	uint64_t dropped;
	size_t at;
	char what[128];

	out = filter_chunked(in.p, in.n, 0, &dropped);
	snprintf(what, sizeof(what), "%s.txt in one chunk", name);
	assert_bytes(out.data, out.len, want.p, want.n, what);
	assert_safe(out.data, out.len, what);
	if (strcmp(name, "benign") != 0)
		assert_true(dropped > 0);
	else
		assert_int_equal(dropped, 0);
	/* Filtering twice changes nothing more. */
	again = filter_chunked(out.data, out.len, 0, NULL);
	assert_bytes(again.data, again.len, want.p, want.n, "refiltered");
	tdm_buf_free(&again);
	tdm_buf_free(&out);

	out = filter_chunked(in.p, in.n, 1, NULL);
	snprintf(what, sizeof(what), "%s.txt byte by byte", name);
	assert_bytes(out.data, out.len, want.p, want.n, what);
	tdm_buf_free(&out);
	for (at = 0; at <= in.n; at++) {
		out = filter_split(in.p, in.n, at);
		snprintf(what, sizeof(what), "%s.txt split at %zu", name, at);
		assert_bytes(out.data, out.len, want.p, want.n, what);
		tdm_buf_free(&out);
	}
	free(in.p);
	free(want.p);
}

/* ---- the samples, one family each ------------------------------------- */

static void test_benign_colours_and_cursor_movement_pass_unchanged(void **s)
{
	(void)s;
	check_sample("benign");
}

static void test_osc52_clipboard_write_and_read_are_stripped(void **s)
{
	(void)s;
	check_sample("osc52-clipboard");
}

static void test_title_set_is_stripped(void **s)
{
	(void)s;
	check_sample("osc-title");
}

static void test_title_report_and_window_ops_are_stripped(void **s)
{
	(void)s;
	check_sample("title-report");
}

static void test_osc8_hyperlinks_are_stripped_text_kept(void **s)
{
	(void)s;
	check_sample("osc8-hyperlink");
}

static void test_every_other_osc_is_stripped(void **s)
{
	(void)s;
	check_sample("osc-other");
}

static void test_dcs_strings_are_stripped_whole(void **s)
{
	(void)s;
	check_sample("dcs");
}

static void test_apc_pm_sos_strings_are_stripped_whole(void **s)
{
	(void)s;
	check_sample("apc-pm-sos");
}

static void test_kitty_graphics_apc_is_stripped(void **s)
{
	(void)s;
	check_sample("kitty-graphics");
}

static void test_device_and_status_queries_are_stripped(void **s)
{
	(void)s;
	check_sample("device-queries");
}

static void test_8bit_c1_controls_are_stripped_raw_and_utf8(void **s)
{
	(void)s;
	check_sample("c1-8bit");
}

static void test_iterm_file_transfer_is_stripped(void **s)
{
	(void)s;
	check_sample("iterm-file");
}

static void test_zmodem_headers_are_stripped(void **s)
{
	(void)s;
	check_sample("zmodem");
}

static void test_input_and_terminal_modes_are_stripped(void **s)
{
	(void)s;
	check_sample("input-modes");
}

static void test_stray_controls_are_stripped(void **s)
{
	(void)s;
	check_sample("controls");
}

/* ---- behaviours --------------------------------------------------------- */

static void test_decset_keeps_screen_modes_and_drops_the_rest(void **s)
{
	(void)s;
	assert_str_out("\x1b[?1049;1000;25h", "\x1b[?1049;25h\x1b[?1049l");
	assert_str_out("\x1b[?1000;1006h", "");
	assert_str_out("\x1b[?01049h\x1b[?1049l", "\x1b[?1049h\x1b[?1049l");
	assert_str_out("\x1b[4;20h\x1b[4l", "\x1b[4h\x1b[4l");
}

static void test_finish_undoes_what_the_output_left_on(void **s)
{
	(void)s;
	assert_str_out("\x1b[?1049h\x1b[?25l\x1b[31m\x1b(0\x0ex",
		       "\x1b[?1049h\x1b[?25l\x1b[31m\x1b(0\x0ex"
		       "\x0f\x1b(B\x1b[0m\x1b[?1049l\x1b[?25h");
	assert_str_out("\x1b[2;10r\x1b[?7l\x1b[?6h",
		       "\x1b[2;10r\x1b[?7l\x1b[?6h\x1b[?6l\x1b[?7h\x1b[r");
}

static void test_held_stars_come_out_at_the_end(void **s)
{
	struct tdm_vt_filter *f;
	struct tdm_buf out;

	(void)s;
	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_vt_filter_new(&f), 0);
	assert_int_equal(tdm_vt_filter(f, (const uint8_t *)"a**", 3, &out), 0);
	assert_string_equal((char *)out.data, "a");
	assert_int_equal(tdm_vt_filter(f, (const uint8_t *)"*b", 2, &out), 0);
	assert_string_equal((char *)out.data, "a***b");
	assert_int_equal(tdm_vt_filter(f, (const uint8_t *)"**", 2, &out), 0);
	assert_int_equal(tdm_vt_finish(f, &out), 0);
	assert_string_equal((char *)out.data, "a***b**");
	tdm_vt_filter_free(f);
	tdm_buf_free(&out);
	/* "**" then anything but CAN, or CAN then no header: kept. */
	assert_str_out("**\x18x", "**x");
}

static void test_utf8_split_across_chunks_is_kept(void **s)
{
	static const uint8_t text[] = "\xe6\x97\xa5\xf0\x9f\x99\x82\xc3\xa9";
	struct tdm_buf out;
	size_t at;

	(void)s;
	for (at = 0; at <= sizeof(text) - 1; at++) {
		out = filter_split(text, sizeof(text) - 1, at);
		assert_bytes(out.data, out.len, text, sizeof(text) - 1,
			     "split UTF-8");
		tdm_buf_free(&out);
	}
}

static void test_bad_utf8_becomes_replacement_character(void **s)
{
	(void)s;
	/* clang-format off */
	assert_str_out("a\xff" "b", "a\xef\xbf\xbd" "b");
	assert_str_out("\xe2\x9c" "x", "\xef\xbf\xbd" "x");     /* cut off */
	assert_str_out("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
	/* A surrogate: ED and A0 are not UTF-8; 80 is then a raw C1. */
	assert_str_out("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd");
	assert_str_out("end\xe2", "end\xef\xbf\xbd");           /* at the end */
	/* A raw C1 byte is a control, not text: gone, not replaced. */
	assert_str_out("a\x85" "b", "ab");
	/* clang-format on */
}

static void test_sequence_split_across_chunks_is_still_dropped(void **s)
{
	static const char osc[] = "x\x1b]52;c;ZXZpbA==\x1b\\y\x1b[21ty";
	struct tdm_buf out;
	size_t at;

	(void)s;
	for (at = 0; at <= sizeof(osc) - 1; at++) {
		out = filter_split((const uint8_t *)osc, sizeof(osc) - 1, at);
		assert_bytes(out.data, out.len, (const uint8_t *)"xyy", 3,
			     "split OSC 52 and CSI 21 t");
		tdm_buf_free(&out);
	}
}

static void test_overlong_sequence_is_dropped(void **s)
{
	struct tdm_buf in, out;
	size_t i;

	(void)s;
	tdm_buf_init(&in, 0);
	tdm_buf_puts(&in, "a\x1b[");
	for (i = 0; i < 5000; i++)
		tdm_buf_puts(&in, "1;");
	tdm_buf_puts(&in, "mb");
	out = filter_chunked(in.data, in.len, 0, NULL);
	assert_string_equal((char *)out.data, "ab");
	tdm_buf_free(&out);
	tdm_buf_free(&in);
}

static void test_string_is_dropped_until_its_terminator(void **s)
{
	(void)s;
	/* ESC inside an OSC ends it; the new sequence is read afresh. */
	assert_str_out("\x1b]0;t\x1b[1mB", "\x1b[1mB\x1b[0m");
	/* BEL ends only OSC: inside APC it is part of the string. */
	assert_str_out("\x1b_G\x07still\x1b\\ok", "ok");
	/* ST as C1, in UTF-8, ends a DCS. */
	assert_str_out("\x1bP$q\xc2\x9cok", "ok");
	/* Text in an ESC sequence: the ESC goes, the text stays. */
	assert_str_out("\x1b\xc3\xa9", "\xc3\xa9");
}

static void test_stats_name_the_family(void **s)
{
	struct tdm_vt_filter *f;
	struct tdm_vt_stats st;
	struct tdm_buf out;
	/* clang-format off */
	static const char in[] = "\x1b]52;c;x\x07\x1bP$qm\x1b\\\x1b[c"
				 "\x9b" "6n\x07**\x18" "B00";
	/* clang-format on */

	(void)s;
	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_vt_filter_new(&f), 0);
	assert_int_equal(
		tdm_vt_filter(f, (const uint8_t *)in, sizeof(in) - 1, &out), 0);
	tdm_vt_stats(f, &st);
	assert_int_equal(st.osc, 1);
	assert_int_equal(st.strings, 1);
	assert_int_equal(st.queries, 1);
	assert_int_equal(st.c1, 1);
	assert_int_equal(st.controls, 1);
	assert_int_equal(st.zmodem, 1);
	assert_int_equal(tdm_vt_dropped(f), 6);
	assert_int_equal(out.len, 0);
	tdm_vt_filter_free(f);
	tdm_buf_free(&out);
}

/* A small in-test fuzz: random bytes biased towards what parsers trip on. */
static void test_random_input_gives_safe_idempotent_output(void **s)
{
	static const uint8_t alphabet[] = "\x1b\x1b\x1b[[]]P_^X\\;:?>=<0123456"
					  "789mhlJtcnq $\"!*\x18\x1a\x07\x9b"
					  "\x9c\x9d\x90\xc2\xe2\x9c\x80\xff"
					  "\x0e\x0fAz\n\r\t\x05";
	uint8_t in[512];
	struct tdm_buf out, again;
	uint32_t seed = 12345;
	size_t i, round, chunk;

	(void)s;
	for (round = 0; round < 3000; round++) {
		for (i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		chunk = 1 + round % 37;
		out = filter_chunked(in, sizeof(in), chunk, NULL);
		assert_safe(out.data, out.len, "random input");
		again = filter_chunked(out.data, out.len, 0, NULL);
		assert_bytes(again.data, again.len, out.data, out.len,
			     "random input refiltered");
		tdm_buf_free(&again);
		tdm_buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_benign_colours_and_cursor_movement_pass_unchanged),
		cmocka_unit_test(
			test_osc52_clipboard_write_and_read_are_stripped),
		cmocka_unit_test(test_title_set_is_stripped),
		cmocka_unit_test(test_title_report_and_window_ops_are_stripped),
		cmocka_unit_test(test_osc8_hyperlinks_are_stripped_text_kept),
		cmocka_unit_test(test_every_other_osc_is_stripped),
		cmocka_unit_test(test_dcs_strings_are_stripped_whole),
		cmocka_unit_test(test_apc_pm_sos_strings_are_stripped_whole),
		cmocka_unit_test(test_kitty_graphics_apc_is_stripped),
		cmocka_unit_test(test_device_and_status_queries_are_stripped),
		cmocka_unit_test(
			test_8bit_c1_controls_are_stripped_raw_and_utf8),
		cmocka_unit_test(test_iterm_file_transfer_is_stripped),
		cmocka_unit_test(test_zmodem_headers_are_stripped),
		cmocka_unit_test(test_input_and_terminal_modes_are_stripped),
		cmocka_unit_test(test_stray_controls_are_stripped),
		cmocka_unit_test(
			test_decset_keeps_screen_modes_and_drops_the_rest),
		cmocka_unit_test(test_finish_undoes_what_the_output_left_on),
		cmocka_unit_test(test_held_stars_come_out_at_the_end),
		cmocka_unit_test(test_utf8_split_across_chunks_is_kept),
		cmocka_unit_test(test_bad_utf8_becomes_replacement_character),
		cmocka_unit_test(
			test_sequence_split_across_chunks_is_still_dropped),
		cmocka_unit_test(test_overlong_sequence_is_dropped),
		cmocka_unit_test(test_string_is_dropped_until_its_terminator),
		cmocka_unit_test(test_stats_name_the_family),
		cmocka_unit_test(
			test_random_input_gives_safe_idempotent_output),
	};

	return cmocka_run_group_tests_name("vt", tests, NULL, NULL);
}
