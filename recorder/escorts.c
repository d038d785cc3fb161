/*
 * escorts.c: the recorder's side of the escort socket.
 *
 * It must never let a process other than the escort account's talk to the
 * gate, never let an escort decide in their own session, and never let one
 * slow or hostile escort stall the relay: every connection is non-blocking
 * with a bounded buffer each way.
 */
#include "escorts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "gate.h"
#include "log.h"
#include "proto.h"
#include "visible.h"

/* An escort that falls this far behind is dropped, not waited for. */
#define ESCORT_MAX_BACKLOG (8u * 1024u * 1024u)
/*
 * Live output stops for an escort this far behind, until what is queued
 * for them has gone to their socket; they then get the screen again (the
 * recent output) and live output resumes.  A flood of output thus never
 * pushes a watching escort off the session, so they can still kill it; the
 * recording has every byte, and marks how much each escort did not see.
 */
#define ESCORT_FOLLOW_LIMIT (1024u * 1024u)
/*
 * An escort who has read nothing for this long while messages wait for
 * them is not watching (a hung console, a stalled network under it): they
 * are dropped, so raw mode and the "watching" the engineer is told about
 * do not go on without them.  A console that recovers attaches again.
 */
#define ESCORT_STALL_S 15
#define ESCORT_STALL_MS (ESCORT_STALL_S * 1000u)
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define STALLED_WHY "read nothing for " STRINGIFY(ESCORT_STALL_S) " s"

static void reap(int fd, const char *path)
{
	char b;

	/* Alone: no terminal, no signals from the session, no other fds. */
	setsid();
	prctl(PR_SET_NAME, "tandem-reaper", 0, 0, 0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (dup2(fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	close(0);
	close(1);
	close(2);
	while (read(3, &b, 1) != 0 && errno == EINTR)
		;
	unlink(path);
	_exit(0);
}

int escorts_start_reaper(struct session *s)
{
	char path[PATH_MAX];
	int fds[2], n;
	pid_t pid;

	s->reaper_fd = -1;
	n = snprintf(path, sizeof(path), "%s/%s.sock", s->policy->sessions,
		     s->id);
	if (n < 0 || (size_t)n >= sizeof(path))
		return TDM_ERR_RANGE;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return TDM_ERR_IO;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return TDM_ERR_IO;
	}
	if (pid == 0) {
		close(fds[1]);
		reap(fds[0], path);
	}
	close(fds[0]);
	s->reaper_fd = fds[1];
	return 0;
}

int escorts_prepare(struct session *s, char *why, size_t why_size)
{
	struct sockaddr_un sa;
	struct passwd *pw;
	int n;

	s->listen_fd = -1;
	pw = getpwnam(s->policy->escort_user);
	if (pw == NULL) {
		snprintf(why, why_size,
			 "escort-user %s in %s is not an "
			 "account on this bastion; ask an admin to create it",
			 s->policy->escort_user, s->policy->path);
		return TDM_ERR_NOTFOUND;
	}
	s->escort_uid = pw->pw_uid;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock",
		     s->policy->sessions, s->id);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		snprintf(why, why_size,
			 "the sessions directory path %s is "
			 "too long for a socket; choose a shorter one",
			 s->policy->sessions);
		return TDM_ERR_RANGE;
	}
	snprintf(s->sock_path, sizeof(s->sock_path), "%s", sa.sun_path);
	return 0;
}

int escorts_open(struct session *s, char *why, size_t why_size)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	/* escorts_prepare made the path and checked that it fits. */
	if (strlen(s->sock_path) >= sizeof(sa.sun_path)) {
		snprintf(why, why_size, "no escort socket path");
		return TDM_ERR_RANGE;
	}
	memcpy(sa.sun_path, s->sock_path, strlen(s->sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		goto fail;
	}
	/* Group escort comes from the setgid sessions directory. */
	if (chmod(sa.sun_path, 0660) < 0 || listen(fd, 8) < 0) {
		close(fd);
		unlink(sa.sun_path);
		goto fail;
	}
	s->listen_fd = fd;
	return 0;
fail:
	snprintf(why, why_size,
		 "cannot create the escort socket in %s: %s; "
		 "ask an admin to check that directory",
		 s->policy->sessions, strerror(errno));
	s->sock_path[0] = '\0';
	return TDM_ERR_IO;
}

