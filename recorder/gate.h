/*
 * gate.h: the only way bytes reach the target.
 *
 * Everything the engineer sends goes through the gate.  Lines, Ctrl-D,
 * pastes and non-interactive commands become one pending command that an
 * escort must approve; Ctrl-C and resizes are exempt but recorded.  The
 * gate writes the decision to the recording (and syncs it) before it
 * releases a byte, and gate.c is the only file that writes to the target
 * channel.
 */
#ifndef TDM_REC_GATE_H
#define TDM_REC_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session.h"

enum gate_decision { GATE_APPROVED, GATE_DENIED, GATE_TIMEOUT };

/* A Ctrl-C this long after a bracketed paste began, with no end marker
 * yet, is a key that drops the paste rather than text inside it. */
#define GATE_PASTE_STUCK_MS 1000u

int gate_init(struct session *s);
void gate_free(struct session *s);

/* Keystrokes from the engineer's terminal (line mode). */
int gate_keys(struct session *s, const uint8_t *p, size_t n);
/* Stdin of a non-interactive command. */
int gate_stdin(struct session *s, const uint8_t *p, size_t n);
/* The engineer's input ended (non-interactive). */
int gate_stdin_eof(struct session *s);
/* A non-interactive command: pending until approved. */
int gate_submit_exec(struct session *s);

/*
 * An escort's decision on pending command seq.  Returns TDM_ERR_NOTFOUND
 * when seq is not pending, TDM_ERR_DENIED when this escort may not decide
 * (why says so).
 */
int gate_decide(struct session *s, unsigned seq, enum gate_decision d,
		const struct tdm_person *escort, const char *reason, char *why,
		size_t why_size);
/*
 * Supervised raw mode: an escort grants it after approving a program the
 * policy lists as interactive for this target; keys then pass straight to
 * the target, recorded, until revoked, raw-limit, Ctrl-] or the last
 * escort leaving.
 */
int gate_raw_on(struct session *s, const struct tdm_person *escort, char *why,
		size_t why_size);
void gate_raw_off(struct session *s, const char *who, const char *why);

/* Timeouts; returns ms until the next deadline, or -1. */
int gate_tick(struct session *s);

/* Passes queued, released bytes to the channel as its window allows. */
int gate_pump(struct session *s);
/* False while nothing more should be read from the engineer. */
bool gate_wants_input(const struct session *s);
/* Redraws the engineer's line and the pending status. */
void gate_redraw(struct session *s);
/* The pending command as JSON for escorts ({session, seq, …}). */
json_t *gate_pending_json(const struct session *s);
/*
 * What the rules say of a command (a line continuing an open one is
 * judged together with it); *risks is the JSON list escorts see.
 */
int gate_judge(struct session *s, enum pending_kind kind, const uint8_t *cmd,
	       size_t n, struct tdm_verdict *v, json_t **risks);

#endif
