/* Unit tests for the checked buffer (common/buf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"

static void test_put_appends_and_keeps_nul(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_puts(&b, "abc"), 0);
	assert_int_equal(tdm_buf_put(&b, "\0d", 2), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "abc\0d", 5);
	assert_int_equal(b.data[5], 0);
	tdm_buf_free(&b);
}

static void test_bound_refuses_growth_and_leaves_buffer_unchanged(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 8);
	assert_int_equal(tdm_buf_puts(&b, "12345678"), 0);
	assert_int_equal(tdm_buf_putc(&b, '9'), TDM_ERR_RANGE);
	assert_int_equal(b.len, 8);
	assert_string_equal((char *)b.data, "12345678");
	tdm_buf_free(&b);
}

static void test_size_overflow_is_refused(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_putc(&b, 'x'), 0);
	assert_int_equal(tdm_buf_reserve(&b, SIZE_MAX), TDM_ERR_RANGE);
	assert_int_equal(tdm_buf_reserve(&b, SIZE_MAX - 1), TDM_ERR_RANGE);
	assert_int_equal(b.len, 1);
	tdm_buf_free(&b);
}

static void test_consume_drops_prefix(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_puts(&b, "hello world"), 0);
	tdm_buf_consume(&b, 6);
	assert_string_equal((char *)b.data, "world");
	tdm_buf_consume(&b, 99);
	assert_int_equal(b.len, 0);
	tdm_buf_free(&b);
}

static void test_printf_formats(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_printf(&b, "%s=%d", "n", 42), 0);
	assert_int_equal(tdm_buf_printf(&b, ";%.3f", 1.5), 0);
	assert_string_equal((char *)b.data, "n=42;1.500");
	tdm_buf_free(&b);
}

static void test_json_escapes_quotes_backslashes_and_controls(void **state)
{
	static const char in[] = "a\"b\\c\n\r\t\x01\x1b[1m\x7f\xc3\xa9";
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_put_json_str(&b, in, sizeof(in) - 1), 0);
	assert_string_equal((char *)b.data,
			    "a\\\"b\\\\c\\n\\r\\t\\u0001\\u001b[1m\\u007f"
			    "\xc3\xa9");
	tdm_buf_free(&b);
}

static void test_wipe_clears_and_frees(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_puts(&b, "secret"), 0);
	tdm_buf_wipe(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_appends_and_keeps_nul),
		cmocka_unit_test(
			test_bound_refuses_growth_and_leaves_buffer_unchanged),
		cmocka_unit_test(test_size_overflow_is_refused),
		cmocka_unit_test(test_consume_drops_prefix),
		cmocka_unit_test(test_printf_formats),
		cmocka_unit_test(
			test_json_escapes_quotes_backslashes_and_controls),
		cmocka_unit_test(test_wipe_clears_and_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
