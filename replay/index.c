/*
 * index.c: `tandem-replay index`, the search index next to the recordings.
 *
 * DIR/.tandem-index.sqlite holds one row per recording (path relative to
 * DIR, size and mtime when read, the header's session, engineer, target,
 * bastion, start and attributes, the verify verdict) and one per decision
 * (time, seq, decision, escort, reason, risks, command, and the whole
 * audit entry as `commands --json` prints it), with an FTS5 trigram index
 * over the commands.  Updates are incremental: a recording is read again
 * only when its path, size or mtime changed, and rows of recordings that
 * are gone are removed.
 *
 * The index is a cache, never the record: search checks each recording's
 * size and mtime against it and reads the recording itself when they
 * differ, applies the same filter to indexed and scanned entries, and the
 * index can always be deleted and rebuilt.  Everything in it came from
 * untrusted recordings and is printed through the same escaping as
 * `commands`.
 */
#include "replay.h"
#include "sign.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define SCHEMA_VERSION "3"
/* Files per transaction: progress survives an interrupted run. */
#define BATCH 500

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS files("
	" id INTEGER PRIMARY KEY,"
	" path TEXT UNIQUE NOT NULL," /* relative to the directory */
	" size INTEGER NOT NULL,"
	" mtime_ns INTEGER NOT NULL,"
	" readable INTEGER NOT NULL," /* 0: could not be opened */
	" session TEXT, engineer TEXT, target TEXT, bastion TEXT,"
	" start INTEGER, attrs TEXT, verify TEXT, why TEXT,"
	" signer BLOB);" /* sealed: the key in the header that sealed it */
	"CREATE INDEX IF NOT EXISTS files_engineer ON files(engineer);"
	"CREATE INDEX IF NOT EXISTS files_target ON files(target);"
	"CREATE TABLE IF NOT EXISTS commands("
	" id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL,"
	" ord INTEGER NOT NULL,"     /* order in the recording */
	" time_us INTEGER NOT NULL," /* µs since the epoch */
	" seq INTEGER, decision TEXT, escort TEXT, reason TEXT,"
	" risks TEXT, command TEXT,"
	" entry TEXT NOT NULL," /* the commands --json object */
	" line TEXT NOT NULL);" /* the commands line for a person */
	"CREATE INDEX IF NOT EXISTS commands_file ON commands(file_id, ord);"
	"CREATE INDEX IF NOT EXISTS commands_time ON commands(time_us);"
	"CREATE INDEX IF NOT EXISTS commands_escort ON commands(escort);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS commands_fts USING "
	" fts5(command, tokenize='trigram');"
	"INSERT OR IGNORE INTO meta VALUES('schema', " SCHEMA_VERSION ");";

struct known {
	char *rel;
	int64_t id, size, mtime_ns;
	int readable, seen;
	/* Sealed by signer, as the header's key judges: whether the keys
	 * the investigator trusts agree is decided when searching. */
	int sealed;
	uint8_t signer[TDM_ED25519_PUB];
	char *bastion;
	int64_t start;
};

struct rp_index {
	sqlite3 *db;
	char *path;
	struct known *file; /* sorted by rel */
	size_t nfile;
	sqlite3_stmt *query;
	/* Rows come file by file: the last file's session object is
	 * shared by its rows instead of being read again for each. */
	int64_t last_file;
	json_t *last_session;
};

static void db_error(struct rp_index *ix, const char *doing)
{
	rp_say(stderr, "tandem-replay: index %s: %s: %s", ix->path, doing,
	       sqlite3_errmsg(ix->db));
}

static int cmp_known(const void *a, const void *b)
{
	return strcmp(((const struct known *)a)->rel,
		      ((const struct known *)b)->rel);
}

static struct known *find_known(struct rp_index *ix, const char *rel)
{
	struct known key = { .rel = (char *)rel };

	if (ix->nfile == 0)
		return NULL;
	return bsearch(&key, ix->file, ix->nfile, sizeof(key), cmp_known);
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 +
	       (int64_t)st->st_mtim.tv_nsec;
}

/* Columns 5 to 8 of a files row: its verdict, signer, bastion, start. */
static int known_seal(struct known *k, sqlite3_stmt *st)
{
	const char *verify = (const char *)sqlite3_column_text(st, 5);
	const char *bastion = (const char *)sqlite3_column_text(st, 7);

	k->sealed = verify != NULL && strcmp(verify, "sealed") == 0;
	k->bastion = NULL;
	k->start = sqlite3_column_int64(st, 8);
	if (!k->sealed)
		return 0;
	/* A sealed row without its signer is not one we wrote: the
	 * recording is read again. */
	if (sqlite3_column_bytes(st, 6) != TDM_ED25519_PUB) {
		k->readable = 0;
		return 0;
	}
	memcpy(k->signer, sqlite3_column_blob(st, 6), TDM_ED25519_PUB);
	k->bastion = strdup(bastion != NULL ? bastion : "?");
	return k->bastion != NULL ? 0 : -1;
}

/* Reads the files table into memory, sorted by path. */
static int load_files(struct rp_index *ix)
{
	sqlite3_stmt *st;
	struct known *grown;
	size_t cap = 0;
	int rc;

	if (sqlite3_prepare_v2(ix->db,
			       "SELECT path, id, size, mtime_ns, "
			       "readable, verify, signer, bastion, start "
			       "FROM files",
			       -1, &st, NULL) != SQLITE_OK) {
		db_error(ix, "reading the list of recordings");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ix->nfile == cap) {
			cap = cap ? cap * 2 : 1024;
			grown = realloc(ix->file, cap * sizeof(*grown));
			if (grown == NULL)
				goto nomem;
			ix->file = grown;
		}
		ix->file[ix->nfile].rel =
			strdup((const char *)sqlite3_column_text(st, 0));
		if (ix->file[ix->nfile].rel == NULL)
			goto nomem;
		ix->file[ix->nfile].id = sqlite3_column_int64(st, 1);
		ix->file[ix->nfile].size = sqlite3_column_int64(st, 2);
		ix->file[ix->nfile].mtime_ns = sqlite3_column_int64(st, 3);
		ix->file[ix->nfile].readable = sqlite3_column_int(st, 4);
		ix->file[ix->nfile].seen = 0;
		if (known_seal(&ix->file[ix->nfile], st) < 0) {
			free(ix->file[ix->nfile].rel);
			goto nomem;
		}
		ix->nfile++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(ix, "reading the list of recordings");
		return -1;
	}
	if (ix->nfile > 0)
		qsort(ix->file, ix->nfile, sizeof(*ix->file), cmp_known);
	return 0;
nomem:
	sqlite3_finalize(st);
	rp_say(stderr, "tandem-replay: out of memory reading index %s",
	       ix->path);
	return -1;
}

