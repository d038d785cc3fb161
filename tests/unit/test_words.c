/* Unit tests for SSH_ORIGINAL_COMMAND word splitting (common/words.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "words.h"

static void split_is(const char *line, int n, const char **want)
{
	char *argv[TDM_WORDS_MAX + 1];
	int i, got = tdm_words_split(line, argv);

	assert_int_equal(got, n);
	for (i = 0; i < n; i++)
		assert_string_equal(argv[i], want[i]);
	assert_null(argv[n]);
	tdm_words_free(argv);
}

static void test_quotes_group_words_without_expansion(void **state)
{
	const char *w1[] = { "deny", "S", "3", "--reason", "not now" };
	const char *w2[] = { "a b", "c'd", "$HOME", "`x`", "e\\f" };
	const char *w3[] = { "", "x" };

	(void)state;
	split_is("deny S 3 --reason \"not now\"", 5, w1);
	split_is("'a b' \"c'd\" '$HOME' '`x`' 'e\\f'", 5, w2);
	split_is("'' x", 2, w3);
}

static void test_backslash_escapes_outside_quotes(void **state)
{
	const char *w[] = { "a b", "c\"d", "\\" };

	(void)state;
	split_is("a\\ b c\\\"d \\\\", 3, w);
}

static void test_double_quotes_unescape_only_special_characters(void **state)
{
	const char *w[] = { "x\"y\\z$`\\n" };

	(void)state;
	split_is("\"x\\\"y\\\\z\\$\\`\\n\"", 1, w);
}

static void test_unclosed_quotes_and_trailing_backslash_are_errors(void **state)
{
	char *argv[TDM_WORDS_MAX + 1];

	(void)state;
	assert_int_equal(tdm_words_split("a 'b", argv), TDM_ERR_INVAL);
	assert_int_equal(tdm_words_split("a \"b", argv), TDM_ERR_INVAL);
	assert_int_equal(tdm_words_split("a \\", argv), TDM_ERR_INVAL);
}

static void test_too_many_words_is_an_error(void **state)
{
	char line[1024] = "";
	char *argv[TDM_WORDS_MAX + 1];
	int i;

	(void)state;
	for (i = 0; i < TDM_WORDS_MAX + 1; i++)
		memcpy(line + 2 * i, "w ", 3);
	assert_int_equal(tdm_words_split(line, argv), TDM_ERR_RANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quotes_group_words_without_expansion),
		cmocka_unit_test(test_backslash_escapes_outside_quotes),
		cmocka_unit_test(
			test_double_quotes_unescape_only_special_characters),
		cmocka_unit_test(
			test_unclosed_quotes_and_trailing_backslash_are_errors),
		cmocka_unit_test(test_too_many_words_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
