/*
 * gen_recordings.c: synthetic but valid tandem recordings, for measuring
 * `tandem-replay search` and `index` over many sessions, and for tests.
 *
 * Each recording is made by the real writer (cast.c) with the real hash
 * chain and seal (chain.c, sign.c), so verify, commands, search and index
 * read them exactly as they read the bastion's.  Sessions are spread over
 * two years from 2023-01-01, with engineers, targets, escorts, decisions,
 * risks and commands drawn from fixed lists by a seeded generator: the
 * same arguments always give the same recordings (event times aside,
 * which the writer takes from the clock).
 *
 * Build (bench/search.sh does it):
 *   cc -O2 -Icommon bench/gen_recordings.c build/libtandem.a \
 *      $(pkg-config --libs libzstd libcrypto jansson) -o gen_recordings
 *
 * usage: gen_recordings DIR COUNT KEY [--seed N] [--pace-ms MS]
 *                       [--output FILE] [--commands N]
 *                       [--no-command-every N]
 *   KEY        an ed25519 key from ssh-keygen -t ed25519 -N ''
 *   --pace-ms  sleep MS between events, so playback has gaps to honour
 *   --output   one more "o" event with FILE's bytes, as is (hostile
 *              samples for play/cat tests)
 *   --commands N  N commands in each session (default 1 to 8)
 *   --no-command-every N  every Nth decision marker without its command
 *              (as an older or foreign writer might leave it)
 * Prints the path of each recording made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base64.h"
#include "buf.h"
#include "cast.h"
#include "chain.h"
#include "sign.h"
#include "visible.h"

static const char *const engineers[] = { "alice", "carol", "dave",
					 "erin",  "frank", "grace" };
static const char *const escorts[] = { "bob", "mallory", "trent", "victor" };
static const char *const targets[] = {
	"db01",	  "db02",    "web-01", "web-02",
	"web-03", "cache01", "mq01",   "build01"
};
static const char *const bastions[] = { "bastion1", "bastion2" };
static const char *const countries[] = { "US", "US", "UK", "DE" };
static const char *const clearances[] = { "secret", "topsecret",
					  "confidential" };

struct cmd_kind {
	const char *fmt;	 /* %u: a number for variety */
	const char *level, *why; /* risk, or NULL */
};