static void conn_free(struct escort_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	tdm_buf_free(&c->in);
	tdm_buf_free(&c->out);
	free(c);
}

void escorts_close(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nescorts; i++)
		conn_free(s->escorts[i]);
	s->nescorts = 0;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	/* The reaper unlinks the socket once this end of its pipe closes. */
	if (s->reaper_fd >= 0)
		close(s->reaper_fd);
	else if (s->sock_path[0] != '\0')
		unlink(s->sock_path);
	s->reaper_fd = -1;
	s->sock_path[0] = '\0';
}

bool escorts_any_attached(const struct session *s)
{
	size_t i;

	for (i = 0; i < s->nescorts; i++)
		if (s->escorts[i]->attached && !s->escorts[i]->closing)
			return true;
	return false;
}

bool escorts_same_person(const struct tdm_person *a, const struct tdm_person *b)
{
	size_t i, j;

	if (strcmp(a->name, b->name) == 0)
		return true;
	for (i = 0; i < a->nkeys; i++)
		for (j = 0; j < b->nkeys; j++)
			if (strcmp(a->keys[i], b->keys[j]) == 0)
				return true;
	return false;
}

/* Drops an escort who cannot follow: nothing more is sent to them. */
static void drop_conn(struct escort_conn *c)
{
	tdm_buf_reset(&c->out);
	c->closing = true;
	shutdown(c->fd, SHUT_RDWR);
}

static void send_raw(struct escort_conn *c, uint8_t type, const void *p,
		     size_t n)
{
	if (c->closing && type != TDM_MSG_ERROR && type != TDM_MSG_ENDED)
		return;
	if (c->out.len == 0)
		c->read_ms = session_now_ms();
	if (c->out.len + n > ESCORT_MAX_BACKLOG ||
	    tdm_proto_put(&c->out, type, p, n) < 0) {
		/* Too slow to follow: drop it rather than stall the relay. */
		drop_conn(c);
	}
}

static void send_json(struct escort_conn *c, uint8_t type, json_t *obj)
{
	char *text;

	if (obj == NULL)
		return;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return;
	send_raw(c, type, text, strlen(text));
	free(text);
}

static void broadcast_json(struct session *s, uint8_t type, json_t *obj)
{
	size_t i;

	if (obj == NULL)
		return;
	for (i = 0; i < s->nescorts; i++)
		if (s->escorts[i]->attached)
			send_json(s->escorts[i], type, json_incref(obj));
	json_decref(obj);
}

static json_t *escort_names(const struct session *s)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < s->nescorts; i++)
		if (s->escorts[i]->attached && !s->escorts[i]->closing)
			json_array_append_new(
				a, json_string(s->escorts[i]->person->name));
	return a;
}

void escorts_send_output(struct session *s, const void *p, size_t n)
{
	size_t i;

	for (i = 0; i < s->nescorts; i++) {
		struct escort_conn *c = s->escorts[i];
		const uint8_t *b = p;
		size_t left = n;

		if (!c->attached || c->closing)
			continue;
		if (c->behind ||
		    (c->out.len > 0 && c->out.len + n > ESCORT_FOLLOW_LIMIT)) {
			if (!c->behind)
				c->gaps++;
			c->behind = true;
			c->gap_bytes += n;
			continue;
		}
		while (left > 0) {
			size_t part = left > TDM_PROTO_MAX ? TDM_PROTO_MAX :
							     left;

			send_raw(c, TDM_MSG_OUTPUT, b, part);
			b += part;
			left -= part;
		}
	}
}

void escorts_send_pending(struct session *s)
{
	broadcast_json(s, TDM_MSG_PENDING, gate_pending_json(s));
}

