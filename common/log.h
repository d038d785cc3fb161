/*
 * log.h: session events for syslog (LOG_AUTHPRIV), so an existing log
 * pipeline carries every session start, end and decision to a SIEM.
 */
#ifndef TDM_LOG_H
#define TDM_LOG_H

#include <syslog.h>

void tdm_log_open(const char *ident);
void tdm_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
