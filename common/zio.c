/*
 * zio.c: the recording's zstd stream, written one whole frame at a time.
 *
 * Appended bytes are compressed into memory; a frame reaches the file only
 * when it is complete, in one write(2), so the file on disk is always a
 * sequence of whole frames (at worst followed by the torn tail of the frame
 * being written when the machine died).  This file must never let a later
 * frame follow a frame that failed: the first failure is sticky and every
 * call after it fails, so the recording fails closed.
 */
#include "zio.h"
#include "buf.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/*
 * Where a burst's frame is cut in practice: well under TDM_ZIO_FRAME_MAX,
 * because the open frame and the compressor are a recorder's largest
 * buffers and a recorder runs per session.  256 KiB frames and a 256 KiB
 * window (level 1 would take 512 KiB) cost nothing measurable in
 * throughput, make recordings of the bench's text 1 % larger, and take a
 * recorder's peak RSS from 10.7 to 9.7 MB (make bench).
 */
#define ZIO_FRAME_CUT (256u * 1024u)
#define ZIO_WINDOW_LOG 18
_Static_assert(ZIO_FRAME_CUT <= TDM_ZIO_FRAME_MAX, "cut within the bound");

struct tdm_zio {
	int fd;
	int can_sync; /* regular file or block device */
	ZSTD_CCtx *cctx;
	struct tdm_buf frame;	/* compressed bytes of the open frame */
	struct tdm_buf trailer; /* added by the hook, written after frame */
	size_t pending;		/* bytes appended to the open frame */
	tdm_zio_frame_fn hook;
	void *hook_ctx;
	int in_hook;
	int broken; /* first failure, returned by every call */
	int write_errno;
	uint64_t written;
};

/* Makes every later call fail with err; keeps errno for the caller. */
static int zio_break(struct tdm_zio *z, int err, int errnum)
{
	z->broken = err;
	if (errnum != 0) {
		if (z->write_errno == 0)
			z->write_errno = errnum;
		errno = errnum;
	}
	return err;
}

int tdm_zio_open(int fd, int level, struct tdm_zio **out)
{
	struct tdm_zio *z;
	struct stat st;
	size_t zrc;
	int rc;

	if (fd < 0 || out == NULL)
		return TDM_ERR_INVAL;
	if (fstat(fd, &st) < 0)
		return TDM_ERR_IO;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return TDM_ERR_INVAL;
	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return TDM_ERR_NOMEM;
	z->fd = fd;
	z->can_sync = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	tdm_buf_init(&z->frame, 0);
	tdm_buf_init(&z->trailer, 0);
	z->cctx = ZSTD_createCCtx();
	if (z->cctx == NULL) {
		rc = TDM_ERR_NOMEM;
		goto err_free;
	}
	zrc = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(zrc))
		goto err_compress;
	zrc = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_windowLog, ZIO_WINDOW_LOG);
	if (ZSTD_isError(zrc))
		goto err_compress;
	/* Lets a reader detect a frame corrupted on disk. */
	zrc = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(zrc))
		goto err_compress;
	*out = z;
	return 0;

err_compress:
	rc = TDM_ERR_COMPRESS;
	ZSTD_freeCCtx(z->cctx);
err_free:
	free(z);
	return rc;
}

void tdm_zio_set_frame_hook(struct tdm_zio *z, tdm_zio_frame_fn fn, void *ctx)
{
	z->hook = fn;
	z->hook_ctx = ctx;
}

/* Calls that would reorder the file are refused while the hook runs. */
static int zio_usable(const struct tdm_zio *z)
{
	if (z->broken != 0)
		return z->broken;
	if (z->in_hook)
		return TDM_ERR_INVAL;
	return 0;
}

/*
 * Runs the compressor over in with mode until it is done: for
 * ZSTD_e_continue until all input is taken, for ZSTD_e_end until the
 * frame epilogue is out.  A failure here leaves the frame half-made, so it
 * breaks the stream.
 */
static int zio_compress(struct tdm_zio *z, ZSTD_inBuffer *in,
			ZSTD_EndDirective mode)
{
	size_t room = ZSTD_CStreamOutSize();
	ZSTD_outBuffer outb;
	size_t left;
	int rc;

	for (;;) {
		rc = tdm_buf_reserve(&z->frame, room);
		if (rc < 0)
			return zio_break(z, rc, ENOMEM);
		outb.dst = z->frame.data + z->frame.len;
		outb.size = z->frame.cap - z->frame.len - 1;
		outb.pos = 0;
		left = ZSTD_compressStream2(z->cctx, &outb, in, mode);
		if (ZSTD_isError(left))
			return zio_break(z, TDM_ERR_COMPRESS, 0);
		z->frame.len += outb.pos;
		if (mode == ZSTD_e_end ? left == 0 : in->pos == in->size)
			return 0;
	}
}