void escorts_send_decided(struct session *s, unsigned seq, const char *word,
			  const char *escort, const char *reason)
{
	broadcast_json(s, TDM_MSG_DECIDED,
		       json_pack("{s:s,s:I,s:s,s:s?,s:s?}", "session", s->id,
				 "seq", (json_int_t)seq, "decision", word,
				 "escort", escort, "reason", reason));
}

void escorts_send_refused(struct session *s, unsigned seq, const char *why,
			  const char *visible)
{
	broadcast_json(s, TDM_MSG_DECIDED,
		       json_pack("{s:s,s:I,s:s,s:n,s:s,s:s}", "session", s->id,
				 "seq", (json_int_t)seq, "decision", "refused",
				 "escort", "reason", why, "visible", visible));
}

void escorts_send_state(struct session *s)
{
	broadcast_json(s, TDM_MSG_STATE,
		       json_pack("{s:s,s:o,s:b,s:i,s:i}", "session", s->id,
				 "escorts", escort_names(s), "raw", s->raw,
				 "cols", (int)s->cols, "rows", (int)s->rows));
}

static void flush_conn(struct escort_conn *c)
{
	while (c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.data, c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		tdm_buf_consume(&c->out, (size_t)w);
		c->read_ms = session_now_ms();
	}
}

/* Once what was queued for a lagging escort is sent: the screen again. */
static void catch_up(struct session *s, struct escort_conn *c)
{
	if (!c->behind || c->out.len > 0 || c->closing)
		return;
	send_json(c, TDM_MSG_SKIPPED,
		  json_pack("{s:I}", "bytes", (json_int_t)c->gap_bytes));
	send_raw(c, TDM_MSG_SCREEN, s->screen.data, s->screen.len);
	c->skipped_bytes += c->gap_bytes;
	c->gap_bytes = 0;
	c->behind = false;
	flush_conn(c);
}

/*
 * Marks in the recording how much output an escort did not see live, once:
 * when they leave, or when the session ends.  One mark, not one per gap: a
 * long flood makes a gap every few frames.
 */
static int mark_skipped(struct session *s, struct escort_conn *c)
{
	uint64_t bytes = c->skipped_bytes + c->gap_bytes;
	int rc;

	if (!c->attached || bytes == 0)
		return 0;
	rc = session_mark(s, LOG_NOTICE,
			  json_pack("{s:s,s:s,s:s,s:I,s:i}", "event", "escort",
				    "escort", c->person->name, "action",
				    "skipped", "bytes", (json_int_t)bytes,
				    "gaps", (int)c->gaps),
			  "escort skipped: %s did not see %llu bytes of "
			  "output live, in %u gap%s",
			  c->person->name, (unsigned long long)bytes, c->gaps,
			  c->gaps == 1 ? "" : "s");
	c->skipped_bytes = c->gap_bytes = 0;
	c->gaps = 0;
	return rc;
}

int escorts_mark_skipped(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nescorts; i++)
		if (mark_skipped(s, s->escorts[i]) < 0)
			return -1;
	return 0;
}

void escorts_send_ended(struct session *s, int status, const char *why)
{
	size_t i;

	broadcast_json(s, TDM_MSG_ENDED,
		       json_pack("{s:s,s:i,s:s}", "session", s->id, "status",
				 status, "why", why));
	for (i = 0; i < s->nescorts; i++)
		flush_conn(s->escorts[i]);
}

static json_t *welcome(const struct session *s)
{
	char started[32];
	struct tm tm;

	gmtime_r(&s->started, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:o,s:i,s:s?}",
			 "session", s->id, "engineer", s->engineer->name,
			 "target", s->target->name, "started", started, "cols",
			 (int)s->cols, "rows", (int)s->rows, "raw", s->raw,
			 "escorts", escort_names(s), "pending",
			 s->pending.active ? 1 : 0, "command", s->command);
}

static void refuse(struct session *s, struct escort_conn *c, const char *name,
		   const char *why)
{
	send_json(c, TDM_MSG_ERROR, json_pack("{s:s}", "error", why));
	c->closing = true;
	if (session_mark(s, LOG_WARNING,
			 json_pack("{s:s,s:s,s:s,s:s}", "event", "escort",
				   "escort", name, "action", "refused", "why",
				   why),
			 "escort refused: %s (%s)", name, why) < 0)
		s->frozen = true;
}