static const struct cmd_kind commands[] = {
	{ "systemctl restart nginx", NULL, NULL },
	{ "systemctl stop app%u", "medium", "stops a service" },
	{ "rm -rf /var/tmp/cache%u", "high", "deletes files recursively" },
	{ "ls -la /srv/app%u", NULL, NULL },
	{ "df -h", NULL, NULL },
	{ "tail -n %u /var/log/syslog", NULL, NULL },
	{ "journalctl -u sshd --since '%u min ago'", NULL, NULL },
	{ "curl -s http://10.0.0.%u/install.sh | sh", "high",
	  "downloads a program and runs it" },
	{ "vim /etc/nginx/sites-enabled/site%u", "medium",
	  "edits system configuration" },
	{ "psql -c 'select count(*) from orders where id > %u'", NULL, NULL },
	{ "cat /etc/shadow", "high", "reads password hashes" },
	{ "echo %u > /proc/sys/vm/drop_caches", "medium",
	  "changes a kernel setting" },
	{ "crontab -l", NULL, NULL },
	{ "iptables -D INPUT %u", "high", "changes the firewall" },
	{ "echo 'a\tb\x1b[31m%u'", "medium", "control characters in the line" },
	{ "unset HISTFILE; ls /root/.ssh", "high", "disables shell history" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static unsigned pick(uint64_t *s, size_t n)
{
	return (unsigned)(rng_next(s) % n);
}

static void pace(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

static int marker(struct tdm_cast *c, const char *label, json_t *details)
{
	struct tdm_buf b;
	char *json = json_dumps(details, JSON_COMPACT);
	int rc;

	json_decref(details);
	if (json == NULL)
		return -1;
	tdm_buf_init(&b, 0);
	rc = tdm_buf_printf(&b, "%s\t%s", label, json);
	if (rc == 0)
		rc = tdm_cast_marker(c, (const char *)b.data);
	free(json);
	tdm_buf_free(&b);
	return rc;
}

static json_t *b64_of(const char *s)
{
	struct tdm_buf b;
	json_t *j;

	tdm_buf_init(&b, 0);
	if (tdm_b64_encode(&b, s, strlen(s)) < 0) {
		tdm_buf_free(&b);
		return NULL;
	}
	j = json_string(b.data != NULL ? (const char *)b.data : "");
	tdm_buf_free(&b);
	return j;
}

struct gen {
	const char *dir;
	struct tdm_signer *signer;
	unsigned pace_ms;
	const char *extra_output;
	unsigned commands;   /* 0: 1 to 8, drawn */
	unsigned bare_every; /* every Nth decision has no command */
	size_t pad;	     /* bytes of " #xxx..." after each command */
	uint8_t *extra;
	size_t extra_len;
};

/* One command: pending, decision, and when approved its input and output. */
static int one_command(struct gen *g, struct tdm_cast *c, uint64_t *s,
		       unsigned seq)
{
	const struct cmd_kind *k = &commands[pick(s, N_OF(commands))];
	const char *escort = escorts[pick(s, N_OF(escorts))];
	const char *decision, *reason = NULL;
	char *cmd, label[640], out[256];
	struct tdm_buf vis;
	json_t *risks;
	unsigned roll = pick(s, 100), i, lines;
	int rc;

	cmd = malloc(258 + g->pad); /* and a CR */
	if (cmd == NULL)
		return -1;
	snprintf(cmd, 256, k->fmt, pick(s, 1000));
	if (g->pad >= 2) {
		size_t at = strlen(cmd);

		memcpy(cmd + at, " #", 2);
		memset(cmd + at + 2, 'x', g->pad - 2);
		cmd[at + g->pad] = '\0';
	}
	risks = json_array();
	if (k->level != NULL)
		json_array_append_new(risks,
				      json_pack("{s:s,s:s}", "level", k->level,
						"why", k->why));
	tdm_buf_init(&vis, 0);
	tdm_visible((const uint8_t *)cmd, strlen(cmd), &vis);
	snprintf(label, sizeof(label), "pending #%u: %s", seq,
		 (const char *)vis.data);
	rc = marker(c, label,
		    json_pack("{s:s,s:I,s:s,s:o,s:O}", "event", "pending",
			      "seq", (json_int_t)seq, "command", cmd,
			      "command_b64", b64_of(cmd), "risks", risks));
	pace(g->pace_ms);
	if (roll < 70) {
		decision = "approved";
		snprintf(label, sizeof(label), "approved #%u by %s: %s", seq,
			 escort, (const char *)vis.data);
	} else if (roll < 88) {
		decision = "denied";
		reason = roll < 80 ? "not during business hours" : NULL;
		if (reason != NULL)
			snprintf(label, sizeof(label),
				 "denied #%u by %s (%s): "
				 "%s",
				 seq, escort, reason, (const char *)vis.data);
		else
			snprintf(label, sizeof(label), "denied #%u by %s: %s",
				 seq, escort, (const char *)vis.data);
	} else if (roll < 95) {
		decision = "timeout";
		escort = NULL;
		snprintf(label, sizeof(label), "timeout #%u: %s", seq,
			 (const char *)vis.data);
	} else {
		decision = "refused";
		escort = NULL;
		reason = "formats a filesystem";
		snprintf(label, sizeof(label),
			 "refused #%u by policy (%s): "
			 "%s",
			 seq, reason, (const char *)vis.data);
	}
	tdm_buf_free(&vis);
	if (rc == 0) {
		json_t *m = json_pack("{s:s,s:I,s:s,s:s?,s:{s:s},s:s?,s:O,"
				      "s:s,s:o}",
				      "event", "decision", "seq",
				      (json_int_t)seq, "decision", decision,
				      "escort", escort, "escort_attrs",
				      "citizen", "US", "reason", reason,
				      "risks", risks, "command", cmd,
				      "command_b64", b64_of(cmd));

		/* As a writer that left the command out would. */
		if (m != NULL && g->bare_every > 0 &&
		    seq % g->bare_every == 0) {
			json_object_del(m, "command");
			json_object_del(m, "command_b64");
		}
		rc = marker(c, label, m);
	}
	json_decref(risks);
	if (rc < 0 || strcmp(decision, "approved") != 0) {
		free(cmd);
		return rc;
	}
	strcat(cmd, "\r");
	rc = tdm_cast_input(c, cmd, strlen(cmd));
	free(cmd);
	pace(g->pace_ms);
	lines = 2 + pick(s, 20);
	for (i = 0; rc == 0 && i < lines; i++) {
		snprintf(out, sizeof(out),
			 "\x1b[32m%u\x1b[0m  line %u of the "
			 "output of command %u, some text to index %u\r\n",
			 i, i, seq, pick(s, 100000));
		rc = tdm_cast_output(c, out, strlen(out));
	}
	if (rc == 0)
		rc = tdm_cast_output(c, "$ ", 2);
	pace(g->pace_ms);
	return rc;
}

static int write_file(const char *dir, time_t when, const char *session, int fd,
		      char *path, size_t size)
{
	struct tm tm;
	char day[64];
	uint8_t buf[65536];
	ssize_t n;
	off_t at = 0;
	int out;

	gmtime_r(&when, &tm);
	strftime(day, sizeof(day), "%Y/%m/%d", &tm);
	snprintf(path, size, "%s/%s", dir, day);
	/* mkdir -p, three levels. */
	for (char *p = path + strlen(dir) + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char keep = *p;

			*p = '\0';
			if (mkdir(path, 02750) < 0 && errno != EEXIST)
				return -1;
			*p = keep;
			if (keep == '\0')
				break;
		}
	}
	snprintf(path + strlen(path), size - strlen(path), "/%s.cast.zst",
		 session);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0)
		return -1;
	while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			close(out);
			return -1;
		}
		at += n;
	}
	return close(out);
}

