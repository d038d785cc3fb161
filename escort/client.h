/*
 * client.h: the escort's side of a session socket.
 *
 * It connects only to sockets in the sessions directory that the tandem
 * account owns, so no other user can pose as a session to an escort.
 */
#ifndef TDM_ESC_CLIENT_H
#define TDM_ESC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h"
#include "policy.h"
#include "proto.h"

struct escort_ctx {
	const struct tdm_policy *policy;
	const struct tdm_person *me;
	uid_t tandem_uid;
	int sessions_fd; /* the sessions directory, opened before the
				   sandbox so it can be listed inside it */
};

struct session_conn {
	int fd;
	char id[37];
	struct tdm_buf in;
	json_t *welcome; /* WELCOME, once attached */
	json_t *pending; /* last PENDING still undecided, or NULL */
	bool synced;
	bool ended;
	char error[512];      /* the recorder's refusal, if any */
	bool unanswered;      /* attaching failed for want of an answer */
	struct tdm_buf early; /* screen and output received while attaching */
};

/* Looks up the accounts; errors are printed. */
int client_init(struct escort_ctx *ctx, const struct tdm_policy *p,
		const char *name);
/*
 * Connects and attaches to session id; waits up to timeout_ms for the
 * attach burst.  Returns 0, or a negative TDM_ERR_* with c->error set
 * (the session's own words when it refused this escort).
 */
int client_attach(const struct escort_ctx *ctx, const char *id,
		  struct session_conn *c, int timeout_ms);
/*
 * The same in steps, for a caller that must never wait on one session.
 * client_attach_start connects and says hello without waiting: a session
 * whose recorder is stopped, or too busy to take connections, fails at
 * once.  client_attach_step then reads what has arrived: 1 attached, 0
 * not yet (poll c->fd for POLLIN), or a negative TDM_ERR_* with c->error
 * set (TDM_ERR_DENIED: the session refused this escort).
 */
int client_attach_start(const struct escort_ctx *ctx, const char *id,
			struct session_conn *c);
int client_attach_step(struct session_conn *c);
/*
 * Attaches to n sessions at once, waiting up to timeout_ms in all, so a
 * session that does not answer costs the timeout once, not once each.
 * conns[i].fd is -1 where an attach failed (conns[i].error says why).
 * Returns how many attached.
 */
size_t client_attach_all(const struct escort_ctx *ctx, char ids[][37],
			 struct session_conn *conns, size_t n, int timeout_ms);
void client_close(struct session_conn *c);
/* Reads one message (waits up to timeout_ms); 1 got one, 0 timed out. */
int client_next(struct session_conn *c, struct tdm_msg *m, int timeout_ms);
int client_send(struct session_conn *c, uint8_t type, json_t *obj);
/* Ids of the live sessions (socket files), up to max. */
size_t client_sessions(const struct escort_ctx *ctx, char ids[][37],
		       size_t max);

#endif
