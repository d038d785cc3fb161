/*
 * sandbox.h: a seccomp allowlist per program.
 *
 * Each program has one table (common/sandbox-PROGRAM.h): one line per
 * allowed system call, with the reason it is needed and, where cheap, the
 * only argument values allowed.  Anything else kills the process.
 */
#ifndef TDM_SANDBOX_H
#define TDM_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

enum tdm_sb_arg {
	TDM_SB_ANY,	  /* allowed */
	TDM_SB_EQ,	  /* allowed when the argument equals value */
	TDM_SB_MASK_ZERO, /* allowed when the argument has none of value's bits */
	TDM_SB_ENOENT_EQ, /* not allowed, but answered "no such file" instead
			     of killing, when the argument equals value */
	TDM_SB_EQ_PID,	  /* allowed when the argument is our own pid */
};

struct tdm_sb_rule {
	const char *syscall;
	enum tdm_sb_arg check;
	unsigned arg;	/* which argument the check looks at */
	uint64_t value; /* EQ: the value; MASK_ZERO: bits that must be 0 */
	const char *why;
};

struct tdm_sb_table {
	const char *program;
	const struct tdm_sb_rule *rules;
	size_t nrules;
};

extern const struct tdm_sb_table tdm_sandbox_recorder;
extern const struct tdm_sb_table tdm_sandbox_escort;
extern const struct tdm_sb_table tdm_sandbox_replay_read;
extern const struct tdm_sb_table tdm_sandbox_replay_write;

/*
 * Sets no_new_privs and dumpable 0, then loads the table's filter.  After
 * this the process can no longer open files, execute programs or make
 * connections.  TANDEM_SANDBOX_LOG=1 in a debug build logs instead of
 * killing, to find a missing entry.
 */
int tdm_sandbox_enter(const struct tdm_sb_table *t);
/* Writes the filter as readable pseudo-code (for the golden test). */
int tdm_sandbox_export(const struct tdm_sb_table *t, int fd);

#endif