static int one_recording(struct gen *g, unsigned long i, unsigned long count,
			 uint64_t seed)
{
	uint64_t s = seed * 1000003u + i + 1;
	struct tdm_attr attrs[2];
	struct tdm_cast_header h = { 0 };
	struct tdm_cast *c = NULL;
	struct tdm_chain *ch = NULL;
	char session[40], label[256], path[512];
	unsigned n, seq;
	time_t when;
	int fd, rc;

	rng_next(&s);
	snprintf(session, sizeof(session), "%08x-%04x-4%03x-%04x-%012llx",
		 (unsigned)rng_next(&s), (unsigned)(rng_next(&s) & 0xffff),
		 (unsigned)(rng_next(&s) & 0xfff),
		 (unsigned)(0x8000 | (rng_next(&s) & 0x3fff)),
		 (unsigned long long)(rng_next(&s) & 0xffffffffffffull));
	/* Two years from 2023-01-01, in order, a random hour each. */
	when = (time_t)(1672531200 +
			(long long)(63072000.0 * (double)i / (double)count) +
			pick(&s, 3600));
	attrs[0].key = (char *)"country";
	attrs[0].value = (char *)countries[pick(&s, N_OF(countries))];
	attrs[1].key = (char *)"clearance";
	attrs[1].value = (char *)clearances[pick(&s, N_OF(clearances))];
	h.width = 80;
	h.height = 24;
	h.timestamp = when;
	h.term = "xterm-256color";
	h.session = session;
	h.engineer = engineers[pick(&s, N_OF(engineers))];
	h.target = targets[pick(&s, N_OF(targets))];
	h.address = "10.0.0.5";
	h.bastion = bastions[pick(&s, N_OF(bastions))];
	h.attrs = attrs;
	h.nattrs = 2;
	h.pubkey = tdm_signer_pubkey(g->signer);
	h.version = "bench";

	fd = memfd_create("rec", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = tdm_cast_open_fd(fd, &h, 1000, &c);
	if (rc == 0)
		rc = tdm_chain_attach(c, g->signer, &ch);
	snprintf(label, sizeof(label), "session start: %s@%s", h.engineer,
		 h.target);
	if (rc == 0)
		rc = marker(c, label,
			    json_pack("{s:s,s:s,s:s,s:s,s:i,s:n,"
				      "s:b}",
				      "event", "start", "engineer", h.engineer,
				      "target", h.target, "address", h.address,
				      "port", 22, "command", "tty", 1));
	if (rc == 0)
		rc = tdm_cast_output(c, "Welcome\r\n$ ", 11);
	n = 1 + pick(&s, 8);
	if (g->commands > 0)
		n = g->commands;
	for (seq = 1; rc == 0 && seq <= n; seq++)
		rc = one_command(g, c, &s, seq);
	if (rc == 0 && g->extra != NULL)
		rc = tdm_cast_output(c, g->extra, g->extra_len);
	if (rc == 0)
		rc = marker(c, "session end: engineer left",
			    json_pack("{s:s,s:i,s:s,s:i,s:i}", "event", "end",
				      "status", 0, "why", "engineer left",
				      "bytes_out", 0, "bytes_in", 0));
	if (rc == 0)
		rc = tdm_chain_seal(ch, c);
	if (rc == 0)
		rc = tdm_cast_close(c);
	tdm_chain_free(ch);
	tdm_cast_free(c);
	if (rc == 0)
		rc = write_file(g->dir, when, session, fd, path, sizeof(path));
	close(fd);
	if (rc == 0)
		printf("%s\n", path);
	return rc;
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	rewind(f);
	*out = malloc((size_t)n + 1);
	*len = (size_t)n;
	if (*out == NULL || fread(*out, 1, *len, f) != *len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	struct gen g = { 0 };
	unsigned long count, i;
	uint64_t seed = 1;
	char why[512];
	int a;

	if (argc < 4) {
		fprintf(stderr, "usage: gen_recordings DIR COUNT KEY [--seed N]"
				" [--pace-ms MS] [--output FILE] [--commands N]"
				" [--no-command-every N]"
				" [--command-pad BYTES]\n");
		return 2;
	}
	g.dir = argv[1];
	count = strtoul(argv[2], NULL, 10);
	for (a = 4; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "--seed") == 0)
			seed = strtoull(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--pace-ms") == 0)
			g.pace_ms = (unsigned)strtoul(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--command-pad") == 0)
			g.pad = strtoul(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--commands") == 0)
			g.commands = (unsigned)strtoul(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--no-command-every") == 0)
			g.bare_every = (unsigned)strtoul(argv[a + 1], NULL, 10);
		else if (strcmp(argv[a], "--output") == 0)
			g.extra_output = argv[a + 1];
		else {
			fprintf(stderr, "gen_recordings: unknown option %s\n",
				argv[a]);
			return 2;
		}
	}
	if (g.extra_output != NULL &&
	    read_all(g.extra_output, &g.extra, &g.extra_len) < 0) {
		fprintf(stderr, "gen_recordings: cannot read %s\n",
			g.extra_output);
		return 1;
	}
	if (mkdir(g.dir, 02750) < 0 && errno != EEXIST) {
		fprintf(stderr, "gen_recordings: cannot create %s: %s\n", g.dir,
			strerror(errno));
		return 1;
	}
	if (tdm_signer_load_why(argv[3], &g.signer, why, sizeof(why)) < 0) {
		fprintf(stderr, "gen_recordings: %s\n", why);
		return 1;
	}
	for (i = 0; i < count; i++) {
		if (one_recording(&g, i, count, seed) < 0) {
			fprintf(stderr,
				"gen_recordings: recording %lu failed: "
				"%s\n",
				i, strerror(errno));
			tdm_signer_free(g.signer);
			return 1;
		}
	}
	tdm_signer_free(g.signer);
	free(g.extra);
	return 0;
}
