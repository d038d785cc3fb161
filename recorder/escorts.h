/*
 * escorts.h: the session's escort socket, SESSIONS/UUID.sock.
 *
 * Only processes of the escort account may connect (SO_PEERCRED); an
 * escort the policy does not allow for this target, or who is the
 * session's engineer, is refused at attach.  A malformed message or an
 * escort that stops reading closes that connection only.
 */
#ifndef TDM_REC_ESCORTS_H
#define TDM_REC_ESCORTS_H

#include <poll.h>
#include <stdbool.h>

#include "session.h"

/*
 * Starts the reaper: a small process, outside the sandbox, that removes
 * the session socket when the recorder ends, however it ends (the sandbox
 * forbids the recorder to unlink anything itself).  Call before any key
 * is in memory.
 */
int escorts_start_reaper(struct session *s);
/* Checks the escort account and the socket's path, before the target is
 * reached, so that a policy error refuses the session at once. */
int escorts_prepare(struct session *s, char *why, size_t why_size);
/*
 * Creates the socket escorts attach to.  Called once the session is about
 * to relay: a socket no one accepts on (while the target is reached)
 * would hold every escort console that tried it.
 */
int escorts_open(struct session *s, char *why, size_t why_size);
void escorts_close(struct session *s);
/* Adds the listening socket and every connection to pfd; returns count. */
size_t escorts_pollfds(struct session *s, struct pollfd *pfd, size_t max);
/* Handles what poll reported for the fds escorts_pollfds added. */
void escorts_handle(struct session *s, const struct pollfd *pfd, size_t n);

bool escorts_any_attached(const struct session *s);
bool escorts_same_person(const struct tdm_person *a,
			 const struct tdm_person *b);
void escorts_send_output(struct session *s, const void *p, size_t n);
void escorts_send_pending(struct session *s);
void escorts_send_decided(struct session *s, unsigned seq, const char *word,
			  const char *escort, const char *reason);
/* A deny rule refused command seq before any escort was asked. */
void escorts_send_refused(struct session *s, unsigned seq, const char *why,
			  const char *visible);
void escorts_send_state(struct session *s);
/* Marks how much live output each escort did not see; at the end. */
int escorts_mark_skipped(struct session *s);
/* The session ended: tells every escort, flushing what it can. */
void escorts_send_ended(struct session *s, int status, const char *why);

#endif