/*
 * True when the escort's end is closed in both directions, as when its
 * tool timed out and exited before this recorder read the hello.  A tool
 * that only shut its sending side still reads, and is not gone.
 */
static bool gone_before_welcome(const struct escort_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void hello(struct session *s, struct escort_conn *c,
		  const struct tdm_msg *m)
{
	const struct tdm_require *miss = NULL;
	const struct tdm_person *p;
	const char *name = tdm_msg_str(m, "escort");
	char why[512];

	if (name == NULL || c->attached) {
		refuse(s, c, "?", "the first message must name the escort");
		return;
	}
	if (gone_before_welcome(c)) {
		/* An escort tool that gave up waiting (this recorder was
		 * stopped or busy) and closed: nobody saw this session, so
		 * the record says nobody attached.  What else it sent is
		 * dropped with it. */
		tdm_log(LOG_INFO,
			"session %s: escort %s had gone before the session "
			"answered; not attached",
			s->id, name);
		c->closing = true;
		tdm_buf_reset(&c->out);
		return;
	}
	p = tdm_policy_escort(s->policy, name);
	if (p == NULL) {
		snprintf(why, sizeof(why), "%s is not an escort in the policy",
			 name);
		refuse(s, c, name, why);
		return;
	}
	if (!tdm_policy_grants(p, s->target->name)) {
		snprintf(why, sizeof(why),
			 "the policy does not let %s escort "
			 "target %s",
			 name, s->target->name);
		refuse(s, c, name, why);
		return;
	}
	if (!tdm_policy_meets(s->target, TDM_REQ_ESCORT, p, &miss)) {
		snprintf(why, sizeof(why),
			 "target %s requires escorts with "
			 "%s=%s",
			 s->target->name, miss ? miss->attr.key : "?",
			 miss ? miss->attr.value : "?");
		refuse(s, c, name, why);
		return;
	}
	if (escorts_same_person(p, s->engineer)) {
		snprintf(why, sizeof(why),
			 "%s is the engineer of this "
			 "session; four-eyes: someone else must escort it",
			 name);
		refuse(s, c, name, why);
		return;
	}
	c->person = p;
	c->attached = true;
	if (session_mark(s, LOG_NOTICE,
			 json_pack("{s:s,s:s,s:s}", "event", "escort", "escort",
				   name, "action", "attached"),
			 "escort attached: %s", name) < 0)
		s->frozen = true;
	/* The screen so far, then live output, then what is pending. */
	send_json(c, TDM_MSG_WELCOME, welcome(s));
	send_raw(c, TDM_MSG_SCREEN, s->screen.data, s->screen.len);
	if (s->pending.active)
		send_json(c, TDM_MSG_PENDING, gate_pending_json(s));
	send_json(c, TDM_MSG_SYNC, json_object());
	escorts_send_state(s);
	session_notice(s, "escort %s is watching", name);
}

static void decide(struct session *s, struct escort_conn *c,
		   const struct tdm_msg *m, enum gate_decision d)
{
	long long seq = tdm_msg_int(m, "seq");
	const char *reason = tdm_msg_str(m, "reason");
	/* A failure after the decision was recorded may say nothing. */
	char why[512] = "the decision was recorded, but acting on it failed";
	int rc;

	if (seq < 0 || seq > 0xffffffffLL) {
		send_json(c, TDM_MSG_ERROR,
			  json_pack("{s:s}", "error", "a decision needs seq"));
		return;
	}
	if (reason != NULL && reason[0] == '\0')
		reason = NULL;
	rc = gate_decide(s, (unsigned)seq, d, c->person, reason, why,
			 sizeof(why));
	if (rc < 0)
		send_json(c, TDM_MSG_ERROR,
			  json_pack("{s:s,s:I}", "error", why, "seq",
				    (json_int_t)seq));
	else
		send_json(c, TDM_MSG_OK,
			  json_pack("{s:s,s:I}", "what",
				    d == GATE_APPROVED ? "approved" : "denied",
				    "seq", (json_int_t)seq));
}

static void kill_session(struct session *s, struct escort_conn *c,
			 const struct tdm_msg *m)
{
	const char *reason = tdm_msg_str(m, "reason");
	struct tdm_buf shown;

	/* The label and the engineer's terminal get the reason with nothing
	 * hidden: a TAB in the label would be taken for the start of the
	 * details, an escape would act on the terminal.  The details keep
	 * it exact. */
	tdm_buf_init(&shown, 0);
	if (reason != NULL &&
	    tdm_visible((const uint8_t *)reason, strlen(reason), &shown) < 0)
		tdm_buf_puts(&shown, "?");
	if (shown.data == NULL)
		tdm_buf_puts(&shown, "");
	if (session_mark(s, LOG_WARNING,
			 json_pack("{s:s,s:s,s:s?}", "event", "kill", "escort",
				   c->person->name, "reason", reason),
			 "killed by %s%s%s%s", c->person->name,
			 reason ? " (" : "", reason ? (char *)shown.data : "",
			 reason ? ")" : "") < 0)
		s->frozen = true;
	session_notice(s, "escort %s ended this session%s%s", c->person->name,
		       reason ? ": " : "", reason ? (char *)shown.data : "");
	tdm_buf_free(&shown);
	send_json(c, TDM_MSG_OK, json_pack("{s:s}", "what", "killed"));
	snprintf(s->end_why, sizeof(s->end_why), "killed");
	s->killed = true;
	s->stop = true;
}

static void raw(struct session *s, struct escort_conn *c,
		const struct tdm_msg *m)
{
	json_t *on = json_object_get(m->json, "on");
	char why[512];

	if (!json_is_boolean(on)) {
		send_json(c, TDM_MSG_ERROR,
			  json_pack("{s:s}", "error", "raw needs on or off"));
		return;
	}
	if (json_is_true(on)) {
		if (gate_raw_on(s, c->person, why, sizeof(why)) < 0) {
			send_json(c, TDM_MSG_ERROR,
				  json_pack("{s:s}", "error", why));
			return;
		}
	} else {
		snprintf(why, sizeof(why), "revoked by %s", c->person->name);
		gate_raw_off(s, c->person->name, why);
	}
	send_json(c, TDM_MSG_OK,
		  json_pack("{s:s}", "what",
			    json_is_true(on) ? "raw on" : "raw off"));
}

static void on_message(struct session *s, struct escort_conn *c,
		       const struct tdm_msg *m)
{
	if (m->type == TDM_MSG_HELLO) {
		hello(s, c, m);
		return;
	}
	if (!c->attached) {
		refuse(s, c, "?", "the first message must name the escort");
		return;
	}
	switch (m->type) {
	case TDM_MSG_APPROVE:
		decide(s, c, m, GATE_APPROVED);
		break;
	case TDM_MSG_DENY:
		decide(s, c, m, GATE_DENIED);
		break;
	case TDM_MSG_KILL:
		kill_session(s, c, m);
		break;
	case TDM_MSG_RAW:
		raw(s, c, m);
		break;
	default:
		/* A recorder-to-escort type from an escort is malformed. */
		c->closing = true;
		tdm_buf_reset(&c->out);
	}
}

static void read_conn(struct session *s, struct escort_conn *c)
{
	uint8_t chunk[16384];
	struct tdm_msg m;
	size_t used, off = 0;
	ssize_t n;
	int rc;

	n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 || tdm_buf_put(&c->in, chunk, (size_t)n) < 0) {
		c->closing = true;
		tdm_buf_reset(&c->out);
		return;
	}
	while ((rc = tdm_proto_parse(c->in.data + off, c->in.len - off, &m,
				     &used)) == 1) {
		on_message(s, c, &m);
		tdm_msg_clear(&m);
		off += used;
		if (c->closing)
			break;
	}
	tdm_buf_consume(&c->in, off);
	if (rc < 0) {
		tdm_log(LOG_WARNING,
			"session %s: malformed message from "
			"escort socket; connection closed",
			s->id);
		c->closing = true;
		tdm_buf_reset(&c->out);
	}
}

