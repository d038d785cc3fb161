/*
 * log.c: session events for syslog; see log.h.
 *
 * Messages go over a datagram socket to /dev/log opened once, before any
 * sandbox: sending needs no new socket, so it works inside the recorder's
 * seccomp filter, where creating one would end the process.  If the log
 * socket is missing or full, the message is dropped, never waited for:
 * the recording, not syslog, is the record.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct log_state {
	int fd;
	int pid;
	char ident[32];
};

static struct log_state state = { .fd = -1 };

void tdm_log_open(const char *ident)
{
	struct sockaddr_un sa;

	snprintf(state.ident, sizeof(state.ident), "%s", ident);
	state.pid = (int)getpid();
	if (state.fd >= 0)
		return;
	state.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (state.fd < 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/dev/log");
	if (connect(state.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(state.fd);
		state.fd = -1;
	}
}

void tdm_log(int prio, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n;

	if (state.fd < 0)
		return;
	n = snprintf(msg, sizeof(msg), "<%d>%s[%d]: ", LOG_AUTHPRIV | prio,
		     state.ident, state.pid);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	send(state.fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
}
