/*
 * relay.c: the engineer <-> target loop.
 *
 * Output from the target is recorded before the engineer or an escort sees
 * it; input from the engineer goes only to the gate.  The channel is driven
 * with libssh's callbacks, which deliver every packet as it is parsed, so
 * no data can sit in a libssh buffer while poll() sleeps.  libssh is never
 * re-entered from its own callbacks: they only copy bytes or set flags, and
 * the loop acts on them after ssh_event_dopoll returns.
 *
 * The loop never waits on the engineer's ssh: what their stdout or stderr
 * does not take at once is queued (session.c), and while a queue is full
 * the loop reads neither the target's socket (TCP then holds the target
 * back) nor the engineer's input (whose echo would grow the queue).
 * Escorts, decisions and the recording go on whatever the engineer does.
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "err.h"
#include "escorts.h"
#include "gate.h"

#define MAX_POLL (5 + SESSION_MAX_ESCORTS + 1)

struct relay {
	struct session *s;
	ssh_event event;
	int sigfd;
	bool winch;
	int err;
	uint8_t in[SESSION_READ_CHUNK];
	size_t in_len;
	bool in_closed;
};

static void freeze(struct relay *r, int err)
{
	r->s->frozen = true;
	if (r->err == 0)
		r->err = err;
}

static void freeze_session(struct session *s)
{
	s->frozen = true;
}

/* Keeps the tail of the output: the screen for escorts, the prompt line. */
static void remember_output(struct session *s, const uint8_t *p, size_t n)
{
	const uint8_t *nl = NULL;
	size_t i;

	if (n >= SESSION_SCREEN_KEEP) {
		tdm_buf_reset(&s->screen);
		tdm_buf_put(&s->screen, p + n - SESSION_SCREEN_KEEP,
			    SESSION_SCREEN_KEEP);
	} else {
		if (s->screen.len + n > 2 * SESSION_SCREEN_KEEP)
			tdm_buf_consume(&s->screen,
					s->screen.len + n -
						SESSION_SCREEN_KEEP);
		tdm_buf_put(&s->screen, p, n);
	}
	for (i = n; i > 0; i--) {
		if (p[i - 1] == '\n') {
			nl = p + i;
			break;
		}
	}
	if (nl != NULL) {
		tdm_buf_reset(&s->last_line);
		n -= (size_t)(nl - p);
		p = nl;
	}
	if (s->last_line.len + n > 512)
		tdm_buf_reset(&s->last_line);
	if (n <= 512)
		tdm_buf_put(&s->last_line, p, n);
}

static int on_data(ssh_session ssh, ssh_channel ch, void *data, uint32_t len,
		   int is_stderr, void *userdata)
{
	struct session *s = userdata;
	struct tdm_buf erase;
	int rc;

	(void)ssh;
	(void)ch;
	if (s->frozen)
		return (int)len;
	/* Recorded first: nothing is shown that the record lacks. */
	rc = tdm_cast_output(s->cast, data, len);
	if (rc < 0) {
		freeze_session(s);
		return (int)len;
	}
	s->bytes_out += len;
	s->last_activity_ms = session_now_ms();
	if (is_stderr && !s->tty) {
		session_to_engineer_err(s, data, len);
	} else {
		tdm_buf_init(&erase, 0);
		lineedit_erase(&s->le, &erase);
		if (erase.len > 0)
			session_to_engineer(s, erase.data, erase.len);
		tdm_buf_free(&erase);
		session_to_engineer(s, data, len);
	}
	remember_output(s, data, len);
	escorts_send_output(s, data, len);
	gate_redraw(s);
	return (int)len;
}

static void on_eof(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct session *s = userdata;

	(void)ssh;
	(void)ch;
	s->remote_eof = true;
}

static void on_close(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct session *s = userdata;

	(void)ssh;
	(void)ch;
	s->remote_closed = true;
}

static void on_exit_status(ssh_session ssh, ssh_channel ch, int status,
			   void *userdata)
{
	struct session *s = userdata;

	(void)ssh;
	(void)ch;
	s->have_status = true;
	s->exit_status = status & 0xff;
}

