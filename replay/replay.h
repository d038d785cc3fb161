/*
 * replay.h: what tandem-replay's subcommands share.
 *
 * Each subcommand is one function taking its own argv (argv[0] is the
 * subcommand) and returning the exit status.  Usage errors exit 2.
 */
#ifndef TDM_REPLAY_H
#define TDM_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <regex.h>
#include <sys/stat.h>

#include "castread.h"
#include "relit.h"

#define RP_EXIT_USAGE 2
#define RP_EXIT_ERROR 1
/* 9999-12-31T23:59:59Z: the latest session start a recording may claim. */
#define RP_LAST_START INT64_C(253402300799)

struct tdm_trust;
/* The bastion's public signing key from the policy (--config, or the
 * default one when readable), and the file it came from; NULL when none. */
extern struct tdm_trust *rp_bastion_keys;
extern char rp_bastion_keys_from[4096];
/* When no bastion key is pinned: says on stderr that "sealed" then only
 * means sealed by the key the recording itself names. */
void rp_note_unpinned(void);

/* ---- verify.c ---- */

/*
 * The verdict an investigator is given on a recording: its chain and seal
 * (tdm_castread_verify), then TAMPERED when its file name or directory
 * contradicts its header, or when it is sealed by a key keys does not
 * trust for its bastion and start (keys NULL: the key its header names).
 * Every subcommand judges with this, so none calls sealed what verify
 * calls tampered.
 */
void rp_verdict(const char *path, struct tdm_castread *r,
		const struct tdm_trust *keys, struct tdm_verify *v);

/* ---- files.c ---- */

/* Recording paths: files as given, directories searched for *.cast.zst. */
struct rp_paths {
	char **path;
	size_t n, cap;
};

/* 0, or -1 after saying on stderr what could not be read. */
int rp_paths_collect(char **args, int nargs, struct rp_paths *out);
void rp_paths_free(struct rp_paths *p);
/*
 * status, or RP_EXIT_ERROR after saying so when nothing failed yet and
 * found is 0: reading nothing is more likely a wrong path than an empty
 * archive, and must not pass for a clean answer.
 */
int rp_none_found(size_t found, int status);
/*
 * Opens a recording for reading; on failure says why on stderr (naming the
 * file and the fix) and returns -1.
 */
int rp_open(const char *path, int *fd, struct tdm_castread **r);
void rp_close(int fd, struct tdm_castread *r);
/* path relative to dir (which it is under, as the walk gave it). */
const char *rp_rel_path(const char *dir, const char *path);
/* ISO 8601 UTC of the header's timestamp plus t_us. */
void rp_iso_time(int64_t start, uint64_t t_us, char *out, size_t size);
/* Warns on stderr about what of path could not be read or verified. */
void rp_warn_integrity(const char *path, struct tdm_castread *r);
/* Says on stderr what the terminal-safe filter left out. */
struct tdm_vt_filter;
void rp_note_dropped(const struct tdm_vt_filter *vt);
/* Writes all n bytes to fd; -1 on error. */
int rp_write_all(int fd, const void *p, size_t n);

/* ---- commands.c ---- */

/* The JSON object after the TAB of a marker event, or NULL. */
json_t *rp_marker_json(const struct tdm_event *ev);
/*
 * A recording's decisions, one at a time, each an audit entry (the --json
 * shape, with "verify" and "intact").  open verifies the recording first
 * (rp_verdict with keys, reading its frames without decoding them), so
 * each entry is whole when next gives it and none is kept; -1 after
 * saying why.  session: the header's start, session, engineer, target,
 * bastion and attrs, and the verdict and why.  close warns of what could
 * not be read.
 */
struct rp_decisions {
	const char *path;
	int fd;
	struct tdm_castread *r; /* the second reading: the events */
	const struct tdm_rec_header *h;
	struct tdm_verify v;	 /* the verdict, as rp_verdict gives it */
	struct tdm_verify first; /* the first reading's chain, unjudged */
	json_t *session;
};
int rp_decisions_open(const char *path, const struct tdm_trust *keys,
		      struct rp_decisions *d);
/* 1 and a new reference in *entry, or 0 at the end. */
int rp_decisions_next(struct rp_decisions *d, json_t **entry);
/* -1 when the file changed between the two readings (said on stderr). */
int rp_decisions_close(struct rp_decisions *d);
/* An entry as `commands` prints it: one line for a person, or JSON. */
void rp_entry_print(json_t *e, int as_json);
/* The line for a person, appended to line without its newline. */
void rp_entry_line(json_t *e, struct tdm_buf *line);
/* "sealed", "unsealed" or "tampered", as entries and the index say. */
const char *rp_verdict_name(enum tdm_verdict v);
/* The warning commands gives for a recording not sealed and intact. */
void rp_verdict_warn(const char *path, const char *verdict, const char *why);
/* text and a newline, with control characters shown when it has any. */
void rp_put_line(FILE *f, const char *text);
/* A formatted line, through rp_put_line. */
void rp_say(FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- search.c ---- */

/* What `search` asks for; every part given must match. */
struct rp_filter {
	regex_t command; /* POSIX ERE over "command" */
	int has_command;
	/* Strings one of which any match of command contains (for FTS). */
	struct tdm_relit need;
	const char *engineer, *escort, *target;
	int has_since, has_until;
	int64_t since_us, until_us; /* µs since the epoch, inclusive */
	const char *attr[16];	    /* "K=V" on the engineer */
	size_t nattr;
};

/* When the decision was made: the session's start plus the entry's t. */
int64_t rp_entry_time_us(json_t *entry, json_t *session);
/* 1 when the session's attributes match every --attr of f. */
int rp_filter_attrs_match(const struct rp_filter *f, json_t *session);
/* 1 when entry (of the session) matches f. */
int rp_filter_match(const struct rp_filter *f, json_t *entry, json_t *session);
/* --command's regex over all len bytes of a command: a NUL in it is a
 * character like any other, and hides nothing after it. */
int rp_command_match(const regex_t *re, const char *s, size_t len);

/* ---- index.c ---- */

#define RP_INDEX_NAME ".tandem-index.sqlite"

struct rp_index;

/*
 * Opens the index at db for reading; 0 with *out NULL when there is
 * none, -1 (said on stderr) when it cannot be read.
 */
int rp_index_open_ro(const char *db, struct rp_index **out);
void rp_index_close(struct rp_index *ix);
/* 1 when rel (relative to the index's directory) is indexed as st is. */
int rp_index_fresh(struct rp_index *ix, const char *rel, const struct stat *st);
/*
 * Entries that match f, but for its --attr filters (callers check those
 * against the session), in path order, then in the recording's order.
 * next: 1 with *rel (valid until the next call), *entry and *session
 * (new references), 0 at the end, -1 on error.  With line not NULL,
 * *entry is left NULL and *line is the entry's line for a person (valid
 * until the next call), read without decoding the entry.
 */
int rp_index_query(struct rp_index *ix, const struct rp_filter *f);
int rp_index_next(struct rp_index *ix, const char **rel, json_t **entry,
		  const char **line, json_t **session);

/* ---- subcommands ---- */
int rp_cmd_verify(int argc, char **argv);
int rp_cmd_seal(int argc, char **argv);
int rp_cmd_cat(int argc, char **argv);
int rp_cmd_export(int argc, char **argv);
int rp_cmd_info(int argc, char **argv);
int rp_cmd_commands(int argc, char **argv);
int rp_cmd_play(int argc, char **argv);
int rp_cmd_search(int argc, char **argv);
int rp_cmd_index(int argc, char **argv);

#endif
