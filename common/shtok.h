/*
 * shtok.h: what a POSIX shell would run, seen through its quoting.
 *
 * The escort must not be fooled by a command that says one thing to a
 * reader and another to the shell: `r''m -rf /`, `$'\x72m'`, `sudo env
 * nice rm`, `a=rm; $a -rf /`, `echo cm0= | base64 -d | sh`, `$(…)`.
 * tdm_sh_parts() tokenizes a command line as the shell would, without
 * expanding anything it cannot know, and returns its normalised parts,
 * which the risk rules match (risk.c):
 *
 *  - parts[0] is the whole line normalised: every simple command's words
 *    with quotes and backslashes removed, `$'…'` decoded, joined by one
 *    space, commands joined by their operators (`;`, `&&`, `||`, `|`, `&`);
 *  - then one part per simple command, wherever it is: in a list, a
 *    pipeline, `$(…)`, backticks, `( … )`, `{ …; }`, `<(…)`, a heredoc
 *    body, the string of `sh -c`, `eval`, `su -c`, `ssh HOST CMD`, `watch`;
 *  - redirections are moved to the end of their command, operator and
 *    target as two words (`>/etc/x echo a` is `echo a > /etc/x`);
 *  - wrappers are peeled, each stage its own part: `sudo -u root nice rm x`
 *    gives `sudo -u root nice rm x`, `nice rm x` and `rm x`; leading
 *    assignments likewise (`A=1 rm x` gives `A=1 rm x` and `rm x`);
 *  - a variable assigned earlier in the line is substituted; unquoted
 *    `$IFS` and `${IFS}` separate words; other expansions stay as written.
 *
 * It never runs or expands anything else, and it is bounded: nesting
 * deeper than TDM_SH_MAX_DEPTH, more than TDM_SH_MAX_PARTS parts, parts
 * (or a whole line) longer in all than TDM_SH_MIN_BYTES plus
 * TDM_SH_GROWTH times the line's length (TDM_SH_MAX_BYTES at most), or
 * more bytes copied while reading than TDM_SH_MIN_WORK plus
 * TDM_SH_WORK_GROWTH times the length (TDM_SH_MAX_WORK at most; variables
 * that double at each step, strings re-read inside strings) stop the
 * analysis and set `deep`, which the gate shows as a risk of its own.  The
 * input is untrusted bytes.
 */
#ifndef TDM_SHTOK_H
#define TDM_SHTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDM_SH_MAX_DEPTH 12
#define TDM_SH_MAX_PARTS 512
#define TDM_SH_MAX_BYTES (1u << 20)
#define TDM_SH_MIN_BYTES (64u << 10)
#define TDM_SH_GROWTH 16u
#define TDM_SH_MIN_WORK (1u << 20)
#define TDM_SH_WORK_GROWTH 256u
#define TDM_SH_MAX_WORK (32u << 20)

struct tdm_sh_parts {
	char **v; /* NUL-terminated strings; v[0] is the whole line */
	size_t n;
	bool open; /* a quote, substitution or heredoc is left open:
		       * the next line continues it */
	bool deep; /* limits cut the analysis short */
};

/*
 * Tokenizes len bytes of line.  On success out holds at least one part (the
 * whole line, perhaps empty) and must be freed with tdm_sh_parts_free.
 * Fails only with TDM_ERR_NOMEM, leaving out empty.
 */
int tdm_sh_parts(const uint8_t *line, size_t len, struct tdm_sh_parts *out);
void tdm_sh_parts_free(struct tdm_sh_parts *p);

#endif
