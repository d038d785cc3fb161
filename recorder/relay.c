/*
 * relay.c: the engineer <-> target loop.
 *
 * Output from the target is recorded before the engineer sees it; input
 * from the engineer goes only to the gate.  Channels are driven with
 * libssh's event API: its callbacks deliver every packet as it is parsed,
 * so no data can sit in a libssh buffer while poll() sleeps.  libssh is
 * never re-entered from inside its own callbacks: they only copy bytes or
 * set flags, and the loop acts on them after ssh_event_dopoll returns.
 */
#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "err.h"
#include "gate.h"

#define READ_CHUNK (64u * 1024u)

struct relay {
	struct session *s;
	ssh_event event;
	int sigfd;
	bool reading_input;
	bool winch;
	int err;
	uint8_t in[READ_CHUNK];
	size_t in_len;
};

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				poll(&pfd, 1, -1);
				continue;
			}
			return TDM_ERR_IO;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void freeze(struct relay *r, int err)
{
	r->s->frozen = true;
	if (r->err == 0)
		r->err = err;
}

static int on_data(ssh_session ssh, ssh_channel ch, void *data, uint32_t len,
		   int is_stderr, void *userdata)
{
	struct relay *r = userdata;
	struct session *s = r->s;
	int rc;

	(void)ssh;
	(void)ch;
	if (s->frozen)
		return (int)len;
	/* Recorded first: nothing is shown that the record lacks. */
	rc = tdm_cast_output(s->cast, data, len);
	if (rc < 0) {
		freeze(r, rc);
		return (int)len;
	}
	s->bytes_out += len;
	if (write_all(is_stderr ? STDERR_FILENO : STDOUT_FILENO, data,
		      len) < 0)
		s->stop = true;
	return (int)len;
}

static void on_eof(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct relay *r = userdata;

	(void)ssh;
	(void)ch;
	r->s->remote_eof = true;
}

static void on_close(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct relay *r = userdata;

	(void)ssh;
	(void)ch;
	r->s->remote_closed = true;
}

static void on_exit_status(ssh_session ssh, ssh_channel ch, int status,
			   void *userdata)
{
	struct relay *r = userdata;

	(void)ssh;
	(void)ch;
	r->s->have_status = true;
	r->s->exit_status = status & 0xff;
}

static const struct {
	const char *name;
	int num;
} signals[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT },
	{ "ILL", SIGILL },   { "ABRT", SIGABRT }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE },
	{ "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

static void on_exit_signal(ssh_session ssh, ssh_channel ch,
			   const char *signal, int core, const char *errmsg,
			   const char *lang, void *userdata)
{
	struct relay *r = userdata;
	size_t i;

	(void)ssh;
	(void)ch;
	(void)core;
	(void)errmsg;
	(void)lang;
	r->s->have_status = true;
	r->s->exit_status = 255;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signal != NULL && strcmp(signal, signals[i].name) == 0)
			r->s->exit_status = 128 + signals[i].num;
}

static int on_input(socket_t fd, int revents, void *userdata)
{
	struct relay *r = userdata;
	ssize_t n;

	(void)revents;
	if (r->in_len > 0)
		return 0;
	n = read(fd, r->in, sizeof(r->in));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		/* A PTY whose engineer left reads EIO; a pipe reads 0. */
		if (r->s->tty)
			r->s->stop = true;
		else
			r->s->in_eof = true;
		return 0;
	}
	r->in_len = (size_t)n;
	return 0;
}

static int on_signal(socket_t fd, int revents, void *userdata)
{
	struct relay *r = userdata;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH)
			r->winch = true;
		else
			r->s->stop = true;
	}
	return 0;
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
	if (ssh_channel_change_pty_size(s->channel, (int)s->cols,
					(int)s->rows) != SSH_OK)
		return TDM_ERR_SSH;
	return 0;
}

static void watch_input(struct relay *r, bool want)
{
	if (want == r->reading_input)
		return;
	if (want)
		ssh_event_add_fd(r->event, STDIN_FILENO, POLLIN, on_input, r);
	else
		ssh_event_remove_fd(r->event, STDIN_FILENO);
	r->reading_input = want;
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

static int loop(struct relay *r)
{
	struct session *s = r->s;
	int rc;

	for (;;) {
		int timeout;

		if (s->remote_closed || s->stop || s->frozen)
			break;
		watch_input(r, gate_wants_input(s) && r->in_len == 0 &&
				       !s->in_eof);
		timeout = tdm_cast_next_tick_ms(s->cast);
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		rc = ssh_event_dopoll(r->event, timeout);
		if (rc == SSH_ERROR && !s->remote_closed) {
			if (ssh_get_status(s->ssh) & (SSH_CLOSED |
						      SSH_CLOSED_ERROR))
				return TDM_ERR_SSH;
		}
		if (r->in_len > 0) {
			rc = gate_submit(s, r->in, r->in_len);
			r->in_len = 0;
			if (rc < 0 && s->frozen)
				freeze(r, rc);
			else if (rc < 0)
				return rc;
		}
		if (s->in_eof && !s->eof_sent) {
			rc = gate_finish(s);
			if (rc < 0 && !s->frozen)
				return rc;
		}
		if (r->winch && resize(r) < 0 && !s->frozen)
			return TDM_ERR_SSH;
		rc = gate_pump(s);
		if (rc < 0 && !s->remote_closed)
			return rc;
		rc = tdm_cast_tick(s->cast);
		if (rc < 0)
			freeze(r, rc);
	}
	return s->frozen ? (r->err ? r->err : TDM_ERR_IO) : 0;
}

int relay_run(struct session *s)
{
	struct ssh_channel_callbacks_struct cb;
	struct termios saved, raw;
	bool restore = false;
	struct relay *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return TDM_ERR_NOMEM;
	r->s = s;
	r->sigfd = -1;
	memset(&cb, 0, sizeof(cb));
	cb.userdata = r;
	cb.channel_data_function = on_data;
	cb.channel_eof_function = on_eof;
	cb.channel_close_function = on_close;
	cb.channel_exit_status_function = on_exit_status;
	cb.channel_exit_signal_function = on_exit_signal;
	ssh_callbacks_init(&cb);
	rc = TDM_ERR_SSH;
	if (ssh_set_channel_callbacks(s->channel, &cb) != SSH_OK)
		goto out;
	rc = setup_signals(r);
	if (rc < 0)
		goto out;
	r->event = ssh_event_new();
	rc = TDM_ERR_NOMEM;
	if (r->event == NULL)
		goto out;
	rc = TDM_ERR_SSH;
	if (ssh_event_add_session(r->event, s->ssh) != SSH_OK ||
	    ssh_event_add_fd(r->event, r->sigfd, POLLIN, on_signal, r) !=
		    SSH_OK)
		goto out;
	if (s->tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		/* The target's PTY echoes and edits; the bastion's must not. */
		raw = saved;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			restore = true;
	}
	rc = loop(r);
out:
	if (restore)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (r->event != NULL) {
		if (r->reading_input)
			ssh_event_remove_fd(r->event, STDIN_FILENO);
		ssh_event_remove_fd(r->event, r->sigfd);
		ssh_event_remove_session(r->event, s->ssh);
		ssh_event_free(r->event);
	}
	if (s->channel != NULL)
		ssh_remove_channel_callbacks(s->channel, &cb);
	if (r->sigfd >= 0)
		close(r->sigfd);
	free(r);
	return rc;
}
