/*
 * session.c: what every recorder module shares about a session: the clock,
 * the engineer's terminal and session-event markers.
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

static const int engineer_fd[2] = { STDOUT_FILENO, STDERR_FILENO };

/* Writes what stream i takes of p without waiting; returns that. */
static size_t write_some(struct session *s, int i, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n && !s->engineer_gone) {
		ssize_t w = write(engineer_fd[i], p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			s->engineer_gone = true;
			s->stop = true;
			if (s->end_why[0] == '\0')
				snprintf(s->end_why, sizeof(s->end_why),
					 "engineer left");
			break;
		}
		done += (size_t)w;
	}
	return done;
}

static void to_stream(struct session *s, int i, const void *p, size_t n)
{
	struct tdm_buf *q = &s->to_engineer[i];
	size_t done = 0;

	if (s->engineer_gone)
		return;
	/* Behind what is queued, never beside it. */
	if (q->len == 0)
		done = write_some(s, i, p, n);
	if (done < n && !s->engineer_gone &&
	    tdm_buf_put(q, (const uint8_t *)p + done, n - done) < 0)
		s->stop = true;
}

void session_to_engineer(struct session *s, const void *p, size_t n)
{
	to_stream(s, 0, p, n);
}

void session_to_engineer_err(struct session *s, const void *p, size_t n)
{
	to_stream(s, s->tty ? 0 : 1, p, n);
}

bool session_engineer_behind(const struct session *s)
{
	return s->to_engineer[0].len >= SESSION_MAX_TO_ENGINEER ||
	       s->to_engineer[1].len >= SESSION_MAX_TO_ENGINEER;
}

void session_flush_engineer(struct session *s)
{
	int i;

	for (i = 0; i < 2; i++)
		tdm_buf_consume(&s->to_engineer[i],
				write_some(s, i, s->to_engineer[i].data,
					   s->to_engineer[i].len));
}

void session_finish_engineer(struct session *s, unsigned ms)
{
	sigset_t set;
	int i, fl;

	/* The recording is sealed: a plain kill may end the wait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	while (!s->engineer_gone &&
	       s->to_engineer[0].len + s->to_engineer[1].len > 0) {
		struct pollfd pfd[2];
		size_t had = s->to_engineer[0].len + s->to_engineer[1].len;

		for (i = 0; i < 2; i++) {
			pfd[i].fd = s->to_engineer[i].len > 0 ? engineer_fd[i] :
								-1;
			pfd[i].events = POLLOUT;
		}
		if (poll(pfd, 2, ms > 0 ? (int)ms : -1) < 0 && errno != EINTR)
			break;
		session_flush_engineer(s);
		if (ms > 0 &&
		    s->to_engineer[0].len + s->to_engineer[1].len == had)
			break;
	}
	for (i = 0; i < 2; i++) {
		fl = fcntl(engineer_fd[i], F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(engineer_fd[i], F_SETFL, fl & ~O_NONBLOCK);
	}
	/* Only now: the output queued in raw mode is written in raw mode. */
	if (s->restore_termios)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved_termios);
	s->restore_termios = false;
}

void session_raw(struct session *s)
{
	struct termios raw;

	if (!s->tty || tcgetattr(STDIN_FILENO, &s->saved_termios) < 0)
		return;
	/* The target's PTY echoes and edits; the bastion's must not. */
	raw = s->saved_termios;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		s->restore_termios = true;
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
		session_say(s, "%s", text);
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
