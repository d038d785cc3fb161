/*
 * relay.h: moves bytes between the engineer and the target until one side
 * ends, recording everything on the way.
 */
#ifndef TDM_REC_RELAY_H
#define TDM_REC_RELAY_H

#include "session.h"

/* Prepares s->chan_cb; call before any channel is opened. */
void relay_callbacks_init(struct session *s);
/* Returns 0 when the target ended the session, or a negative TDM_ERR_*. */
int relay_run(struct session *s);

#endif
