/*
 * gate.h: the only way bytes reach the target.
 *
 * Everything the engineer sends is submitted to the gate.  The gate records
 * what it releases before it releases it (write-ahead), and gate.c is the
 * only file that writes to the target channel.  Until escorts exist the
 * gate releases every submission at once; the escort gate replaces
 * gate_submit's policy, never the release path.
 */
#ifndef TDM_REC_GATE_H
#define TDM_REC_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

int gate_submit(struct session *s, const uint8_t *p, size_t n);
/* Passes queued, released bytes to the channel as its window allows. */
int gate_pump(struct session *s);
/* False while the queue is full: stop reading the engineer's input. */
bool gate_wants_input(const struct session *s);
/* After the engineer's input ended: EOF to the target once all is sent. */
int gate_finish(struct session *s);

#endif