static const struct {
	const char *name;
	int num;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },	  { "QUIT", SIGQUIT },
	{ "ILL", SIGILL },   { "ABRT", SIGABRT }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE },
	{ "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

static void on_exit_signal(ssh_session ssh, ssh_channel ch, const char *signal,
			   int core, const char *errmsg, const char *lang,
			   void *userdata)
{
	struct session *s = userdata;
	size_t i;

	(void)ssh;
	(void)ch;
	(void)core;
	(void)errmsg;
	(void)lang;
	s->have_status = true;
	s->exit_status = 255;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signal != NULL && strcmp(signal, signals[i].name) == 0)
			s->exit_status = 128 + signals[i].num;
}

void relay_callbacks_init(struct session *s)
{
	memset(&s->chan_cb, 0, sizeof(s->chan_cb));
	s->chan_cb.userdata = s;
	s->chan_cb.channel_data_function = on_data;
	s->chan_cb.channel_eof_function = on_eof;
	s->chan_cb.channel_close_function = on_close;
	s->chan_cb.channel_exit_status_function = on_exit_status;
	s->chan_cb.channel_exit_signal_function = on_exit_signal;
	ssh_callbacks_init(&s->chan_cb);
}

static void read_input(struct relay *r)
{
	ssize_t n;

	n = read(STDIN_FILENO, r->in, sizeof(r->in));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		r->in_closed = true;
		/* A PTY whose engineer left reads EIO; a pipe reads 0. */
		if (r->s->tty) {
			snprintf(r->s->end_why, sizeof(r->s->end_why),
				 "engineer left");
			r->s->stop = true;
		}
		return;
	}
	r->in_len = (size_t)n;
}

static void read_signals(struct relay *r)
{
	struct signalfd_siginfo si;

	while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			r->winch = true;
		} else {
			snprintf(r->s->end_why, sizeof(r->s->end_why),
				 "engineer left");
			r->s->stop = true;
		}
	}
}

static int resize(struct relay *r)
{
	struct session *s = r->s;
	struct winsize ws;

	r->winch = false;
	if (!s->tty || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return 0;
	if (ws.ws_col == 0 || ws.ws_row == 0 ||
	    (ws.ws_col == s->cols && ws.ws_row == s->rows))
		return 0;
	s->cols = ws.ws_col;
	s->rows = ws.ws_row;
	/* Resizes pass without approval, but never unrecorded. */
	if (tdm_cast_resize(s->cast, s->cols, s->rows) < 0) {
		freeze(r, TDM_ERR_IO);
		return TDM_ERR_IO;
	}
	escorts_send_state(s);
	if (s->channel != NULL &&
	    ssh_channel_change_pty_size(s->channel, (int)s->cols,
					(int)s->rows) != SSH_OK)
		return TDM_ERR_SSH;
	return 0;
}

static int setup_signals(struct relay *r)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return TDM_ERR_IO;
	r->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sigfd < 0)
		return TDM_ERR_IO;
	return 0;
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int idle_left(const struct session *s)
{
	uint64_t now = session_now_ms(), limit = s->policy->idle_timeout_ms;

	if (limit == 0)
		return -1;
	if (now - s->last_activity_ms >= limit)
		return 0;
	return (int)(limit - (now - s->last_activity_ms));
}

