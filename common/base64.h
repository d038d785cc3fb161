/*
 * base64.h: standard base64 (RFC 4648, with padding), for SSH key blobs,
 * armored signatures and the exact bytes of "x" events.
 */
#ifndef TDM_BASE64_H
#define TDM_BASE64_H

#include <stddef.h>

#include "buf.h"

/* Appends the encoding of p[0..n) to out. */
int tdm_b64_encode(struct tdm_buf *out, const void *p, size_t n);
/*
 * Appends the bytes s[0..n) encodes to out.  ASCII whitespace is skipped;
 * anything else outside the alphabet, or padding that is not at the end,
 * fails with TDM_ERR_INVAL.  Missing final padding is accepted.
 */
int tdm_b64_decode(struct tdm_buf *out, const char *s, size_t n);

#endif
