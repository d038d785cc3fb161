/*
 * play.c: `tandem-replay play`, the recorded output at its recorded pace.
 *
 * Output goes through the terminal-safe filter (vt.c) unless --raw.  With
 * a terminal on both stdin and stdout, the keyboard drives playback
 * (space pauses and resumes, '.' steps one event while paused, q or Ctrl-C
 * quits) and the terminal is in raw mode meanwhile.  This file must leave
 * the investigator's terminal as it found it on every way out: the end,
 * q, a write error, SIGTERM, SIGHUP, SIGINT, and around SIGTSTP.
 */
#include "replay.h"
#include "buf.h"
#include "vt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Set by signal handlers; the loop notices it when poll returns EINTR. */
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

struct player {
	double speed;
	uint64_t idle_limit_us; /* 0: none */
	bool raw;		/* no filter */
	bool keys;		/* stdin and stdout are terminals */
	bool tty_raw;		/* raw mode is on now */
	struct termios saved;
	bool paused, step, quit;
	uint64_t stopped_us; /* time spent suspended, to skip */
	struct tdm_vt_filter *vt;
	struct tdm_buf out;
	struct sigaction old[5];
};

static const int handled[5] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGTSTP };

static void play_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-replay play FILE [--speed X] [--idle-limit S] "
		"[--raw]\n"
		"\n"
		"Plays what the target sent at the pace it was recorded.\n"
		"  --speed X        X times as fast (default 1; 0.5 is half "
		"speed)\n"
		"  --idle-limit S   no pause longer than S seconds\n"
		"  --raw            keep sequences that act outside the screen "
		"(titles,\n"
		"                   clipboard, queries, links, file transfers); "
		"unsafe\n"
		"                   with recordings you do not trust\n"
		"\n"
		"Keys, when stdin and stdout are a terminal: space pauses and "
		"resumes,\n"
		"'.' shows the next event while paused, q or Ctrl-C quits, "
		"Ctrl-Z\nsuspends.  The terminal is restored however play "
		"ends.\n"
		"\n"
		"When stdout is not a terminal (a pipe, a file), play writes "
		"the same\nfiltered output at the same pace, without keys; "
		"`tandem-replay cat`\nwrites it all at once.\n");
}

static int tty_enter_raw(struct player *p)
{
	struct termios t = p->saved;

	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return -1;
	p->tty_raw = true;
	return 0;
}

static void tty_restore(struct player *p)
{
	if (!p->tty_raw)
		return;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &p->saved);
	p->tty_raw = false;
}

static void signals_install(struct player *p)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll and write return EINTR so the loop sees it. */
	for (i = 0; i < 5; i++)
		sigaction(handled[i], &sa, &p->old[i]);
	signal(SIGPIPE, SIG_IGN);
}

static void signals_restore(struct player *p)
{
	size_t i;

	for (i = 0; i < 5; i++)
		sigaction(handled[i], &p->old[i], NULL);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_us(void);

/*
 * Stops (SIGTSTP, or Ctrl-Z, which raw mode delivers as a key) with the
 * terminal restored; raw again after, and the time stopped is not played
 * as a burst.
 */
static void suspend(struct player *p)
{
	struct sigaction dfl, mine;
	uint64_t t0 = now_us();

	tty_restore(p);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGTSTP, &dfl, &mine);
	raise(SIGTSTP);
	/* Continued. */
	sigaction(SIGTSTP, &mine, NULL);
	if (p->keys && tty_enter_raw(p) < 0)
		p->keys = false;
	p->stopped_us += now_us() - t0;
}

/* Deals with a signal that arrived; true when play must end. */
static bool take_signal(struct player *p)
{
	int sig = got_signal;

	got_signal = 0;
	if (sig == SIGTSTP) {
		suspend(p);
		return false;
	}
	return sig != 0;
}

static void take_keys(struct player *p)
{
	uint8_t keys[64];
	ssize_t n, i;

	n = read(STDIN_FILENO, keys, sizeof(keys));
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			p->keys = false; /* no more keyboard */
		return;
	}
	for (i = 0; i < n; i++) {
		switch (keys[i]) {
		case ' ':
			p->paused = !p->paused;
			break;
		case '.':
			if (p->paused)
				p->step = true;
			break;
		case 'q':
		case 'Q':
		case 0x03: /* Ctrl-C: no SIGINT in raw mode */
		case 0x04:
			p->quit = true;
			break;
		case 0x1a: /* Ctrl-Z: no SIGTSTP in raw mode */
			suspend(p);
			break;
		}
	}
}

/*
 * Waits until the wall clock reaches *deadline (µs, monotonic) while
 * reading keys; pauses move the deadline on.  Returns false to quit.
 */
