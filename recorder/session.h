/*
 * session.h: one engineer's session through the bastion, passed explicitly
 * to every recorder module.  There is no other state.
 */
#ifndef TDM_REC_SESSION_H
#define TDM_REC_SESSION_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libssh/libssh.h>

#include "buf.h"
#include "cast.h"
#include "policy.h"

/* Longest command line accepted in SSH_ORIGINAL_COMMAND. */
#define SESSION_MAX_COMMAND (64u * 1024u)
/* Bytes queued for the target before the engineer's input is paused. */
#define SESSION_MAX_QUEUED (256u * 1024u)

struct session {
	const struct tdm_policy *policy;
	const struct tdm_person *engineer;
	const struct tdm_target *target;

	char id[37];             /* UUID, lower case */
	char *command;           /* non-interactive command, NULL: a shell */
	bool tty;                /* the engineer's ssh asked for a PTY */
	char term[64];
	unsigned cols, rows;
	time_t started;
	char bastion[256];

	struct tdm_cast *cast;
	char rec_path[PATH_MAX];

	ssh_session ssh;
	ssh_channel channel;

	/* Relay state. */
	struct tdm_buf to_target;   /* released, not yet accepted by ssh */
	bool in_eof;                /* the engineer's input ended */
	bool eof_sent;
	bool remote_closed;
	bool remote_eof;
	bool frozen;                /* recording failed: relay nothing more */
	bool have_status;
	int exit_status;
	bool stop;                  /* the engineer went away */
	unsigned long long bytes_out, bytes_in;
};

/* Reports a failure to the engineer: one line on stderr. */
void session_say(const struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
