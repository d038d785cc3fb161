/*
 * session.c: what every recorder module shares about a session: the clock,
 * the engineer's terminal and session-event markers.
 */
#include "session.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "log.h"

uint64_t session_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void session_to_engineer(struct session *s, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0 && !s->stop) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = STDOUT_FILENO,
					      .events = POLLOUT };

			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0) {
			s->stop = true;
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

void session_notice(struct session *s, const char *fmt, ...)
{
	struct tdm_buf out;
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!s->tty) {
		fprintf(stderr, "tandem: %s\n", text);
		return;
	}
	tdm_buf_init(&out, 0);
	lineedit_erase(&s->le, &out);
	/* On a line of its own, then the prompt again where it was. */
	tdm_buf_printf(&out, "\r\n\x1b[1m[tandem]\x1b[0m %s\r\n", text);
	tdm_buf_put(&out, s->last_line.data, s->last_line.len);
	session_to_engineer(s, out.data, out.len);
	tdm_buf_free(&out);
	gate_redraw(s);
}

int session_mark(struct session *s, int prio, json_t *details, const char *fmt,
		 ...)
{
	struct tdm_buf label;
	char text[2048];
	char *json = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tdm_buf_init(&label, 0);
	rc = tdm_buf_puts(&label, text);
	if (details != NULL) {
		json = json_dumps(details, JSON_COMPACT);
		if (json == NULL)
			rc = -1;
		if (rc == 0)
			rc = tdm_buf_printf(&label, "\t%s", json);
	}
	tdm_log(prio, "session %s: %s", s->id,
		label.data ? (char *)label.data : text);
	if (rc == 0)
		rc = tdm_cast_marker(s->cast, (const char *)label.data);
	free(json);
	tdm_buf_free(&label);
	json_decref(details);
	return rc;
}
