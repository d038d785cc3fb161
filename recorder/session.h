/*
 * session.h: one engineer's session through the bastion, passed explicitly
 * to every recorder module.  There is no other state.
 */
#ifndef TDM_REC_SESSION_H
#define TDM_REC_SESSION_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <termios.h>
#include <time.h>

#include <jansson.h>
#include <libssh/libssh.h>
#include <libssh/callbacks.h>
#include <sys/types.h>

#include "buf.h"
#include "cast.h"
#include "chain.h"
#include "sign.h"
#include "lineedit.h"
#include "policy.h"
#include "risk.h"

/* Longest command line accepted in SSH_ORIGINAL_COMMAND. */
#define SESSION_MAX_COMMAND (64u * 1024u)
/* Bytes queued for the target before the engineer's input is paused. */
#define SESSION_MAX_QUEUED (256u * 1024u)

/*
 * Output for the engineer that their ssh has not taken yet, per stream:
 * the relay never waits on the engineer (relay.c).  While either stream has
 * this much queued, the relay reads neither the target nor the engineer.
 */
#define SESSION_MAX_TO_ENGINEER (256u * 1024u)
/* A session that did not end normally gives up on the engineer's output
 * after this long without progress (the recording is sealed by then). */
#define SESSION_LAST_OUTPUT_MS 5000u

/* The most the relay reads from the engineer at once. */
#define SESSION_READ_CHUNK (64u * 1024u)
/* Stdin of a non-interactive command held for approval. */
#define SESSION_MAX_HELD (8u * 1024u * 1024u)
/* First bytes of that stdin an escort is shown. */
#define SESSION_STDIN_PREVIEW 4096u
/* How much of each part of the stdin the rules read (the rest is named
 * as unchecked): all of a script, at judging speed. */
#define SESSION_STDIN_JUDGED (64u * 1024u)
/* How much of a line not ended yet is kept, to judge what continues it. */
#define SESSION_TAIL_MAX (64u * 1024u)
/* Recent output kept so an escort who attaches sees the screen. */
#define SESSION_SCREEN_KEEP (64u * 1024u)
#define SESSION_MAX_ESCORTS 16

enum pending_kind { PENDING_LINE, PENDING_EOF, PENDING_EXEC, PENDING_INPUT };

/* The one command waiting for an escort. */
struct pending_cmd {
	bool active;
	unsigned seq;
	enum pending_kind kind;
	struct tdm_buf command; /* as shown: the line, or the exec command */
	struct tdm_buf send;	/* exact bytes released on approval */
	uint64_t deadline_ms;
	json_t *risks;
	bool open;	  /* leaves a quote open for the next line */
	char started[32]; /* ISO 8601 UTC */
	/* Without a PTY, the stdin this decision releases: the first
	 * input_len bytes of stdin_held, then the end of input if input_eof.
	 * Fixed when the command becomes pending. */
	size_t input_len;
	bool input_eof;
	/* The stdin it releases leaves the target mid-command (an open
	 * quote, a line ending in a backslash): more than the last line
	 * is kept to judge what follows with. */
	bool input_open;
};

struct escort_conn {
	int fd;
	struct tdm_buf in, out;
	const struct tdm_person *person; /* set once attached */
	bool attached;
	bool closing;	     /* flush out, then close */
	uint64_t closing_ms; /* when closing began */
	uint64_t read_ms;    /* last send, or when out began */
	bool stalled;	     /* dropped for reading nothing */
	/* Live output this escort could not follow (escorts.c). */
	bool behind;		/* skipping until out is read */
	uint64_t gap_bytes;	/* skipped in the current gap */
	uint64_t skipped_bytes; /* skipped before it, not yet marked */
	unsigned gaps;
};

struct session {
	const struct tdm_policy *policy;
	struct tdm_rules *rules; /* deny/flag; patterns compiled when needed */
	const struct tdm_person *engineer;
	const struct tdm_target *target;

	char id[37];   /* UUID, lower case */
	char *command; /* non-interactive command, NULL: a shell */
	bool tty;      /* the engineer's ssh asked for a PTY */
	char term[64];
	unsigned cols, rows;
	time_t started;
	char bastion[256];

	struct tdm_cast *cast;
	char rec_path[PATH_MAX];
	struct tdm_signer *signer; /* the bastion's key: seals the recording */
	struct tdm_chain *chain;