void rp_index_close(struct rp_index *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	sqlite3_finalize(ix->query);
	json_decref(ix->last_session);
	sqlite3_close(ix->db);
	for (i = 0; i < ix->nfile; i++) {
		free(ix->file[i].rel);
		free(ix->file[i].bastion);
	}
	free(ix->file);
	free(ix->path);
	free(ix);
}

/* An index is untrusted input too: no triggers or views run for us. */
static void harden(sqlite3 *db)
{
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_busy_timeout(db, 10000);
	/* Sorting a large result spills to a temporary file by default,
	 * which the sandbox does not let a reader create: keep it in
	 * memory. */
	sqlite3_exec(db, "PRAGMA temp_store = MEMORY", NULL, NULL, NULL);
}

static int open_db(const char *path, int flags, struct rp_index **out)
{
	struct rp_index *ix = calloc(1, sizeof(*ix));

	if (ix == NULL || (ix->path = strdup(path)) == NULL) {
		free(ix);
		fprintf(stderr, "tandem-replay: out of memory\n");
		return -1;
	}
	/* The index holds every command of the recordings: made here, it
	 * is readable by its group at most, whatever the umask (SQLite
	 * gives its journal the same mode). */
	if (flags & SQLITE_OPEN_CREATE) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			      0640);

		if (fd >= 0)
			close(fd);
	}
	if (sqlite3_open_v2(path, &ix->db, flags, NULL) != SQLITE_OK) {
		rp_say(stderr, "tandem-replay: cannot open index %s: %s%s",
		       path, ix->db ? sqlite3_errmsg(ix->db) : "out of memory",
		       (flags & SQLITE_OPEN_CREATE) ?
			       " (run index as the recordings' owner, e.g. "
			       "from tandem-verify.service, or give --db "
			       "FILE in a directory you can write)" :
			       "");
		rp_index_close(ix);
		return -1;
	}
	harden(ix->db);
	*out = ix;
	return 0;
}

