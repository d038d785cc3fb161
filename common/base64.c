/* base64.c: standard base64; see base64.h for the contract. */
#include "base64.h"
#include "err.h"

#include <stdint.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int tdm_b64_encode(struct tdm_buf *out, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint8_t *o;
	uint32_t w;
	size_t i;
	int rc;

	if (n > (SIZE_MAX / 4) * 3 - 3)
		return TDM_ERR_RANGE;
	rc = tdm_buf_reserve(out, (n + 2) / 3 * 4);
	if (rc < 0)
		return rc;
	o = out->data + out->len;
	for (i = 0; n - i >= 3; i += 3) {
		w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = (uint8_t)b64_alphabet[w >> 18];
		*o++ = (uint8_t)b64_alphabet[(w >> 12) & 63];
		*o++ = (uint8_t)b64_alphabet[(w >> 6) & 63];
		*o++ = (uint8_t)b64_alphabet[w & 63];
	}
	if (n - i > 0) {
		w = (uint32_t)s[i] << 16;
		if (n - i == 2)
			w |= (uint32_t)s[i + 1] << 8;
		*o++ = (uint8_t)b64_alphabet[w >> 18];
		*o++ = (uint8_t)b64_alphabet[(w >> 12) & 63];
		*o++ = n - i == 2 ? (uint8_t)b64_alphabet[(w >> 6) & 63] :
				    (uint8_t)'=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* 0..63 for alphabet letters, 64 for '=', 65 for whitespace, 255 bad. */
static uint8_t b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return (uint8_t)(c - 'A');
	if (c >= 'a' && c <= 'z')
		return (uint8_t)(c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (uint8_t)(c - '0' + 52);
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	if (c == '=')
		return 64;
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v')
		return 65;
	return 255;
}

int tdm_b64_decode(struct tdm_buf *out, const char *s, size_t n)
{
	size_t start = out->len, i;
	uint32_t w = 0;
	unsigned have = 0, pad = 0;
	uint8_t v, b[3];
	int rc;

	for (i = 0; i < n; i++) {
		v = b64_value((uint8_t)s[i]);
		if (v == 65)
			continue;
		if (v == 255 || (pad > 0 && v != 64))
			goto bad;
		if (v == 64) {
			/* Padding only completes a group of two or three. */
			if (have + pad < 2 || ++pad + have > 4)
				goto bad;
			continue;
		}
		w = w << 6 | v;
		if (++have == 4) {
			b[0] = (uint8_t)(w >> 16);
			b[1] = (uint8_t)(w >> 8);
			b[2] = (uint8_t)w;
			rc = tdm_buf_put(out, b, 3);
			if (rc < 0)
				goto fail;
			have = 0;
			w = 0;
		}
	}
	if (pad > 0 && have + pad != 4)
		goto bad;
	if (have == 1)
		goto bad;
	if (have == 2) {
		b[0] = (uint8_t)(w >> 4);
		rc = tdm_buf_put(out, b, 1);
	} else if (have == 3) {
		b[0] = (uint8_t)(w >> 10);
		b[1] = (uint8_t)(w >> 2);
		rc = tdm_buf_put(out, b, 2);
	} else {
		rc = 0;
	}
	if (rc < 0)
		goto fail;
	return 0;
bad:
	rc = TDM_ERR_INVAL;
fail:
	out->len = start;
	if (out->data != NULL)
		out->data[start] = '\0';
	return rc;
}