static bool wait_until(struct player *p, uint64_t *deadline)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	uint64_t now, paused_at = 0;
	int timeout, rc;

	for (;;) {
		if (got_signal && take_signal(p))
			return false;
		if (p->quit)
			return false;
		now = now_us();
		*deadline += p->stopped_us;
		if (paused_at != 0)
			paused_at += p->stopped_us;
		p->stopped_us = 0;
		if (p->paused && paused_at == 0)
			paused_at = now;
		if (!p->paused && paused_at != 0) {
			*deadline += now - paused_at;
			paused_at = 0;
		}
		if (p->step) {
			/* One event now; the clock starts again from here. */
			p->step = false;
			*deadline = now;
			return true;
		}
		if (!p->paused && now >= *deadline)
			return true;
		if (p->paused)
			timeout = -1;
		else if (*deadline - now > 1000000000u)
			timeout = 1000000;
		else
			timeout = (int)((*deadline - now + 999) / 1000);
		if (!p->keys) {
			if (p->paused)
				p->paused = false; /* nothing can resume */
			rc = poll(NULL, 0, timeout);
		} else {
			rc = poll(&pfd, 1, timeout);
			if (rc > 0)
				take_keys(p);
		}
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

/* Writes out everything, riding out signals that do not end play. */
static int write_out(struct player *p, const uint8_t *b, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDOUT_FILENO, b, n);
		if (w < 0 && errno == EINTR) {
			if (got_signal && take_signal(p))
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int show(struct player *p, const struct tdm_event *ev)
{
	if (p->raw)
		return write_out(p, ev->bytes, ev->len);
	tdm_buf_reset(&p->out);
	if (tdm_vt_filter(p->vt, ev->bytes, ev->len, &p->out) < 0)
		return -1;
	return write_out(p, p->out.data, p->out.len);
}

/* Parses a non-negative number of seconds or a factor; -1 if not one. */
static double parse_number(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0)
		return -1;
	return v;
}

static int play_events(struct player *p, struct tdm_castread *r)
{
	struct tdm_event ev;
	uint64_t deadline = now_us(), last_t = 0, gap;
	double wait;

	while (tdm_castread_next(r, &ev) == 1) {
		if (ev.code != 'o')
			continue;
		gap = ev.t_us > last_t ? ev.t_us - last_t : 0;
		last_t = ev.t_us;
		if (p->idle_limit_us > 0 && gap > p->idle_limit_us)
			gap = p->idle_limit_us;
		wait = (double)gap / p->speed;
		deadline += wait > 1e15 ? (uint64_t)1e15 : (uint64_t)wait;
		if (!wait_until(p, &deadline))
			return 1;
		if (show(p, &ev) < 0)
			return -1;
	}
	return 0;
}

int rp_cmd_play(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "speed", required_argument, NULL, 's' },
		{ "idle-limit", required_argument, NULL, 'i' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct player p = { .speed = 1 };
	struct tdm_castread *r;
	double idle;
	int c, fd, rc, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			p.speed = parse_number(optarg);
			if (p.speed <= 0) {
				fprintf(stderr,
					"tandem-replay: --speed \"%s\" "
					"is not a positive number; use e.g. "
					"--speed 2 or --speed 0.5\n",
					optarg);
				return RP_EXIT_USAGE;
			}
			break;
		case 'i':
			idle = parse_number(optarg);
			if (idle < 0 || idle > 1e6) {
				fprintf(stderr,
					"tandem-replay: --idle-limit "
					"\"%s\" is not a number of seconds; "
					"use e.g. --idle-limit 2\n",
					optarg);
				return RP_EXIT_USAGE;
			}
			p.idle_limit_us = (uint64_t)(idle * 1e6);
			break;
		case 'r':
			p.raw = true;
			break;
		case 'h':
			play_usage(stdout);
			return 0;
		default:
			play_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		play_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_open(argv[optind], &fd, &r) < 0)
		return RP_EXIT_ERROR;
	tdm_buf_init(&p.out, 0);
	if (!p.raw && tdm_vt_filter_new(&p.vt) < 0) {
		fprintf(stderr, "tandem-replay: out of memory\n");
		rp_close(fd, r);
		return RP_EXIT_ERROR;
	}
	if (tdm_castread_header(r) == NULL)
		fprintf(stderr,
			"tandem-replay: warning: %s has no readable "
			"header; playing what can be read\n",
			argv[optind]);
	got_signal = 0;
	signals_install(&p);
	p.keys = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
		 tcgetattr(STDIN_FILENO, &p.saved) == 0;
	if (p.keys && tty_enter_raw(&p) < 0)
		p.keys = false;

	rc = play_events(&p, r);
	/* Undo what the recording left switched on (alternate screen...). */
	if (!p.raw) {
		tdm_buf_reset(&p.out);
		if (tdm_vt_finish(p.vt, &p.out) == 0)
			write_out(&p, p.out.data, p.out.len);
	}
	tty_restore(&p);
	signals_restore(&p);
	if (rc < 0 && errno != EPIPE) {
		fprintf(stderr, "tandem-replay: cannot write output: %s\n",
			strerror(errno));
		status = RP_EXIT_ERROR;
	}
	/* Quitting early too: what was shown may be what was altered.
	 * (The rest is checked, not decoded: fast, and a second Ctrl-C
	 * ends it, the handlers being restored.) */
	rp_warn_integrity(argv[optind], r);
	if (!p.raw && tdm_vt_dropped(p.vt) > 0)
		rp_note_dropped(p.vt);
	tdm_vt_filter_free(p.vt);
	tdm_buf_free(&p.out);
	rp_close(fd, r);
	return status;
}
