/* log.c: syslog for session events; see log.h. */
#include "log.h"

#include <stdarg.h>

void tdm_log_open(const char *ident)
{
	/* LOG_NDELAY: connect now, before any sandbox forbids it. */
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

void tdm_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}
