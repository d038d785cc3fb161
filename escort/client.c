/*
 * client.c: attaching to a session as an escort; see client.h.
 * Everything read from the socket is untrusted and bounded by proto.c.
 */
#include "client.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

/* How long a message to a session may wait for room in its socket. */
#define SEND_WAIT_MS 5000

int client_init(struct escort_ctx *ctx, const struct tdm_policy *p,
		const char *name)
{
	struct passwd *pw;

	ctx->policy = p;
	ctx->me = tdm_policy_escort(p, name);
	if (ctx->me == NULL) {
		fprintf(stderr,
			"tandem-escort: %s is not an escort in %s; "
			"ask an admin to add them\n",
			name, p->path);
		return TDM_ERR_NOTFOUND;
	}
	pw = getpwnam("tandem");
	if (pw == NULL) {
		fprintf(stderr, "tandem-escort: there is no tandem account "
				"on this bastion; sessions cannot exist\n");
		return TDM_ERR_NOTFOUND;
	}
	ctx->tandem_uid = pw->pw_uid;
	ctx->sessions_fd =
		open(p->sessions, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->sessions_fd < 0) {
		fprintf(stderr,
			"tandem-escort: cannot open the sessions "
			"directory %s: %s; ask an admin to check it\n",
			p->sessions, strerror(errno));
		return TDM_ERR_IO;
	}
	return 0;
}

size_t client_sessions(const struct escort_ctx *ctx, char ids[][37], size_t max)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d;
	int fd;

	/* A fresh listing from the directory opened before the sandbox. */
	fd = dup(ctx->sessions_fd);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return 0;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL && n < max) {
		size_t len = strlen(e->d_name);

		if (len != 36 + 5 || strcmp(e->d_name + 36, ".sock") != 0)
			continue;
		memcpy(ids[n], e->d_name, 36);
		ids[n][36] = '\0';
		if (tdm_session_id_ok(ids[n], strlen(ids[n])))
			n++;
	}
	closedir(d);
	return n;
}

void client_close(struct session_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	tdm_buf_free(&c->in);
	tdm_buf_free(&c->early);
	json_decref(c->welcome);
	json_decref(c->pending);
	c->welcome = NULL;
	c->pending = NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

int client_send(struct session_conn *c, uint8_t type, json_t *obj)
{
	struct tdm_buf out;
	struct timespec t0;
	size_t off = 0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	tdm_buf_init(&out, 0);
	rc = tdm_proto_put_json(&out, type, obj);
	json_decref(obj);
	while (rc == 0 && off < out.len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t w = send(c->fd, out.data + off, out.len - off,
				 MSG_NOSIGNAL);
		long left = SEND_WAIT_MS - ms_since(&t0);

		if (w < 0 && errno == EINTR)
			continue;
		/* The socket does not wait (see client_attach_start): a
		 * session that has stopped reading gets SEND_WAIT_MS for the
		 * whole message, then the connection is given up, as half a
		 * message is lost. */
		if (w < 0 && errno == EAGAIN && left > 0 &&
		    poll(&pfd, 1, (int)left) == 1)
			continue;
		if (w <= 0) {
			rc = TDM_ERR_IO;
			c->ended = true;
			snprintf(c->error, sizeof(c->error),
				 "session %s is not reading what this escort "
				 "sends; try again",
				 c->id);
		} else {
			off += (size_t)w;
		}
	}
	tdm_buf_free(&out);
	return rc;
}

/* Keeps the session's state current as messages pass. */
static void track(struct session_conn *c, const struct tdm_msg *m)
{
	const char *err;

	switch (m->type) {
	case TDM_MSG_WELCOME:
		json_decref(c->welcome);
		c->welcome = json_incref(m->json);
		break;
	case TDM_MSG_PENDING:
		json_decref(c->pending);
		c->pending = json_incref(m->json);
		break;
	case TDM_MSG_DECIDED:
		if (c->pending != NULL &&
		    json_integer_value(json_object_get(c->pending, "seq")) ==
			    tdm_msg_int(m, "seq")) {
			json_decref(c->pending);
			c->pending = NULL;
		}
		break;
	case TDM_MSG_SYNC:
		c->synced = true;
		break;
	case TDM_MSG_SCREEN:
	case TDM_MSG_OUTPUT:
		/* Kept only until attached; later output is the caller's. */
		if (!c->synced)
			tdm_buf_put(&c->early, m->payload, m->len);
		break;
	case TDM_MSG_ENDED:
		c->ended = true;
		break;
	case TDM_MSG_ERROR:
		err = tdm_msg_str(m, "error");
		snprintf(c->error, sizeof(c->error), "%s",
			 err ? err : "refused");
		break;
	}
}

int client_next(struct session_conn *c, struct tdm_msg *m, int timeout_ms)
{
	static __thread uint8_t last[TDM_PROTO_MAX + TDM_PROTO_HEADER];
	struct timespec t0, t1;
	size_t used;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uint8_t chunk[16384];
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		long left;
		ssize_t n;

		rc = tdm_proto_parse(c->in.data, c->in.len, m, &used);
		if (rc < 0)
			return TDM_ERR_INVAL;
		if (rc == 1) {
			/* The payload must outlive the buffer's shift. */
			memcpy(last, c->in.data, used);
			m->payload = last + TDM_PROTO_HEADER;
			tdm_buf_consume(&c->in, used);
			track(c, m);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 +
				     (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (timeout_ms >= 0 && left < 0)
			left = 0;
		/* Even with no time left, look once at what has arrived. */
		rc = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return 0;
		n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			c->ended = true;
			return TDM_ERR_IO;
		}
		if (tdm_buf_put(&c->in, chunk, (size_t)n) < 0)
			return TDM_ERR_RANGE;
	}
}

int client_attach_start(const struct escort_ctx *ctx, const char *id,
			struct session_conn *c)
{
	struct sockaddr_un sa;
	struct stat st;
	int n;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	tdm_buf_init(&c->in, TDM_PROTO_MAX + TDM_PROTO_HEADER + 16384);
	tdm_buf_init(&c->early, 2 * TDM_PROTO_MAX);
	if (!tdm_session_id_ok(id, strlen(id))) {
		snprintf(c->error, sizeof(c->error),
			 "%s is not a session "
			 "id; `list` shows them",
			 id);
		return TDM_ERR_INVAL;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock",
		     ctx->policy->sessions, id);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return TDM_ERR_RANGE;
	if (lstat(sa.sun_path, &st) < 0) {
		snprintf(c->error, sizeof(c->error),
			 "no live session %s "
			 "(it may have ended); `list` shows the live ones",
			 id);
		return TDM_ERR_NOTFOUND;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != ctx->tandem_uid) {
		snprintf(c->error, sizeof(c->error),
			 "%s is not a socket of "
			 "the tandem account; refusing to talk to it (tell "
			 "an admin)",
			 sa.sun_path);
		return TDM_ERR_DENIED;
	}
	/*
	 * A socket that never waits.  A recorder that is stopped, or stuck
	 * in a write to a slow disk, takes no connections, and once its
	 * queue of them is full a blocking connect would wait until it runs
	 * again, with the escort's console frozen behind it.
	 */
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		c->unanswered = errno == EAGAIN;
		if (errno == EAGAIN)
			snprintf(c->error, sizeof(c->error),
				 "session %s is not taking escorts now (its "
				 "recorder is busy or stopped); try again",
				 id);
		else
			snprintf(c->error, sizeof(c->error),
				 "cannot reach session %s: %s", id,
				 strerror(errno));
		return TDM_ERR_IO;
	}
	return client_send(c, TDM_MSG_HELLO,
			   json_pack("{s:s}", "escort", ctx->me->name));
}

