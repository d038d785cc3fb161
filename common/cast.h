/*
 * cast.h: the recording writer, an asciicast v2 stream inside zio frames.
 *
 * Event data is always valid UTF-8 JSON.  A chunk of output or input that is
 * not valid UTF-8 is written with its bad bytes replaced by U+FFFD and is
 * followed, at the same time, by an "x" event holding the exact bytes in
 * base64.  A UTF-8 sequence split across two chunks is not bad: the writer
 * carries the incomplete tail into the next chunk of the same stream.
 *
 * Output is batched: consecutive "o" chunks become one event until the
 * batch is TDM_CAST_BATCH bytes or a different event arrives.  A frame is
 * closed at least every flush interval (tdm_cast_tick) and on every marker;
 * markers are fdatasync'ed.  The writer fails closed: after the first write
 * error every call returns TDM_ERR_IO and nothing more is recorded.
 */
#ifndef TDM_CAST_H
#define TDM_CAST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"
#include "zio.h"

#define TDM_CAST_BATCH (64u * 1024u)

struct tdm_cast;

struct tdm_cast_header {
	unsigned width, height;
	time_t timestamp;    /* session start, UTC seconds */
	const char *term;    /* env.TERM; NULL writes no TERM */
	const char *session; /* UUID */
	const char *engineer;
	const char *target;
	const char *address;
	const char *bastion;	      /* host name */
	const struct tdm_attr *attrs; /* the engineer's policy attributes */
	size_t nattrs;
	const char *command; /* non-interactive command, or NULL */
	const char *pubkey;  /* signing key, OpenSSH one line, or NULL */
	const char *version; /* tandem version */
};

/*
 * Creates DIR/YYYY/MM/DD/UUID.cast.zst (date of h->timestamp in UTC; day
 * directories 02750, file 0640, never an existing file) and writes the
 * header frame.  The path made is copied into path_out when not NULL.
 */
int tdm_cast_create(const char *dir, const struct tdm_cast_header *h,
		    unsigned long flush_ms, struct tdm_cast **out,
		    char *path_out, size_t path_size);
/* The same on an open fd (tests, fuzzing); the fd stays the caller's. */
int tdm_cast_open_fd(int fd, const struct tdm_cast_header *h,
		     unsigned long flush_ms, struct tdm_cast **out);

int tdm_cast_output(struct tdm_cast *c, const void *p, size_t n); /* "o" */
int tdm_cast_input(struct tdm_cast *c, const void *p, size_t n);  /* "i" */
int tdm_cast_resize(struct tdm_cast *c, unsigned cols, unsigned rows);
/* "m" with a readable label; closes and fdatasyncs the frame. */
int tdm_cast_marker(struct tdm_cast *c, const char *label);
/* Closes the frame if the flush interval has passed since the last close. */
int tdm_cast_tick(struct tdm_cast *c);
/* Milliseconds until tdm_cast_tick has work, or -1 when nothing is open. */
int tdm_cast_next_tick_ms(const struct tdm_cast *c);
/*
 * Writes out everything recorded so far (carried tails as bad bytes),
 * closes the frame and syncs; the writer stays open.  The seal is written
 * after this.
 */
int tdm_cast_flush(struct tdm_cast *c);
/* Flushes everything and syncs; the fd is closed if tdm_cast_create made it. */
int tdm_cast_close(struct tdm_cast *c);
void tdm_cast_free(struct tdm_cast *c);
/* errno of the failed write, 0 if none. */
int tdm_cast_errno(const struct tdm_cast *c);
/* Seconds since the session start, as written in events. */
double tdm_cast_elapsed(const struct tdm_cast *c);
/* Time of the latest event written, microseconds since the start. */
uint64_t tdm_cast_last_event_us(const struct tdm_cast *c);

/*
 * Sets the hook called with every frame's exact bytes before it is
 * written (the hash chain).  It is called at once with the header frame,
 * which was written before the hook could be set; so it may only be set
 * before any event is recorded (else TDM_ERR_INVAL).  Set it here, not on
 * tdm_cast_zio(), or the chain misses the header.
 */
int tdm_cast_set_frame_hook(struct tdm_cast *c, tdm_zio_frame_fn fn, void *ctx);
/* The writer's zio, for skippable frames (chain links, the seal). */
struct tdm_zio *tdm_cast_zio(struct tdm_cast *c);

#endif