	ssh_session ssh;
	ssh_channel channel;
	/* Set on the channel the moment it exists, so that nothing the
	 * target sends while it is being opened can miss them. */
	struct ssh_channel_callbacks_struct chan_cb;

	/* Relay state. */
	struct tdm_buf to_target; /* released, not yet accepted by ssh */
	/* Output their ssh has not taken: stdout, and stderr without a PTY
	 * (with one, both are the terminal: [0]). */
	struct tdm_buf to_engineer[2];
	bool engineer_gone; /* a write to them failed */
	/* The bastion PTY's modes before the relay made it raw; put back by
	 * session_finish_engineer(), after the last output. */
	struct termios saved_termios;
	bool restore_termios;
	bool in_eof;	   /* the engineer's input ended */
	bool eof_in_unit;  /* ... and a pending part carries that end */
	bool eof_approved; /* ... and an escort released it */
	bool eof_sent;
	bool remote_closed;
	bool remote_eof;
	bool frozen; /* recording failed: relay nothing more */
	bool have_status;
	int exit_status;
	bool stop; /* the engineer went away */
	unsigned long long bytes_out, bytes_in;

	/* The gate. */
	bool line_mode; /* interactive: the line editor is on */
	struct lineedit le;
	struct pending_cmd pending;
	unsigned next_seq;
	struct tdm_buf held; /* typed while a command was pending */
	/* Approved lines that left a quote open: the shell reads the next
	 * line as their continuation, so it is judged together with them. */
	struct tdm_buf carry;
	/* The carry grew past what it holds: the next lines continue text
	 * tandem no longer has whole. */
	bool carry_lost;
	/* An approved line changed which keys edit a line on the target
	 * (its seq; 0: none): lines after it may not run as shown, and
	 * Ctrl-C may no longer drop an open line, so the carry is kept
	 * (carry_maybe_gone) and lines are judged with and without it. */
	unsigned keys_changed;
	bool carry_maybe_gone;
	uint64_t paste_since_ms; /* when the open bracketed paste began */
	/* Without a PTY: stdin not yet released, in the parts escorts
	 * approve (gate.c), and when the newest part began and grew. */
	struct tdm_buf stdin_held;
	/* Released, after its last newline: the start of a line the target
	 * has not ended yet, up to SESSION_TAIL_MAX (tail_lost past it). */
	struct tdm_buf input_tail;
	bool tail_lost;
	uint64_t input_first_ms, input_last_ms;
	bool exec_waiting;   /* the command waits for its stdin's first part */
	bool channel_wanted; /* exec channel opens on approval */
	bool killed;
	char end_why[32];
	/* Supervised raw mode. */
	bool raw;
	uint64_t raw_deadline_ms;
	char last_program[64]; /* program of the last approved command */
	uint64_t last_activity_ms;

	/* What the engineer sees. */
	struct tdm_buf screen;	  /* recent output for attaching escorts */
	struct tdm_buf last_line; /* output since the last newline */

	/* Escorts. */
	int listen_fd;
	char sock_path[PATH_MAX];
	int reaper_fd; /* closing it makes the reaper unlink */
	uid_t escort_uid;
	struct escort_conn *escorts[SESSION_MAX_ESCORTS];
	size_t nescorts;
};

uint64_t session_now_ms(void);
/*
 * Writes to the engineer's stdout (their terminal), or queues what it does
 * not take at once: their stdout and stderr are non-blocking from
 * relay_run() on.  Failure means the engineer left.
 */
void session_to_engineer(struct session *s, const void *p, size_t n);
/* The same for their stderr (the terminal too, with a PTY). */
void session_to_engineer_err(struct session *s, const void *p, size_t n);
/* Either stream has SESSION_MAX_TO_ENGINEER bytes queued. */
bool session_engineer_behind(const struct session *s);
/* Writes what each stream takes now of its queue. */
void session_flush_engineer(struct session *s);
/* Waits for the queues to go out: ms 0, until they do or the engineer is
 * gone; otherwise up to ms without progress.  Then makes the streams
 * blocking again. */
void session_finish_engineer(struct session *s, unsigned ms);
/* Makes the engineer's terminal on the bastion raw, until
 * session_finish_engineer() gives it its modes back. */
void session_raw(struct session *s);
/* A tandem notice on the engineer's screen, keeping their line intact. */
void session_notice(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Records a session event marker (and syslog); see docs/recording.md. */
int session_mark(struct session *s, int prio, json_t *details, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

/* Reports a failure to the engineer: one line on stderr. */
void session_say(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
