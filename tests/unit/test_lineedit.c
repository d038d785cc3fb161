/* Unit tests for the engineer's line editor (recorder/lineedit.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../recorder/lineedit.h"

/* Feeds keys; returns the line at the first submit (or "" if none). */
static enum le_action type(struct lineedit *le, const char *keys, size_t n)
{
	enum le_action act = LE_NONE, last = LE_NONE;
	size_t i;

	for (i = 0; i < n; i++) {
		assert_int_equal(lineedit_feed(le, (uint8_t)keys[i], &act), 0);
		if (act != LE_NONE)
			last = act;
		if (act == LE_SUBMIT)
			break;
	}
	return last;
}

static void assert_line(struct lineedit *le, const char *want)
{
	assert_int_equal(le->line.len, strlen(want));
	assert_memory_equal(le->line.data, want, le->line.len);
}

#define TYPE(le, s) type((le), (s), sizeof(s) - 1)

static void test_enter_submits_the_exact_line(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	assert_int_equal(TYPE(&le, "ls -la\r"), LE_SUBMIT);
	assert_line(&le, "ls -la");
	lineedit_free(&le);
}

static void test_editing_keys_change_the_line(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	/* clang-format off */
	TYPE(&le, "echo helo\x7f" "lo");          /* backspace */
	/* clang-format on */
	assert_line(&le, "echo hello");
	TYPE(&le, "\x01X\x05Y"); /* Ctrl-A, Ctrl-E */
	assert_line(&le, "Xecho helloY");
	TYPE(&le, "\x17"); /* Ctrl-W */
	assert_line(&le, "Xecho ");
	TYPE(&le, "\x1b[D\x1b[D!"); /* left, left */
	assert_line(&le, "Xech!o ");
	TYPE(&le, "\x1b[H\x1b[3~"); /* home, delete */
	assert_line(&le, "ech!o ");
	TYPE(&le, "\x1b[F\x15"); /* end, Ctrl-U */
	assert_line(&le, "");
	lineedit_free(&le);
}

static void test_history_recalls_earlier_lines(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	TYPE(&le, "first\r");
	lineedit_take(&le);
	TYPE(&le, "second\r");
	lineedit_take(&le);
	TYPE(&le, "\x1b[A");
	assert_line(&le, "second");
	TYPE(&le, "\x1b[A");
	assert_line(&le, "first");
	TYPE(&le, "\x1b[B\x1b[B");
	assert_line(&le, "");
	lineedit_free(&le);
}

static void test_paste_is_one_unit_with_its_newlines(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	assert_int_equal(TYPE(&le, "\x1b[200~a\rb\x03\nc\x1b[201~"), LE_NONE);
	assert_line(&le, "a\rb\x03\nc");
	assert_int_equal(TYPE(&le, "\r"), LE_SUBMIT);
	lineedit_free(&le);
}

static void test_paste_end_marker_ends_the_paste_once(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	/* After the end marker, Enter is a key again. */
	assert_int_equal(TYPE(&le, "\x1b[200~x\x1b[201~\r"), LE_SUBMIT);
	assert_line(&le, "x");
	lineedit_free(&le);
}

static void test_ctrl_v_takes_the_next_byte_literally(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	assert_int_equal(TYPE(&le, "a\x16\rb"), LE_NONE);
	assert_line(&le, "a\rb");
	lineedit_free(&le);
}

/* Ctrl-U first thing at a prompt is a habit: it must not end the session. */
static void test_deleting_keys_on_a_fresh_line_do_nothing(void **state)
{
	/* clang-format off */
	static const char *const keys[] = {
		"\x15", "\x17", "\x0b", "\x7f", "\x08", "\x1b[3~",
		"\x01\x15\x0b\x17\x7f",
	};
	/* clang-format on */
	struct lineedit le;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		lineedit_init(&le);
		assert_int_equal(type(&le, keys[i], strlen(keys[i])), LE_NONE);
		assert_int_equal(le.line.len, 0);
		assert_int_equal(le.cursor, 0);
		assert_int_equal(TYPE(&le, "ls\r"), LE_SUBMIT);
		assert_line(&le, "ls");
		lineedit_free(&le);
	}
}

static void test_control_keys_report_their_actions(void **state)
{
	struct lineedit le;

	(void)state;
	lineedit_init(&le);
	assert_int_equal(TYPE(&le, "\x03"), LE_INTERRUPT);
	assert_int_equal(TYPE(&le, "\x04"), LE_EOF);
	assert_int_equal(TYPE(&le, "\x1d"), LE_ESCAPE);
	TYPE(&le, "ab\x01\x04"); /* Ctrl-D on text deletes */
	assert_line(&le, "b");
	lineedit_free(&le);
}

static void test_line_longer_than_the_bound_is_refused(void **state)
{
	struct lineedit le;
	enum le_action act;
	size_t i;
	int rc = 0;

	(void)state;
	lineedit_init(&le);
	for (i = 0; i <= LINEEDIT_MAX && rc == 0; i++)
		rc = lineedit_feed(&le, 'x', &act);
	assert_true(rc < 0);
	assert_int_equal(le.line.len, LINEEDIT_MAX);
	lineedit_free(&le);
}

static void test_drawing_shows_control_characters_visibly(void **state)
{
	struct lineedit le;
	struct tdm_buf out;

	(void)state;
	lineedit_init(&le);
	tdm_buf_init(&out, 0);
	TYPE(&le, "a\x16\x1b[31mb");
	assert_int_equal(lineedit_draw(&le, NULL, NULL, &out), 0);
	assert_non_null(strstr((char *)out.data, "a\\x1b[31mb"));
	tdm_buf_free(&out);
	lineedit_free(&le);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enter_submits_the_exact_line),
		cmocka_unit_test(test_editing_keys_change_the_line),
		cmocka_unit_test(test_history_recalls_earlier_lines),
		cmocka_unit_test(test_paste_is_one_unit_with_its_newlines),
		cmocka_unit_test(test_paste_end_marker_ends_the_paste_once),
		cmocka_unit_test(test_ctrl_v_takes_the_next_byte_literally),
		cmocka_unit_test(test_deleting_keys_on_a_fresh_line_do_nothing),
		cmocka_unit_test(test_control_keys_report_their_actions),
		cmocka_unit_test(test_line_longer_than_the_bound_is_refused),
		cmocka_unit_test(test_drawing_shows_control_characters_visibly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
