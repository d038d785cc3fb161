/*
 * proto.c: escort socket messages; see proto.h.  Bytes from the other end
 * are untrusted: nothing here trusts a length before checking it.
 */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static int known_type(uint8_t t)
{
	return (t >= TDM_MSG_HELLO && t <= TDM_MSG_RAW) ||
	       (t >= TDM_MSG_WELCOME && t <= TDM_MSG_SKIPPED);
}

static int is_raw_type(uint8_t t)
{
	return t == TDM_MSG_OUTPUT || t == TDM_MSG_SCREEN;
}

int tdm_proto_put(struct tdm_buf *out, uint8_t type, const void *payload,
		  size_t len)
{
	uint8_t hdr[TDM_PROTO_HEADER];
	size_t old = out->len;
	int rc;

	if (len > TDM_PROTO_MAX || !known_type(type))
		return TDM_ERR_RANGE;
	hdr[0] = TDM_PROTO_VERSION;
	hdr[1] = type;
	hdr[2] = (uint8_t)(len >> 24);
	hdr[3] = (uint8_t)(len >> 16);
	hdr[4] = (uint8_t)(len >> 8);
	hdr[5] = (uint8_t)len;
	rc = tdm_buf_put(out, hdr, sizeof(hdr));
	if (rc == 0)
		rc = tdm_buf_put(out, payload, len);
	if (rc < 0)
		out->len = old;
	return rc;
}

int tdm_proto_put_json(struct tdm_buf *out, uint8_t type, const json_t *obj)
{
	char *text;
	int rc;

	text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (text == NULL)
		return TDM_ERR_NOMEM;
	rc = tdm_proto_put(out, type, text, strlen(text));
	free(text);
	return rc;
}

int tdm_proto_parse(const uint8_t *p, size_t len, struct tdm_msg *msg,
		    size_t *used)
{
	json_error_t jerr;
	uint32_t n;

	if (len < TDM_PROTO_HEADER)
		return 0;
	if (p[0] != TDM_PROTO_VERSION || !known_type(p[1]))
		return TDM_ERR_INVAL;
	n = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 |
	    (uint32_t)p[5];
	if (n > TDM_PROTO_MAX)
		return TDM_ERR_INVAL;
	if (len - TDM_PROTO_HEADER < n)
		return 0;
	msg->type = p[1];
	msg->payload = p + TDM_PROTO_HEADER;
	msg->len = n;
	msg->json = NULL;
	if (!is_raw_type(msg->type)) {
		msg->json = json_loadb((const char *)msg->payload, n,
				       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
				       &jerr);
		if (msg->json == NULL || !json_is_object(msg->json)) {
			json_decref(msg->json);
			msg->json = NULL;
			return TDM_ERR_INVAL;
		}
	}
	*used = TDM_PROTO_HEADER + n;
	return 1;
}

void tdm_msg_clear(struct tdm_msg *msg)
{
	json_decref(msg->json);
	msg->json = NULL;
}

const char *tdm_msg_str(const struct tdm_msg *msg, const char *key)
{
	json_t *v = msg->json ? json_object_get(msg->json, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long tdm_msg_int(const struct tdm_msg *msg, const char *key)
{
	json_t *v = msg->json ? json_object_get(msg->json, key) : NULL;

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

bool tdm_session_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return false;
	for (i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' :
			   !((s[i] >= '0' && s[i] <= '9') ||
			     (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}