static void accept_conn(struct session *s)
{
	struct escort_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != s->escort_uid) {
		tdm_log(LOG_WARNING,
			"session %s: refused escort socket "
			"connection from uid %ld (only %s may attach)",
			s->id, (long)cred.uid, s->policy->escort_user);
		close(fd);
		return;
	}
	if (s->nescorts == SESSION_MAX_ESCORTS) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	tdm_buf_init(&c->in, TDM_PROTO_MAX + TDM_PROTO_HEADER + 16384);
	tdm_buf_init(&c->out, 0);
	s->escorts[s->nescorts++] = c;
}

size_t escorts_pollfds(struct session *s, struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	if (max < 1 + s->nescorts)
		return 0;
	pfd[n].fd = s->listen_fd;
	pfd[n++].events = POLLIN;
	for (i = 0; i < s->nescorts; i++) {
		pfd[n].fd = s->escorts[i]->fd;
		pfd[n].events = POLLIN;
		if (s->escorts[i]->out.len > 0)
			pfd[n].events |= POLLOUT;
		n++;
	}
	return n;
}

static void drop_closed(struct session *s)
{
	size_t i = 0, attached_before = 0, attached_after = 0;

	for (i = 0; i < s->nescorts; i++)
		attached_before += s->escorts[i]->attached;
	i = 0;

	while (i < s->nescorts) {
		struct escort_conn *c = s->escorts[i];

		if (c->closing && c->closing_ms == 0)
			c->closing_ms = session_now_ms();
		/* A refused or finished escort gets 2 s to read its last
		 * message; one that does not read is dropped anyway. */
		if (!c->closing || (c->out.len > 0 &&
				    session_now_ms() - c->closing_ms < 2000)) {
			i++;
			continue;
		}
		if (mark_skipped(s, c) < 0)
			s->frozen = true;
		if (c->attached &&
		    session_mark(s, LOG_NOTICE,
				 json_pack("{s:s,s:s,s:s,s:s*}", "event",
					   "escort", "escort", c->person->name,
					   "action", "left", "why",
					   c->stalled ? STALLED_WHY : NULL),
				 "escort left: %s%s", c->person->name,
				 c->stalled ? " (" STALLED_WHY ")" : "") < 0)
			s->frozen = true;
		conn_free(c);
		s->escorts[i] = s->escorts[--s->nescorts];
	}
	for (i = 0; i < s->nescorts; i++)
		attached_after += s->escorts[i]->attached;
	/* One still reading its last message is leaving, not watching. */
	if (!escorts_any_attached(s))
		gate_raw_off(s, NULL, "no escort attached");
	if (attached_before > 0 && attached_after == 0) {
		/* Nobody watches: raw mode cannot go on for a moment. */
		gate_raw_off(s, NULL, "no escort attached");
		session_notice(s, "no escort attached: nothing is sent until "
				  "one attaches");
	} else if (attached_after != attached_before) {
		escorts_send_state(s);
	}
}

void escorts_handle(struct session *s, const struct pollfd *pfd, size_t n)
{
	size_t i, count = s->nescorts;

	if (n == 0)
		return;
	for (i = 0; i < count && i + 1 < n; i++) {
		struct escort_conn *c = s->escorts[i];
		short re = pfd[i + 1].revents;

		if (re & (POLLIN | POLLHUP | POLLERR))
			read_conn(s, c);
		if (c->out.len > 0)
			flush_conn(c);
		catch_up(s, c);
		if (c->attached && !c->closing && c->out.len > 0 &&
		    session_now_ms() - c->read_ms > ESCORT_STALL_MS) {
			c->stalled = true;
			drop_conn(c);
		}
		if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN))
			c->closing = true;
		if (c->closing && c->out.len > 0 && (re & POLLERR))
			tdm_buf_reset(&c->out);
	}
	if (pfd[0].revents & POLLIN)
		accept_conn(s);
	drop_closed(s);
}