/* 1 when the index has the schema this program writes. */
static int schema_ok(struct rp_index *ix)
{
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_prepare_v2(ix->db,
			       "SELECT value FROM meta WHERE key = "
			       "'schema'",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL &&
	    strcmp((const char *)sqlite3_column_text(st, 0), SCHEMA_VERSION) ==
		    0)
		ok = 1;
	sqlite3_finalize(st);
	return ok;
}

int rp_index_open_ro(const char *db, struct rp_index **out)
{
	struct rp_index *ix;
	struct stat st;

	*out = NULL;
	if (stat(db, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (open_db(db, SQLITE_OPEN_READONLY, &ix) < 0)
		return -1;
	if (!schema_ok(ix)) {
		fprintf(stderr,
			"tandem-replay: note: %s is not an index this "
			"version reads; searching the recordings instead (run "
			"tandem-replay index to rebuild it)\n",
			db);
		rp_index_close(ix);
		return 0;
	}
	if (load_files(ix) < 0) {
		rp_index_close(ix);
		return -1;
	}
	*out = ix;
	return 0;
}

int rp_index_fresh(struct rp_index *ix, const char *rel, const struct stat *st)
{
	struct known *k = find_known(ix, rel);

	if (k == NULL || !k->readable || k->size != (int64_t)st->st_size ||
	    k->mtime_ns != mtime_ns(st))
		return 0;
	/* The index judged the seal by the header's key: a recording
	 * sealed by a key the investigator does not trust is read again,
	 * and rp_verdict says so as it does without an index. */
	return !k->sealed || rp_bastion_keys == NULL ||
	       tdm_trust_check(rp_bastion_keys, k->signer, k->bastion,
			       k->start);
}

/* ---- queries ------------------------------------------------------------ */

/* The FTS5 query: each literal as a quoted phrase, any one of them. */
static char *fts_query(const struct rp_filter *f)
{
	struct tdm_buf q;
	const char *p;
	size_t i;

	tdm_buf_init(&q, 0);
	for (i = 0; i < f->need.n; i++) {
		if (i > 0)
			tdm_buf_puts(&q, " OR ");
		tdm_buf_putc(&q, '"');
		for (p = f->need.lit[i]; *p != '\0'; p++) {
			if (*p == '"')
				tdm_buf_putc(&q, '"');
			tdm_buf_putc(&q, (uint8_t)*p);
		}
		tdm_buf_putc(&q, '"');
	}
	return (char *)q.data;
}

/*
 * tdm_regexp(command): the search's --command regex inside SQLite, the
 * same test rp_filter_match makes on an entry read from a recording: a
 * decision without a command never matches.
 */
static void sql_regexp(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const regex_t *re = sqlite3_user_data(ctx);
	const unsigned char *text;

	(void)argc;
	text = sqlite3_value_text(argv[0]);
	sqlite3_result_int(
		ctx,
		text != NULL &&
			rp_command_match(re, (const char *)text,
					 (size_t)sqlite3_value_bytes(argv[0])));
}

int rp_index_query(struct rp_index *ix, const struct rp_filter *f)
{
	struct tdm_buf sql;
	char *match = NULL;
	int n = 0, rc = -1;

	tdm_buf_init(&sql, 0);
	tdm_buf_puts(&sql,
		     "SELECT f.path, c.entry, f.start, f.attrs, "
		     "f.verify, f.why, f.id, c.line FROM commands c JOIN files "
		     "f ON f.id = c.file_id WHERE f.readable = 1");
	if (f->engineer != NULL)
		tdm_buf_puts(&sql, " AND f.engineer = ?");
	if (f->target != NULL)
		tdm_buf_puts(&sql, " AND f.target = ?");
	if (f->escort != NULL)
		tdm_buf_puts(&sql, " AND c.escort = ?");
	if (f->has_since)
		tdm_buf_puts(&sql, " AND c.time_us >= ?");
	if (f->has_until)
		tdm_buf_puts(&sql, " AND c.time_us <= ?");
	if (f->need.n > 0) {
		match = fts_query(f);
		tdm_buf_puts(&sql, " AND c.id IN (SELECT rowid FROM "
				   "commands_fts WHERE commands_fts MATCH ?)");
	}
	if (f->has_command) {
		if (sqlite3_create_function_v2(ix->db, "tdm_regexp", 1,
					       SQLITE_UTF8 |
						       SQLITE_DETERMINISTIC,
					       (void *)&f->command, sql_regexp,
					       NULL, NULL, NULL) != SQLITE_OK) {
			db_error(ix, "preparing the search");
			goto out;
		}
		tdm_buf_puts(&sql, " AND tdm_regexp(c.command)");
	}
	tdm_buf_puts(&sql, " ORDER BY f.path, c.ord");
	if (sql.data == NULL || (f->need.n > 0 && match == NULL))
		goto out;
	sqlite3_finalize(ix->query);
	ix->query = NULL;
	json_decref(ix->last_session);
	ix->last_session = NULL;
	if (sqlite3_prepare_v2(ix->db, (const char *)sql.data, -1, &ix->query,
			       NULL) != SQLITE_OK) {
		db_error(ix, "preparing the search");
		goto out;
	}
	if (f->engineer != NULL)
		sqlite3_bind_text(ix->query, ++n, f->engineer, -1,
				  SQLITE_STATIC);
	if (f->target != NULL)
		sqlite3_bind_text(ix->query, ++n, f->target, -1, SQLITE_STATIC);
	if (f->escort != NULL)
		sqlite3_bind_text(ix->query, ++n, f->escort, -1, SQLITE_STATIC);
	if (f->has_since)
		sqlite3_bind_int64(ix->query, ++n, f->since_us);
	if (f->has_until)
		sqlite3_bind_int64(ix->query, ++n, f->until_us);
	if (match != NULL)
		sqlite3_bind_text(ix->query, ++n, match, -1, SQLITE_TRANSIENT);
	rc = 0;
out:
	free(match);
	tdm_buf_free(&sql);
	return rc;
}

static json_t *column_json(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	/* A command may hold a NUL (\u0000), as the recording does. */
	return text != NULL ? json_loads(text, JSON_ALLOW_NUL, NULL) : NULL;
}

static json_t *column_str(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	return text != NULL ? json_string(text) : json_null();
}

int rp_index_next(struct rp_index *ix, const char **rel, json_t **entry,
		  const char **line, json_t **session)
{
	json_t *attrs;
	int rc;

	for (;;) {
		rc = sqlite3_step(ix->query);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW) {
			db_error(ix, "searching");
			return -1;
		}
		if (line != NULL) {
			/* The line alone: no JSON to decode. */
			*entry = NULL;
			*line = (const char *)sqlite3_column_text(ix->query, 7);
			if (*line == NULL)
				continue;
		} else {
			*entry = column_json(ix->query, 1);
			if (!json_is_object(*entry)) {
				json_decref(*entry);
				continue; /* not written by us: ignored */
			}
		}
		if (ix->last_session != NULL &&
		    sqlite3_column_int64(ix->query, 6) == ix->last_file) {
			*session = json_incref(ix->last_session);
		} else {
			attrs = column_json(ix->query, 3);
			*session = json_pack(
				"{s:I,s:o,s:o,s:o}", "start",
				(json_int_t)sqlite3_column_int64(ix->query, 2),
				"attrs", attrs != NULL ? attrs : json_null(),
				"verify", column_str(ix->query, 4), "why",
				column_str(ix->query, 5));
			json_decref(ix->last_session);
			ix->last_session = json_incref(*session);
			ix->last_file = sqlite3_column_int64(ix->query, 6);
		}
		*rel = (const char *)sqlite3_column_text(ix->query, 0);
		if (*rel == NULL || *session == NULL) {
			json_decref(*entry);
			json_decref(*session);
			continue;
		}
		return 1;
	}
}

/* ---- updating ----------------------------------------------------------- */

struct updater {
	struct rp_index *ix;
	sqlite3_stmt *del_fts, *del_cmds, *del_file, *add_file, *add_cmd,
		*add_fts;
	size_t in_batch;
	/* Counts for the summary. */
	size_t seen, read, removed, unreadable, decisions;
};

static int exec(struct rp_index *ix, const char *sql, const char *doing)
{
	if (sqlite3_exec(ix->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_error(ix, doing);
		return -1;
	}
	return 0;
}

static int prepare(struct updater *u)
{
	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{ offsetof(struct updater, del_fts),
		  "DELETE FROM commands_fts "
		  "WHERE rowid IN (SELECT id FROM commands WHERE file_id = "
		  "?)" },
		{ offsetof(struct updater, del_cmds), "DELETE FROM commands "
						      "WHERE file_id = ?" },
		{ offsetof(struct updater, del_file), "DELETE FROM files WHERE "
						      "id = ?" },
		{ offsetof(struct updater, add_file),
		  "INSERT INTO files(path, "
		  "size, mtime_ns, readable, session, engineer, target, "
		  "bastion, start, attrs, verify, why, signer) VALUES(?, ?, ?, "
		  "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" },
		{ offsetof(struct updater, add_cmd),
		  "INSERT INTO commands("
		  "file_id, ord, time_us, seq, decision, escort, reason, "
		  "risks, command, entry, line) VALUES(?, ?, ?, ?, ?, ?, ?, ?, "
		  "?, ?, ?)" },
		{ offsetof(struct updater, add_fts),
		  "INSERT INTO commands_fts("
		  "rowid, command) VALUES(?, ?)" },
	};
	size_t i;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_stmt **st =
			(sqlite3_stmt **)(void *)((char *)u + stmts[i].off);

		if (sqlite3_prepare_v2(u->ix->db, stmts[i].sql, -1, st, NULL) !=
		    SQLITE_OK) {
			db_error(u->ix, "preparing");
			return -1;
		}
	}
	return 0;
}

