/*
 * target.h: the connection from the bastion to the target with libssh.
 */
#ifndef TDM_REC_TARGET_H
#define TDM_REC_TARGET_H

#include <stddef.h>

#include "session.h"

/*
 * Connects to s->target, checks its host key against the pinned one and
 * authenticates with the bastion-held identity.  On failure returns a
 * negative TDM_ERR_* with a one-line reason in why; TDM_ERR_HOSTKEY when
 * the target presented a key other than the pinned one.
 */
int target_connect(struct session *s, char *why, size_t why_size);
/*
 * Opens the session channel: a PTY when s->tty, then the shell or, once
 * an escort approved it, s->command.
 */
int target_open(struct session *s, char *why, size_t why_size);
void target_close(struct session *s);

#endif
