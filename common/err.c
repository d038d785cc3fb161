/* err.c: words for the error codes in err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *tdm_strerror(int err)
{
	switch (err) {
	case TDM_OK:
		return "success";
	case TDM_ERR_NOMEM:
		return "out of memory";
	case TDM_ERR_INVAL:
		return "invalid input";
	case TDM_ERR_IO:
		return "input/output error";
	case TDM_ERR_RANGE:
		return "value out of range";
	case TDM_ERR_NOTFOUND:
		return "not found";
	case TDM_ERR_DENIED:
		return "refused by policy";
	case TDM_ERR_HOSTKEY:
		return "target host key does not match the pinned key";
	case TDM_ERR_SSH:
		return "ssh error";
	case TDM_ERR_COMPRESS:
		return "compression error";
	case TDM_ERR_TRUNCATED:
		return "input truncated";
	case TDM_ERR_CRYPTO:
		return "cryptographic operation failed";
	}
	return "unknown error";
}

void tdm_say(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}