static void finalize(struct updater *u)
{
	sqlite3_finalize(u->del_fts);
	sqlite3_finalize(u->del_cmds);
	sqlite3_finalize(u->del_file);
	sqlite3_finalize(u->add_file);
	sqlite3_finalize(u->add_cmd);
	sqlite3_finalize(u->add_fts);
}

static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int forget(struct updater *u, int64_t id)
{
	sqlite3_bind_int64(u->del_fts, 1, id);
	sqlite3_bind_int64(u->del_cmds, 1, id);
	sqlite3_bind_int64(u->del_file, 1, id);
	if (run(u->del_fts) < 0 || run(u->del_cmds) < 0 ||
	    run(u->del_file) < 0) {
		db_error(u->ix, "removing a recording's rows");
		return -1;
	}
	return 0;
}

/* Text of a JSON value for a column: strings as they are, else JSON. */
/* The FTS copy of a command: a NUL, which FTS5 would end the text at, is
 * a space.  The trigrams only narrow; the regex decides on the bytes. */
static int bind_fts(sqlite3_stmt *st, int col, json_t *v)
{
	size_t i, n = json_string_length(v);
	char *text;

	if (!json_is_string(v))
		return sqlite3_bind_null(st, col) == SQLITE_OK ? 0 : -1;
	/* Not bound is never an option: the row would not be found. */
	text = malloc(n + 1);
	if (text == NULL)
		return -1;
	memcpy(text, json_string_value(v), n + 1);
	for (i = 0; i < n; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	return sqlite3_bind_text(st, col, text, (int)n, free) == SQLITE_OK ? 0 :
									     -1;
}

static void bind_json(sqlite3_stmt *st, int col, json_t *v)
{
	char *text;

	if (v == NULL || json_is_null(v)) {
		sqlite3_bind_null(st, col);
	} else if (json_is_string(v)) {
		/* All of it: a command may hold a NUL. */
		sqlite3_bind_text(st, col, json_string_value(v),
				  (int)json_string_length(v), SQLITE_TRANSIENT);
	} else {
		text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
					     JSON_ENSURE_ASCII |
					     JSON_ENCODE_ANY |
					     JSON_REAL_PRECISION(15));
		if (text != NULL)
			sqlite3_bind_text(st, col, text, -1, free);
		else
			sqlite3_bind_null(st, col);
	}
}

