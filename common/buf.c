/* buf.c: growable byte buffer; see buf.h for the contract. */
#include "buf.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tdm_buf_init(struct tdm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void tdm_buf_free(struct tdm_buf *b)
{
	free(b->data);
	tdm_buf_init(b, b->max);
}

void tdm_buf_wipe(struct tdm_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	tdm_buf_free(b);
}

void tdm_buf_reset(struct tdm_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int tdm_buf_reserve(struct tdm_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	/* +1 keeps room for the terminating NUL. */
	if (n > SIZE_MAX - b->len - 1)
		return TDM_ERR_RANGE;
	need = b->len + n + 1;
	if (b->max != 0 && need - 1 > b->max)
		return TDM_ERR_RANGE;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return TDM_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tdm_buf_put(struct tdm_buf *b, const void *p, size_t n)
{
	int rc = tdm_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int tdm_buf_putc(struct tdm_buf *b, uint8_t c)
{
	return tdm_buf_put(b, &c, 1);
}

int tdm_buf_puts(struct tdm_buf *b, const char *s)
{
	return tdm_buf_put(b, s, strlen(s));
}

int tdm_buf_printf(struct tdm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return TDM_ERR_INVAL;
	rc = tdm_buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void tdm_buf_consume(struct tdm_buf *b, size_t n)
{
	if (n >= b->len) {
		tdm_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

int tdm_buf_put_json_str(struct tdm_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc;

	/* Worst case is six bytes out per byte in; reserve once. */
	if (n > (SIZE_MAX - 1) / 6)
		return TDM_ERR_RANGE;
	rc = tdm_buf_reserve(b, n * 6);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		uint8_t *o;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			run++;
			continue;
		}
		memcpy(b->data + b->len, s + i - run, run);
		b->len += run;
		run = 0;
		o = b->data + b->len;
		switch (c) {
		/* clang-format off */
		case '"':  o[0] = '\\'; o[1] = '"'; b->len += 2; break;
		case '\\': o[0] = '\\'; o[1] = '\\'; b->len += 2; break;
		case '\n': o[0] = '\\'; o[1] = 'n'; b->len += 2; break;
		case '\r': o[0] = '\\'; o[1] = 'r'; b->len += 2; break;
		case '\t': o[0] = '\\'; o[1] = 't'; b->len += 2; break;
		case '\b': o[0] = '\\'; o[1] = 'b'; b->len += 2; break;
		case '\f': o[0] = '\\'; o[1] = 'f'; b->len += 2; break;
		default:
			o[0] = '\\'; o[1] = 'u'; o[2] = '0'; o[3] = '0';
			o[4] = (uint8_t)hex[c >> 4];
			o[5] = (uint8_t)hex[c & 15];
			b->len += 6;
		}
		/* clang-format on */
	}
	memcpy(b->data + b->len, s + n - run, run);
	b->len += run;
	b->data[b->len] = '\0';
	return 0;
}