int client_attach_step(struct session_conn *c)
{
	struct tdm_msg m;
	int rc;

	while (!c->synced) {
		rc = client_next(c, &m, 0);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			if (c->error[0] == '\0')
				snprintf(c->error, sizeof(c->error),
					 "session %s closed the connection",
					 c->id);
			return rc;
		}
		rc = m.type == TDM_MSG_ERROR ? TDM_ERR_DENIED : 0;
		tdm_msg_clear(&m);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static void not_in_time(struct session_conn *c)
{
	c->unanswered = true;
	snprintf(c->error, sizeof(c->error),
		 "session %s did not answer in time (its recorder may be "
		 "busy or stopped); try again",
		 c->id);
}

/*
 * Reads the attach bursts of conns[0..n) as they come, all at once, until
 * each is attached (synced) or has failed, or timeout_ms has passed since
 * t0; a failed or late one is closed (fd -1) with its error set.
 */
static void attach_wait(struct session_conn *conns, size_t n, int timeout_ms,
			const struct timespec *t0)
{
	struct pollfd *pfd = calloc(n + 1, sizeof(*pfd));
	size_t *at = calloc(n + 1, sizeof(*at));
	size_t i, np;

	for (;;) {
		long left;

		np = 0;
		for (i = 0; i < n; i++) {
			int rc;

			if (conns[i].fd < 0 || conns[i].synced)
				continue;
			rc = pfd != NULL && at != NULL ?
				     client_attach_step(&conns[i]) :
				     TDM_ERR_NOMEM;
			if (rc == 0) {
				pfd[np].fd = conns[i].fd;
				pfd[np].events = POLLIN;
				at[np++] = i;
			} else if (rc < 0) {
				if (rc == TDM_ERR_NOMEM)
					snprintf(conns[i].error,
						 sizeof(conns[i].error),
						 "out of memory");
				client_close(&conns[i]);
			}
		}
		if (np == 0)
			break;
		left = timeout_ms - ms_since(t0);
		if (left <= 0 ||
		    (poll(pfd, (nfds_t)np, (int)left) < 0 && errno != EINTR)) {
			for (i = 0; i < np; i++) {
				not_in_time(&conns[at[i]]);
				client_close(&conns[at[i]]);
			}
			break;
		}
	}
	free(pfd);
	free(at);
}

int client_attach(const struct escort_ctx *ctx, const char *id,
		  struct session_conn *c, int timeout_ms)
{
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = client_attach_start(ctx, id, c);
	if (rc == 0)
		attach_wait(c, 1, timeout_ms, &t0);
	return rc < 0 ? rc : c->synced ? 0 : TDM_ERR_IO;
}

size_t client_attach_all(const struct escort_ctx *ctx, char ids[][37],
			 struct session_conn *conns, size_t n, int timeout_ms)
{
	size_t i, attached = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		if (client_attach_start(ctx, ids[i], &conns[i]) < 0)
			client_close(&conns[i]);
	attach_wait(conns, n, timeout_ms, &t0);
	for (i = 0; i < n; i++)
		attached += conns[i].synced;
	return attached;
}
