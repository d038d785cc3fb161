/*
 * relay.h: moves bytes between the engineer and the target until one side
 * ends, recording everything on the way.
 */
#ifndef TDM_REC_RELAY_H
#define TDM_REC_RELAY_H

#include "session.h"

/* Returns 0 when the target ended the session, or a negative TDM_ERR_*. */
int relay_run(struct session *s);

#endif