/* One decision of file_id, the k-th, into commands and its FTS copy. */
static int add_entry(struct updater *u, int64_t file_id, int64_t k, json_t *e,
		     json_t *session)
{
	json_t *seq = json_object_get(e, "seq");
	struct tdm_buf line;
	char *text;

	tdm_buf_init(&line, 0);
	rp_entry_line(e, &line);
	if (line.data == NULL) {
		tdm_buf_free(&line);
		return -1;
	}
	text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER |
				     JSON_ENSURE_ASCII |
				     JSON_REAL_PRECISION(15));
	if (text == NULL) {
		tdm_buf_free(&line);
		return -1;
	}
	sqlite3_bind_int64(u->add_cmd, 1, file_id);
	sqlite3_bind_int64(u->add_cmd, 2, k);
	sqlite3_bind_int64(u->add_cmd, 3, rp_entry_time_us(e, session));
	if (json_is_integer(seq))
		sqlite3_bind_int64(u->add_cmd, 4, json_integer_value(seq));
	bind_json(u->add_cmd, 5, json_object_get(e, "decision"));
	bind_json(u->add_cmd, 6, json_object_get(e, "escort"));
	bind_json(u->add_cmd, 7, json_object_get(e, "reason"));
	bind_json(u->add_cmd, 8, json_object_get(e, "risks"));
	bind_json(u->add_cmd, 9, json_object_get(e, "command"));
	sqlite3_bind_text(u->add_cmd, 10, text, -1, free);
	sqlite3_bind_text(u->add_cmd, 11, (const char *)line.data,
			  (int)line.len, SQLITE_TRANSIENT);
	tdm_buf_free(&line);
	if (run(u->add_cmd) < 0)
		return -1;
	sqlite3_bind_int64(u->add_fts, 1, sqlite3_last_insert_rowid(u->ix->db));
	if (bind_fts(u->add_fts, 2, json_object_get(e, "command")) < 0 ||
	    run(u->add_fts) < 0)
		return -1;
	u->decisions++;
	return 0;
}

