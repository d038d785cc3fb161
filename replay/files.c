/*
 * files.c: finding and opening recordings for tandem-replay.
 *
 * Directories are searched for *.cast.zst, regular files only, without
 * following symbolic links below the directory named (which may itself be
 * one), and the paths are sorted, so the same tree always gives the same
 * order of output.
 */
#include "replay.h"
#include "err.h"
#include "vt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RP_SUFFIX ".cast.zst"

static int paths_add(struct rp_paths *p, const char *path)
{
	char **grown;
	size_t cap;

	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 64;
		grown = realloc(p->path, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		p->path = grown;
		p->cap = cap;
	}
	p->path[p->n] = strdup(path);
	if (p->path[p->n] == NULL)
		return -1;
	p->n++;
	return 0;
}

/* nftw has no context argument: the walk's list lives here meanwhile,
 * with, when the directory named is a link, how to name what it finds:
 * as given (walk_given) in place of the root walked (walk_root_len). */
static struct rp_paths *walk_out;
static int walk_failed;
static const char *walk_given;
static size_t walk_root_len;

static int walk_one(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	size_t n = strlen(path), sn = strlen(RP_SUFFIX);
	struct tdm_buf named;
	int rc;

	(void)ftw;
	if (type == FTW_DNR) {
		rp_say(stderr,
		       "tandem-replay: cannot read directory %s: "
		       "permission denied (investigators need group "
		       "tandem-audit)",
		       path);
		walk_failed = 1;
		return 0;
	}
	/* Only regular files (FTW_PHYS: links are not followed): opening a
	 * FIFO named like a recording would wait for a writer for ever. */
	if (type != FTW_F || !S_ISREG(st->st_mode) || n < sn ||
	    strcmp(path + n - sn, RP_SUFFIX) != 0)
		return 0;
	if (walk_given == NULL)
		return paths_add(walk_out, path) < 0 ? -1 : 0;
	tdm_buf_init(&named, 0);
	rc = tdm_buf_puts(&named, walk_given) < 0 ||
			     tdm_buf_puts(&named, path + walk_root_len) < 0 ||
			     tdm_buf_putc(&named, '\0') < 0 ||
			     paths_add(walk_out, (const char *)named.data) < 0 ?
		     -1 :
		     0;
	tdm_buf_free(&named);
	return rc;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Walks the directory dir names.  When dir is itself a symbolic link it
 * is walked as "dir/." (which the kernel resolves, so nftw's FTW_PHYS
 * need not be dropped: without it nftw skips a directory it has met
 * through a link, the real one included) and named as given.
 */
static int walk_dir(const char *dir)
{
	struct tdm_buf given, root;
	struct stat lst;
	size_t len = strlen(dir);
	int rc = -1;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	tdm_buf_init(&given, 0);
	tdm_buf_init(&root, 0);
	if (tdm_buf_put(&given, dir, len) < 0 ||
	    tdm_buf_putc(&given, '\0') < 0 || tdm_buf_put(&root, dir, len) < 0)
		goto out;
	if (lstat((const char *)given.data, &lst) == 0 &&
	    S_ISLNK(lst.st_mode)) {
		if (tdm_buf_puts(&root, "/.") < 0)
			goto out;
		walk_given = (const char *)given.data;
		walk_root_len = root.len;
	}
	if (tdm_buf_putc(&root, '\0') < 0)
		goto out;
	rc = nftw((const char *)root.data, walk_one, 32, FTW_PHYS);
out:
	walk_given = NULL;
	tdm_buf_free(&given);
	tdm_buf_free(&root);
	return rc;
}

int rp_paths_collect(char **args, int nargs, struct rp_paths *out)
{
	struct stat st;
	size_t first;
	int i;

	walk_failed = 0;
	for (i = 0; i < nargs; i++) {
		if (stat(args[i], &st) < 0) {
			rp_say(stderr,
			       "tandem-replay: %s: %s (give a "
			       "recording file or a directory of them)",
			       args[i], strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (paths_add(out, args[i]) < 0)
				goto nomem;
			continue;
		}
		first = out->n;
		walk_out = out;
		if (walk_dir(args[i]) < 0)
			goto nomem;
		walk_out = NULL;
		/* Nothing found: out->path may still be NULL. */
		if (out->n > first)
			qsort(out->path + first, out->n - first, sizeof(char *),
			      cmp_path);
	}
	return walk_failed ? -1 : 0;
nomem:
	rp_say(stderr, "tandem-replay: out of memory listing %s", args[i]);
	return -1;
}

int rp_none_found(size_t found, int status)
{
	if (found > 0 || status != 0)
		return status;
	fprintf(stderr, "tandem-replay: no recordings (*.cast.zst) found in "
			"what was given\n");
	return RP_EXIT_ERROR;
}

void rp_paths_free(struct rp_paths *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->path[i]);
	free(p->path);
	p->path = NULL;
	p->n = p->cap = 0;
}

int rp_open(const char *path, int *fd, struct tdm_castread **r)
{
	struct stat st;
	int rc;

	/* O_NONBLOCK: a FIFO must not hold the open until a writer
	 * comes; it is refused below.  (No effect on a regular file.) */
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd < 0) {
		rp_say(stderr, "tandem-replay: cannot open %s: %s%s", path,
		       strerror(errno),
		       errno == EACCES ? " (investigators need group "
					 "tandem-audit)" :
					 "");
		return -1;
	}
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rp_say(stderr,
		       "tandem-replay: %s is not a regular file; give "
		       "a recording (*.cast.zst)",
		       path);
		close(*fd);
		return -1;
	}
	rc = tdm_castread_open(*fd, path, r);
	if (rc < 0) {
		rp_say(stderr, "tandem-replay: cannot read %s: %s", path,
		       tdm_strerror(rc));
		close(*fd);
		return -1;
	}
	return 0;
}

