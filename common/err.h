/*
 * err.h: the one error space shared by every tandem module.
 *
 * Functions that can fail return 0 or a negative TDM_ERR_* value and leave
 * their outputs untouched on failure.  tdm_strerror() gives the words.
 */
#ifndef TDM_ERR_H
#define TDM_ERR_H

#include <stddef.h>

enum tdm_err {
	TDM_OK = 0,
	TDM_ERR_NOMEM = -1,    /* allocation failed */
	TDM_ERR_INVAL = -2,    /* malformed input or argument */
	TDM_ERR_IO = -3,       /* read/write/fsync failed; errno kept */
	TDM_ERR_RANGE = -4,    /* size or count over its bound */
	TDM_ERR_NOTFOUND = -5, /* named thing does not exist */
	TDM_ERR_DENIED = -6,   /* policy or permission refuses it */
	TDM_ERR_HOSTKEY = -7,  /* target host key differs from the pinned one */
	TDM_ERR_SSH = -8,      /* libssh reported an error */
	TDM_ERR_COMPRESS = -9, /* zstd reported an error */
	TDM_ERR_TRUNCATED = -10, /* input ends in the middle of a unit */
	TDM_ERR_CRYPTO = -11	 /* a hash, key or signature operation failed */
};

const char *tdm_strerror(int err);

/*
 * Writes why a call failed, printf-style, into the caller's why[size] (a
 * sentence naming the problem and the fix); nothing when why is NULL.
 */
void tdm_say(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
