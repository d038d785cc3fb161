/* Unit tests for the escort socket messages (common/proto.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "proto.h"

static void test_json_message_round_trips(void **state)
{
	struct tdm_buf b;
	struct tdm_msg m;
	json_t *o = json_pack("{s:I,s:s}", "seq", (json_int_t)7, "reason",
			      "not now");
	size_t used;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_proto_put_json(&b, TDM_MSG_DENY, o), 0);
	json_decref(o);
	assert_int_equal(tdm_proto_parse(b.data, b.len, &m, &used), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(m.type, TDM_MSG_DENY);
	assert_int_equal(tdm_msg_int(&m, "seq"), 7);
	assert_string_equal(tdm_msg_str(&m, "reason"), "not now");
	assert_null(tdm_msg_str(&m, "seq"));
	tdm_msg_clear(&m);
	tdm_buf_free(&b);
}

static void test_raw_output_keeps_every_byte(void **state)
{
	static const uint8_t bytes[] = { 0, 0x1b, ']', '5', '2', 0xff, '\n' };
	struct tdm_buf b;
	struct tdm_msg m;
	size_t used;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(
		tdm_proto_put(&b, TDM_MSG_OUTPUT, bytes, sizeof(bytes)), 0);
	assert_int_equal(tdm_proto_parse(b.data, b.len, &m, &used), 1);
	assert_null(m.json);
	assert_int_equal(m.len, sizeof(bytes));
	assert_memory_equal(m.payload, bytes, sizeof(bytes));
	tdm_buf_free(&b);
}

static void test_partial_message_needs_more_bytes(void **state)
{
	struct tdm_buf b;
	struct tdm_msg m;
	size_t used, cut;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_proto_put(&b, TDM_MSG_SYNC, "{}", 2), 0);
	for (cut = 0; cut < b.len; cut++)
		assert_int_equal(tdm_proto_parse(b.data, cut, &m, &used), 0);
	tdm_buf_free(&b);
}

static void test_malformed_messages_are_refused(void **state)
{
	static const uint8_t bad_version[] = { 2, 1, 0, 0, 0, 2, '{', '}' };
	static const uint8_t bad_type[] = { 1, 99, 0, 0, 0, 2, '{', '}' };
	static const uint8_t too_big[] = { 1, 18, 0x7f, 0xff, 0xff, 0xff };
	static const uint8_t not_object[] = { 1, 1, 0, 0, 0, 2, '[', ']' };
	static const uint8_t not_json[] = { 1, 1, 0, 0, 0, 3, '{', 'x', '}' };
	static const uint8_t dup_key[] = { 1,	2,   0,	  0,   0,   15,	 '{',
					   '"', 's', '"', ':', '1', ',', '"',
					   's', '"', ':', '2', '}', ' ', ' ' };
	struct tdm_msg m;
	size_t used;

	(void)state;
	assert_int_equal(tdm_proto_parse(bad_version, sizeof(bad_version), &m,
					 &used),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_proto_parse(bad_type, sizeof(bad_type), &m, &used),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_proto_parse(too_big, sizeof(too_big), &m, &used),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_proto_parse(not_object, sizeof(not_object), &m,
					 &used),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_proto_parse(not_json, sizeof(not_json), &m, &used),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_proto_parse(dup_key, sizeof(dup_key), &m, &used),
			 TDM_ERR_INVAL);
}

static void test_payload_over_the_bound_is_not_written(void **state)
{
	struct tdm_buf b;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_proto_put(&b, TDM_MSG_OUTPUT, "",
				       TDM_PROTO_MAX + 1),
			 TDM_ERR_RANGE);
	assert_int_equal(b.len, 0);
	tdm_buf_free(&b);
}

static void test_session_ids_are_lowercase_uuids(void **state)
{
	static const char good[] = "ec00dcce-363d-42ee-a74d-2cf8bc61b16a";
	char bad[sizeof(good)];
	size_t i;

	(void)state;
	assert_true(tdm_session_id_ok(good, 36));
	assert_false(tdm_session_id_ok(good, 35));
	assert_false(tdm_session_id_ok("../../etc/passwd", 16));
	/* Each byte changed to what a path or another case would need. */
	for (i = 0; i < 36; i++) {
		memcpy(bad, good, sizeof(good));
		bad[i] = good[i] == '-' ? 'a' : i % 2 ? '/' : 'A';
		assert_false(tdm_session_id_ok(bad, 36));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_message_round_trips),
		cmocka_unit_test(test_raw_output_keeps_every_byte),
		cmocka_unit_test(test_partial_message_needs_more_bytes),
		cmocka_unit_test(test_malformed_messages_are_refused),
		cmocka_unit_test(test_payload_over_the_bound_is_not_written),
		cmocka_unit_test(test_session_ids_are_lowercase_uuids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