void rp_close(int fd, struct tdm_castread *r)
{
	tdm_castread_free(r);
	if (fd >= 0)
		close(fd);
}

const char *rp_rel_path(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strncmp(path, dir, n) != 0)
		return path;
	path += n;
	while (*path == '/')
		path++;
	return path;
}

void rp_iso_time(int64_t start, uint64_t t_us, char *out, size_t size)
{
	time_t t;
	struct tm tm;

	if (start < 0 || start > RP_LAST_START || t_us / 1000000 > 1e10) {
		snprintf(out, size, "?");
		return;
	}
	t = (time_t)(start + (int64_t)(t_us / 1000000));

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "?");
}

int rp_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

void rp_warn_integrity(const char *path, struct tdm_castread *r)
{
	struct tdm_verify v;

	/* What the file says reaches the terminal escaped (rp_say). */
	if (tdm_castread_problems(r) > 0)
		rp_say(stderr, "tandem-replay: warning: %s (%llu problem%s)",
		       tdm_castread_problem(r),
		       (unsigned long long)tdm_castread_problems(r),
		       tdm_castread_problems(r) == 1 ? "" : "s");
	rp_verdict(path, r, rp_bastion_keys, &v);
	if (v.verdict == TDM_VERDICT_TAMPERED)
		rp_say(stderr, "tandem-replay: warning: %s is TAMPERED: %s",
		       path, v.why);
	else if (v.verdict == TDM_VERDICT_UNSEALED)
		rp_say(stderr,
		       "tandem-replay: warning: %s is UNSEALED: intact up to "
		       "%.6f s",
		       path, (double)v.good_us / 1e6);
}

void rp_note_dropped(const struct tdm_vt_filter *vt)
{
	struct tdm_vt_stats st;

	tdm_vt_stats(vt, &st);
	fprintf(stderr,
		"tandem-replay: left out %llu sequence%s that act "
		"outside the screen (%llu OSC: titles, clipboard, links; "
		"%llu DCS/APC/PM/SOS; %llu queries and modes; %llu 8-bit "
		"C1; %llu controls; %llu ZMODEM); --raw writes them\n",
		(unsigned long long)tdm_vt_dropped(vt),
		tdm_vt_dropped(vt) == 1 ? "" : "s", (unsigned long long)st.osc,
		(unsigned long long)st.strings, (unsigned long long)st.queries,
		(unsigned long long)st.c1, (unsigned long long)st.controls,
		(unsigned long long)st.zmodem);
}