static int step(struct relay *r)
{
	struct session *s = r->s;
	struct pollfd pfd[MAX_POLL];
	size_t n = 0, in_at = SIZE_MAX, esc_at, nesc;
	bool held = session_engineer_behind(s);
	int timeout, rc;

	/* While the engineer is this far behind, the target waits. */
	pfd[n].fd = held ? -1 : ssh_get_fd(s->ssh);
	pfd[n++].events = POLLIN;
	pfd[n].fd = r->sigfd;
	pfd[n++].events = POLLIN;
	/* Queued output; without a PTY, a reader gone from stdout is the
	 * engineer gone. */
	pfd[n].fd = s->tty && s->to_engineer[0].len == 0 ? -1 : STDOUT_FILENO;
	pfd[n++].events = s->to_engineer[0].len > 0 ? POLLOUT : 0;
	pfd[n].fd = s->to_engineer[1].len > 0 ? STDERR_FILENO : -1;
	pfd[n++].events = POLLOUT;
	if (!held && !r->in_closed && r->in_len == 0 && gate_wants_input(s)) {
		in_at = n;
		pfd[n].fd = STDIN_FILENO;
		pfd[n++].events = POLLIN;
	}
	esc_at = n;
	nesc = escorts_pollfds(s, pfd + n, MAX_POLL - n);
	n += nesc;

	timeout = tdm_cast_next_tick_ms(s->cast);
	timeout = min_timeout(timeout, gate_tick(s));
	timeout = min_timeout(timeout, idle_left(s));
	if (timeout < 0 || timeout > 1000)
		timeout = 1000;
	rc = poll(pfd, (nfds_t)n, timeout);
	if (rc < 0 && errno != EINTR)
		return TDM_ERR_IO;

	/* libssh reads the socket and runs the channel callbacks. */
	if (!held && ssh_event_dopoll(r->event, 0) == SSH_ERROR &&
	    !s->remote_closed &&
	    (ssh_get_status(s->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR)))
		return TDM_ERR_SSH;
	if (pfd[1].revents & POLLIN)
		read_signals(r);
	if ((pfd[2].revents | pfd[3].revents) & (POLLOUT | POLLERR | POLLHUP))
		session_flush_engineer(s);
	if (pfd[2].revents & (POLLERR | POLLHUP)) {
		snprintf(s->end_why, sizeof(s->end_why), "engineer left");
		s->stop = true;
	}
	if (in_at != SIZE_MAX &&
	    (pfd[in_at].revents & (POLLIN | POLLHUP | POLLERR)))
		read_input(r);
	if (r->in_len > 0) {
		rc = gate_keys(s, r->in, r->in_len);
		r->in_len = 0;
		/* Never dropped quietly: a byte the gate could not take ends
		 * the session. */
		if (rc < 0 && !s->frozen)
			return rc;
	}
	if (r->in_closed && !s->tty && !s->in_eof) {
		rc = gate_stdin_eof(s);
		if (rc < 0 && !s->frozen)
			return rc;
	}
	if (nesc > 0)
		escorts_handle(s, pfd + esc_at, nesc);
	if (r->winch && resize(r) < 0 && !s->frozen)
		return TDM_ERR_SSH;
	rc = gate_pump(s);
	if (rc < 0 && !s->remote_closed)
		return rc;
	gate_tick(s);
	if (idle_left(s) == 0 && !s->stop) {
		session_notice(s, "idle for %lu s; the session ends",
			       s->policy->idle_timeout_ms / 1000);
		snprintf(s->end_why, sizeof(s->end_why), "idle");
		s->stop = true;
	}
	if (tdm_cast_tick(s->cast) < 0)
		freeze(r, TDM_ERR_IO);
	return 0;
}

int relay_run(struct session *s)
{
	struct relay *r;
	int rc, fd, fl;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return TDM_ERR_NOMEM;
	r->s = s;
	r->sigfd = -1;
	s->last_activity_ms = session_now_ms();
	rc = setup_signals(r);
	if (rc < 0)
		goto out;
	r->event = ssh_event_new();
	rc = TDM_ERR_NOMEM;
	if (r->event == NULL)
		goto out;
	rc = TDM_ERR_SSH;
	if (ssh_event_add_session(r->event, s->ssh) != SSH_OK)
		goto out;
	if (s->command != NULL) {
		rc = gate_submit_exec(s);
		if (rc < 0)
			goto out;
	}
	/* Queued, not waited for, from here on (session.c). */
	for (fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	rc = 0;
	while (!s->remote_closed && !s->stop && !s->frozen) {
		rc = step(r);
		if (rc < 0)
			break;
	}
	if (s->frozen)
		rc = r->err ? r->err : TDM_ERR_IO;
out:
	if (r->event != NULL) {
		ssh_event_remove_session(r->event, s->ssh);
		ssh_event_free(r->event);
	}
	if (s->channel != NULL)
		ssh_remove_channel_callbacks(s->channel, &s->chan_cb);
	if (r->sigfd >= 0)
		close(r->sigfd);
	free(r);
	return rc;
}
