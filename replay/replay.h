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

#include "castread.h"

#define RP_EXIT_USAGE 2
#define RP_EXIT_ERROR 1

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
 * Opens a recording for reading; on failure says why on stderr (naming the
 * file and the fix) and returns -1.
 */
int rp_open(const char *path, int *fd, struct tdm_castread **r);
void rp_close(int fd, struct tdm_castread *r);
/* ISO 8601 UTC of the header's timestamp plus t_us. */
void rp_iso_time(int64_t start, uint64_t t_us, char *out, size_t size);
/* Writes all n bytes to fd; -1 on error. */
int rp_write_all(int fd, const void *p, size_t n);

/* ---- commands.c ---- */

/* The JSON object after the TAB of a marker event, or NULL. */
json_t *rp_marker_json(const struct tdm_event *ev);
/*
 * Appends one audit entry per decision in path to entries (the --json
 * shape, plus "verify" and "intact") and fills v; -1 if it cannot be
 * opened.
 */
int rp_decisions_read(const char *path, json_t *entries,
		      struct tdm_verify *v);

/* ---- subcommands ---- */
int rp_cmd_verify(int argc, char **argv);
int rp_cmd_seal(int argc, char **argv);
int rp_cmd_cat(int argc, char **argv);
int rp_cmd_export(int argc, char **argv);
int rp_cmd_info(int argc, char **argv);
int rp_cmd_commands(int argc, char **argv);
int rp_cmd_play(int argc, char **argv);

#endif