/*
 * One write(2) for the whole buffer.  A short count (a signal, a quota
 * edge) is continued so a frame is never left torn while the disk has
 * room; if the rest cannot be written the torn frame is cut off again and
 * the failure is sticky.
 */
static int zio_write_all(struct tdm_zio *z, const uint8_t *p, size_t n)
{
	off_t start = lseek(z->fd, 0, SEEK_CUR);
	uint64_t written = z->written;
	ssize_t w;
	int err;

	while (n > 0) {
		w = write(z->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : ENOSPC;
			goto torn;
		}
		p += w;
		n -= (size_t)w;
		written += (uint64_t)w;
	}
	z->written = written;
	return 0;
torn:
	/* A frame that did not fit is cut off again, so the file ends on a
	 * whole frame and still decompresses and verifies to that point. */
	if (start >= 0 && ftruncate(z->fd, start) == 0)
		lseek(z->fd, start, SEEK_SET);
	return zio_break(z, TDM_ERR_IO, err);
}

static int zio_sync(struct tdm_zio *z)
{
	if (!z->can_sync)
		return 0;
	while (fdatasync(z->fd) < 0) {
		if (errno != EINTR)
			return zio_break(z, TDM_ERR_IO, errno);
	}
	return 0;
}

int tdm_zio_append(struct tdm_zio *z, const void *p, size_t n)
{
	ZSTD_inBuffer in = { p, n, 0 };
	int rc;

	rc = zio_usable(z);
	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	if (p == NULL)
		return TDM_ERR_INVAL;
	rc = zio_compress(z, &in, ZSTD_e_continue);
	if (rc < 0)
		return rc;
	z->pending += n;
	/*
	 * Memory stays bounded: a long burst between flushes is cut into
	 * frames of about ZIO_FRAME_CUT.  The cut falls between appends, so
	 * a frame never ends inside what a caller appended in one call.
	 */
	if (z->frame.len >= ZIO_FRAME_CUT)
		return tdm_zio_close_frame(z, 0);
	return 0;
}

size_t tdm_zio_pending(const struct tdm_zio *z)
{
	return z->pending;
}

int tdm_zio_close_frame(struct tdm_zio *z, int sync)
{
	ZSTD_inBuffer in = { NULL, 0, 0 };
	int rc;

	rc = zio_usable(z);
	if (rc < 0)
		return rc;
	if (z->pending > 0) {
		rc = zio_compress(z, &in, ZSTD_e_end);
		if (rc < 0)
			return rc;
		if (z->hook != NULL) {
			tdm_buf_reset(&z->trailer);
			z->in_hook = 1;
			rc = z->hook(z->hook_ctx, z->frame.data, z->frame.len);
			z->in_hook = 0;
			/* A frame the chain did not take must not be written. */
			if (rc < 0)
				return zio_break(z, rc, 0);
			rc = tdm_buf_put(&z->frame, z->trailer.data,
					 z->trailer.len);
			if (rc < 0)
				return zio_break(z, rc, ENOMEM);
		}
		rc = zio_write_all(z, z->frame.data, z->frame.len);
		if (rc < 0)
			return rc;
		z->pending = 0;
		tdm_buf_reset(&z->frame);
		/* A burst's buffer is not kept for the rest of the session. */
		if (z->frame.cap > 2 * ZIO_FRAME_CUT)
			tdm_buf_free(&z->frame);
	}
	if (sync)
		return zio_sync(z);
	return 0;
}

int tdm_zio_add_trailer(struct tdm_zio *z, const void *p, size_t n)
{
	if (z->broken != 0)
		return z->broken;
	if (!z->in_hook || (p == NULL && n > 0))
		return TDM_ERR_INVAL;
	return tdm_buf_put(&z->trailer, p, n);
}

int tdm_zio_write_raw(struct tdm_zio *z, const void *p, size_t n, int sync)
{
	int rc;

	rc = zio_usable(z);
	if (rc < 0)
		return rc;
	if (p == NULL && n > 0)
		return TDM_ERR_INVAL;
	/* The open frame goes first so the file keeps the call order. */
	rc = tdm_zio_close_frame(z, 0);
	if (rc < 0)
		return rc;
	rc = zio_write_all(z, p, n);
	if (rc < 0)
		return rc;
	if (sync)
		return zio_sync(z);
	return 0;
}

int tdm_zio_errno(const struct tdm_zio *z)
{
	return z->write_errno;
}

int tdm_zio_failed(const struct tdm_zio *z)
{
	return z->broken;
}

uint64_t tdm_zio_written(const struct tdm_zio *z)
{
	return z->written;
}

void tdm_zio_free(struct tdm_zio *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->cctx);
	tdm_buf_free(&z->frame);
	tdm_buf_free(&z->trailer);
	free(z);
}
