/*
 * zio.h: the recording's zstd stream, one frame at a time.
 *
 * Bytes appended go into the open frame; tdm_zio_close_frame() ends the
 * frame and writes it to the file with exactly one write(2), so a process
 * killed at any moment leaves only whole frames behind.  A failed write is
 * sticky: once the file cannot be written, every later call fails, and the
 * caller must stop the session (the recording fails closed).
 */
#ifndef TDM_ZIO_H
#define TDM_ZIO_H

#include <stddef.h>
#include <stdint.h>

struct tdm_zio;

/*
 * A frame whose compressed bytes reach this size is closed at the end of
 * the append that made it so, to keep memory bounded during a long burst.
 */
#define TDM_ZIO_FRAME_MAX (8u << 20)

/*
 * Called with each finished frame's exact bytes just before they are
 * written; the hash chain hangs off this.  May return a negative TDM_ERR_*
 * to fail the frame (the failure is sticky like a write error).  Not called
 * for tdm_zio_write_raw; calls into the same zio from the hook are refused
 * with TDM_ERR_INVAL, except tdm_zio_add_trailer.
 */
typedef int (*tdm_zio_frame_fn)(void *ctx, const uint8_t *frame, size_t len);

/* level: zstd level (1 or negative for the hot path). fd stays the caller's. */
int tdm_zio_open(int fd, int level, struct tdm_zio **out);
void tdm_zio_set_frame_hook(struct tdm_zio *z, tdm_zio_frame_fn fn, void *ctx);
int tdm_zio_append(struct tdm_zio *z, const void *p, size_t n);
/* Bytes appended to the open frame and not yet written. */
size_t tdm_zio_pending(const struct tdm_zio *z);
/* Ends the open frame (if it holds anything) and writes it; sync: fdatasync. */
int tdm_zio_close_frame(struct tdm_zio *z, int sync);
/*
 * Only from inside the frame hook: bytes (a chain link frame) written
 * right after the frame in the same write(2), so no frame ever reaches the
 * file without what follows it, and a torn write cuts off both.
 */
int tdm_zio_add_trailer(struct tdm_zio *z, const void *p, size_t n);
/* Writes raw bytes (a skippable frame) between frames, one write(2). */
int tdm_zio_write_raw(struct tdm_zio *z, const void *p, size_t n, int sync);
/* errno of the failed write, 0 if none failed. */
int tdm_zio_errno(const struct tdm_zio *z);
/* The sticky failure every call now returns (negative TDM_ERR_*), or 0. */
int tdm_zio_failed(const struct tdm_zio *z);
/* Total bytes written to the file. */
uint64_t tdm_zio_written(const struct tdm_zio *z);
void tdm_zio_free(struct tdm_zio *z);

#endif