/* Reads one new or changed recording into the index.  Its seal is judged
 * by the key its header names; search judges the signer (known_seal). */
static int add_recording(struct updater *u, const char *path, const char *rel,
			 const struct stat *st, struct known *old)
{
	struct rp_decisions d;
	json_t *session, *e;
	int readable, rc = -1;
	int64_t file_id, k = 0;

	readable = rp_decisions_open(path, NULL, &d) == 0;
	if (!readable)
		u->unreadable++;
	session = readable ? d.session : NULL;
	if (old != NULL && forget(u, old->id) < 0)
		goto out;
	sqlite3_bind_text(u->add_file, 1, rel, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(u->add_file, 2, (sqlite3_int64)st->st_size);
	sqlite3_bind_int64(u->add_file, 3, mtime_ns(st));
	sqlite3_bind_int(u->add_file, 4, readable);
	if (readable) {
		bind_json(u->add_file, 5, json_object_get(session, "session"));
		bind_json(u->add_file, 6, json_object_get(session, "engineer"));
		bind_json(u->add_file, 7, json_object_get(session, "target"));
		bind_json(u->add_file, 8, json_object_get(session, "bastion"));
		sqlite3_bind_int64(
			u->add_file, 9,
			json_integer_value(json_object_get(session, "start")));
		bind_json(u->add_file, 10, json_object_get(session, "attrs"));
		bind_json(u->add_file, 11, json_object_get(session, "verify"));
		bind_json(u->add_file, 12, json_object_get(session, "why"));
		if (d.v.verdict == TDM_VERDICT_SEALED)
			sqlite3_bind_blob(u->add_file, 13, d.v.signer,
					  TDM_ED25519_PUB, SQLITE_TRANSIENT);
	}
	if (run(u->add_file) < 0) {
		db_error(u->ix, "adding a recording");
		goto out;
	}
	file_id = sqlite3_last_insert_rowid(u->ix->db);
	while (readable && rp_decisions_next(&d, &e) == 1) {
		if (add_entry(u, file_id, k++, e, session) < 0) {
			json_decref(e);
			db_error(u->ix, "adding decisions");
			goto out;
		}
		json_decref(e);
	}
	u->read++;
	rc = 0;
out:
	/* Changed while read: the run fails, and the next reads it anew. */
	if (readable && rp_decisions_close(&d) < 0)
		rc = -1;
	return rc;
}

static int batch_step(struct updater *u)
{
	if (u->in_batch == 0 &&
	    exec(u->ix, "BEGIN IMMEDIATE", "starting a transaction") < 0)
		return -1;
	if (++u->in_batch < BATCH)
		return 0;
	u->in_batch = 0;
	return exec(u->ix, "COMMIT", "committing");
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The number of rows the query's first column counts; -1 on error. */
static int64_t count_of(struct rp_index *ix, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * Makes db hold this version's tables: a new file gets them, an index an
 * older or newer tandem wrote is rebuilt (it is only a cache of the
 * recordings), and a database that is not a tandem index is refused and
 * left as it is.
 */
static int ready_schema(struct rp_index *ix, const char *db)
{
	int64_t tables = count_of(ix, "SELECT count(*) FROM sqlite_master"),
		ours = count_of(ix, "SELECT count(*) FROM sqlite_master WHERE "
				    "type = 'table' AND name = 'meta'");

	if (tables < 0 || ours < 0) {
		db_error(ix, "reading its tables");
		return -1;
	}
	if (ours == 1 &&
	    count_of(ix, "SELECT count(*) FROM meta WHERE key = "
			 "'schema'") == 1 &&
	    !schema_ok(ix)) {
		fprintf(stderr,
			"tandem-replay: note: %s was made by another "
			"version of tandem; rebuilding it\n",
			db);
		if (exec(ix,
			 "BEGIN; DROP TABLE IF EXISTS commands_fts; "
			 "DROP TABLE IF EXISTS commands; DROP TABLE IF EXISTS "
			 "files; DROP TABLE meta; COMMIT; VACUUM",
			 "removing the old tables") < 0)
			return -1;
	} else if (tables > 0 && !schema_ok(ix)) {
		fprintf(stderr,
			"tandem-replay: %s is an SQLite database but "
			"not a tandem index; it is left as it is (name a new "
			"file with --db FILE; an index whose making was cut "
			"short by an older tandem can be deleted)\n",
			db);
		return -1;
	}
	/* All the tables or none: a run cut short leaves no half index. */
	if (exec(ix, "BEGIN", "creating its tables") < 0)
		return -1;
	if (exec(ix, schema, "creating its tables") < 0 ||
	    exec(ix, "COMMIT", "creating its tables") < 0) {
		sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Brings the index of dir up to date with the recordings under it. */
static int index_dir(const char *dir, const char *db)
{
	struct rp_paths paths = { 0 };
	struct updater u = { 0 };
	struct known *k;
	struct stat st;
	const char *rel;
	char *arg = (char *)dir;
	double t0 = mono_s(), shown = 0;
	int progress = isatty(STDERR_FILENO), rc = -1;
	size_t i;

	if (open_db(db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &u.ix) < 0)
		return -1;
	if (exec(u.ix, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL",
		 "setting it up") < 0 ||
	    ready_schema(u.ix, db) < 0)
		goto out;
	if (load_files(u.ix) < 0 || prepare(&u) < 0)
		goto out;
	if (rp_paths_collect(&arg, 1, &paths) < 0)
		goto out;
	for (i = 0; i < paths.n; i++) {
		if (progress && mono_s() - shown > 0.25) {
			shown = mono_s();
			fprintf(stderr,
				"\rindexing %s: %zu/%zu recordings, "
				"%zu read ",
				dir, i, paths.n, u.read);
		}
		rel = rp_rel_path(dir, paths.path[i]);
		if (stat(paths.path[i], &st) < 0)
			continue; /* gone meanwhile */
		u.seen++;
		k = find_known(u.ix, rel);
		if (k != NULL)
			k->seen = 1;
		if (k != NULL && k->readable &&
		    k->size == (int64_t)st.st_size &&
		    k->mtime_ns == mtime_ns(&st))
			continue;
		if (batch_step(&u) < 0 ||
		    add_recording(&u, paths.path[i], rel, &st, k) < 0)
			goto out;
	}
	for (i = 0; i < u.ix->nfile; i++) {
		if (u.ix->file[i].seen)
			continue;
		if (batch_step(&u) < 0 || forget(&u, u.ix->file[i].id) < 0)
			goto out;
		u.removed++;
	}
	if (u.in_batch > 0 && exec(u.ix, "COMMIT", "committing") < 0)
		goto out;
	u.in_batch = 0;
	if (progress)
		fprintf(stderr, "\r\x1b[K");
	rp_say(stdout,
	       "%s: %zu recordings, %zu read (%zu decisions), %zu removed, "
	       "%zu unreadable, in %.2f s; index %s",
	       dir, u.seen, u.read, u.decisions, u.removed, u.unreadable,
	       mono_s() - t0, db);
	rc = 0;
out:
	if (u.in_batch > 0)
		sqlite3_exec(u.ix->db, "COMMIT", NULL, NULL, NULL);
	finalize(&u);
	rp_index_close(u.ix);
	rp_paths_free(&paths);
	return rc;
}

static void index_usage(FILE *f)
{
	fprintf(f, "usage: tandem-replay index DIR... [--db FILE]\n"
		   "\n"
		   "Brings the search index DIR/" RP_INDEX_NAME " up to date: "
		   "recordings\nnew or changed since the last run (path, size, "
		   "mtime) are read, rows\nof recordings that are gone are "
		   "removed.  `search` uses the index and\nreads any recording "
		   "the index does not cover as it is now.  The index\nis only "
		   "a cache: delete it to rebuild.\n"
		   "  --db FILE   keep the index in FILE (one DIR only), e.g. "
		   "when DIR is\n              not writable\n");
}

int rp_cmd_index(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tdm_buf db;
	const char *db_opt = NULL;
	struct stat st;
	int c, i, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_opt = optarg;
			break;
		case 'h':
			index_usage(stdout);
			return 0;
		default:
			index_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (optind >= argc || (db_opt != NULL && optind != argc - 1)) {
		index_usage(stderr);
		return RP_EXIT_USAGE;
	}
	for (i = optind; i < argc; i++) {
		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr,
				"tandem-replay: %s is not a directory; "
				"index takes the directory recordings are "
				"kept in\n",
				argv[i]);
			status = RP_EXIT_ERROR;
			continue;
		}
		tdm_buf_init(&db, 0);
		if (db_opt != NULL)
			tdm_buf_puts(&db, db_opt);
		else
			tdm_buf_printf(&db, "%s/" RP_INDEX_NAME, argv[i]);
		if (db.data == NULL ||
		    index_dir(argv[i], (const char *)db.data) < 0)
			status = RP_EXIT_ERROR;
		tdm_buf_free(&db);
	}
	return status;
}
