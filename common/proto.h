/*
 * proto.h: messages on a session's escort socket.
 *
 * A message is a version byte, a type byte, a 32-bit big-endian payload
 * length and the payload.  OUTPUT and SCREEN carry raw terminal bytes; every
 * other type carries one JSON object.  Every message is bounded
 * (TDM_PROTO_MAX) and validated before it is handed on; a malformed message
 * is an error for that connection only.
 */
#ifndef TDM_PROTO_H
#define TDM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

#define TDM_PROTO_VERSION 1
#define TDM_PROTO_HEADER 6
#define TDM_PROTO_MAX (1u << 20)

enum tdm_msg_type {
	/* escort -> recorder */
	TDM_MSG_HELLO = 1,   /* {escort} */
	TDM_MSG_APPROVE = 2, /* {seq} */
	TDM_MSG_DENY = 3,    /* {seq, reason} */
	TDM_MSG_KILL = 4,    /* {reason} */
	TDM_MSG_RAW = 5,     /* {on} */
	/* recorder -> escort */
	TDM_MSG_WELCOME = 16, /* {session, engineer, target, started, cols,
				 rows, raw, escorts, pending} */
	TDM_MSG_SCREEN = 17,  /* bytes: recent output, to rebuild the screen */
	TDM_MSG_OUTPUT = 18,  /* bytes: live output */
	TDM_MSG_PENDING = 19, /* {seq, command, command_b64, risks, ...} */
	TDM_MSG_DECIDED = 20, /* {seq, decision, escort, reason} */
	TDM_MSG_SYNC = 21,    /* {}: the attach burst is complete */
	TDM_MSG_STATE = 22,   /* {escorts, raw, cols, rows} */
	TDM_MSG_ERROR = 23,   /* {error, [seq]} */
	TDM_MSG_ENDED = 24,   /* {status, why} */
	TDM_MSG_OK = 25,      /* {what}: a request was carried out */
	TDM_MSG_SKIPPED = 26, /* {bytes}: live output this escort fell too
				 far behind to get; a SCREEN follows */
};

struct tdm_msg {
	uint8_t type;
	const uint8_t *payload; /* points into the parsed buffer */
	size_t len;
	json_t *json; /* NULL for OUTPUT and SCREEN */
};

/* Appends one message; json is not consumed. */
int tdm_proto_put(struct tdm_buf *out, uint8_t type, const void *payload,
		  size_t len);
int tdm_proto_put_json(struct tdm_buf *out, uint8_t type, const json_t *obj);

/*
 * Parses the first message in p[0..len).  Returns 1 and fills msg and
 * *used when a whole valid message is there, 0 when more bytes are needed,
 * TDM_ERR_INVAL for a malformed message (bad version, unknown type, payload
 * over TDM_PROTO_MAX, JSON that is not one object).  msg->json must be
 * released with tdm_msg_clear.
 */
int tdm_proto_parse(const uint8_t *p, size_t len, struct tdm_msg *msg,
		    size_t *used);
void tdm_msg_clear(struct tdm_msg *msg);

/* Typed fields of msg->json; NULL / -1 when absent or of another type. */
const char *tdm_msg_str(const struct tdm_msg *msg, const char *key);
long long tdm_msg_int(const struct tdm_msg *msg, const char *key);

/* A session id as the recorder writes them: a random UUID in lowercase
 * (36 bytes: 8-4-4-4-12 hex digits).  s need not end at n. */
bool tdm_session_id_ok(const char *s, size_t n);

#endif
