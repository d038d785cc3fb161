/*
 * buf.h: a growable byte buffer with checked appends.
 *
 * Every append checks its size arithmetic and the buffer's bound (max) and
 * fails with TDM_ERR_RANGE instead of growing past it; on any failure the
 * buffer is left as it was.  The bytes are always followed by a NUL that is
 * not counted in len, so text can be passed to C string functions.
 */
#ifndef TDM_BUF_H
#define TDM_BUF_H

#include <stddef.h>
#include <stdint.h>

struct tdm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0: no bound beyond SIZE_MAX */
};

void tdm_buf_init(struct tdm_buf *b, size_t max);
void tdm_buf_free(struct tdm_buf *b);
/* Wipes the contents before freeing; for anything secret. */
void tdm_buf_wipe(struct tdm_buf *b);
void tdm_buf_reset(struct tdm_buf *b);
/* Makes room for n more bytes without changing len. */
int tdm_buf_reserve(struct tdm_buf *b, size_t n);
int tdm_buf_put(struct tdm_buf *b, const void *p, size_t n);
int tdm_buf_putc(struct tdm_buf *b, uint8_t c);
int tdm_buf_puts(struct tdm_buf *b, const char *s);
int tdm_buf_printf(struct tdm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len). */
void tdm_buf_consume(struct tdm_buf *b, size_t n);
/* Appends s as the inside of a JSON string (no quotes); s must be UTF-8. */
int tdm_buf_put_json_str(struct tdm_buf *b, const char *s, size_t n);

#endif
