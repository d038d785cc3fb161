/*
 * policy.c: reads the policy file (pinned shape in SPEC.md) into
 * struct tdm_policy.
 *
 * The text is untrusted bytes: every line goes through a bounded tokenizer,
 * every mistake becomes one "FILE:LINE: message" and parsing goes on, and a
 * policy with any mistake is never handed out.  Nothing here may abort,
 * read past len or leak, whatever the bytes (tests/fuzz/fuzz_policy.c).
 * Text from the file is never echoed raw: shown() escapes it first, so a
 * message cannot carry terminal control sequences.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup when built outside make, as for fuzzing */
#endif
#include "policy.h"
#include "buf.h"
#include "err.h"
#include "risk.h"
#include "visible.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A longer line is not something a person wrote. */
#define LINE_MAX_BYTES (64u * 1024)
/* After this many errors the rest is noise; stop and say so. */
#define MAX_ERRORS 1000
/*
 * glibc compiles bounded repetition by copying the repeated part, so
 * "((a{255}){255}){255}" takes seconds and "(a{32767}){32767}" gigabytes;
 * 16000 nodes that can match empty ("a*a*a*...", "((){63}){255}") take
 * gigabytes too; and it parses nested groups recursively.  Patterns over
 * these bounds are refused before regcomp() sees them (regex_problem).
 */
#define REGEX_MAX_NODES 2048ull
#define REGEX_MAX_DEPTH 64
#define REGEX_MAX_ANCHORS 8
/* How much of a value from the file a message quotes. */
#define SHOWN_MAX 80

#define DEFAULT_RECORDINGS "/var/lib/tandem/recordings"
#define DEFAULT_SESSIONS "/run/tandem/sessions"
#define DEFAULT_SIGNING_KEY "/etc/tandem/signing_ed25519"
#define DEFAULT_ESCORT_USER "escort"
#define DEFAULT_APPROVAL_MS (5ul * 60 * 1000)
#define DEFAULT_IDLE_MS (15ul * 60 * 1000)
#define DEFAULT_FLUSH_MS 1000ul
#define DEFAULT_PORT 22u
#define DEFAULT_RAW_LIMIT_MS (10ul * 60 * 1000)

enum section {
	SEC_NONE, /* globals, or after a rule */
	SEC_ENGINEER,
	SEC_ESCORT,
	SEC_TARGET,
	SEC_SKIP /* header was unusable: ignore its fields quietly */
};

/* Single-valued directives, to catch a second occurrence. */
enum slot {
	SL_NONE = -1,
	SL_RECORDINGS,
	SL_SESSIONS,
	SL_SIGNING_KEY,
	SL_ESCORT_USER,
	SL_APPROVAL,
	SL_IDLE,
	SL_FLUSH,
	SL_BUILTIN,
	SL_ADDRESS, /* first per-section slot */
	SL_PORT,
	SL_USER,
	SL_HOST_KEY,
	SL_IDENTITY,
	SL_RAW_LIMIT,
	NSLOTS
};

enum scope {
	SCOPE_GLOBAL,
	SCOPE_SECTION,
	SCOPE_PERSON,
	SCOPE_TARGET,
	SCOPE_RULE
};

struct diag_entry {
	int line;
	size_t seq; /* keeps the sort stable */
	char *msg;
};

/*
 * A string-keyed hash index, so that a policy of many thousands of people
 * is still checked in linear time.  Entries point at strings owned
 * elsewhere that outlive the index.
 */
struct index_entry {
	const char *key;
	const char *owner;
	int line;
};

struct index {
	struct index_entry *slots;
	size_t cap; /* 0 or a power of two, at most half full */
	size_t n;
};

/* A key already given to someone, to refuse it for anyone else. */
struct key_owner {
	char *key;   /* "TYPE BASE64" */
	char *owner; /* "engineer alice" */
};

/* One `targets` entry, checked once every target is known. */
struct target_ref {
	enum section kind;
	size_t person;
	size_t entry;
	int line;
};

struct parser {
	const char *name;
	struct tdm_policy *pol;
	int line;
	int rc; /* sticky TDM_ERR_NOMEM */
	bool globals_done;
	int first_section_line;
	enum section sec;
	size_t sec_idx;
	int seen[NSLOTS]; /* line of the first occurrence, 0: none */
	struct diag_entry *diags;
	size_t ndiags;
	bool too_many;		/* MAX_ERRORS reached: drop the rest */
	bool closing;		/* the final "too many errors" message */
	struct key_owner *keys; /* owns the strings key_index points at */
	size_t nkeys;
	struct index key_index;
	struct index names[3];	 /* engineers, escorts, targets */
	struct index attr_index; /* the current section's attributes */
	struct target_ref *refs;
	size_t nrefs;
	struct tdm_buf shown[3];
	struct tdm_buf tokbuf;
	size_t *tokoff;
	char **tok;
	size_t ntok;
	size_t tokcap;
};

struct directive;
typedef int (*handler_fn)(struct parser *ps, const struct directive *d,
			  char **args, size_t nargs);

struct directive {
	const char *word;
	enum scope scope;
	int slot;
	size_t min_args;
	size_t max_args;
	const char *usage;
	handler_fn handle;
};

static const char *const key_types[] = {
	"ssh-ed25519",
	"ssh-rsa",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
};

/* ---- small helpers ---------------------------------------------------- */

/*
 * Returns arr grown so that element n fits, or NULL (arr still valid).
 * Capacity is implied by n: 4, then doubling at each power of two.
 */
static void *grow(void *arr, size_t n, size_t elem)
{
	size_t cap;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return arr;
	cap = n == 0 ? 4 : n;
	if (n != 0 && cap > SIZE_MAX / 2)
		return NULL;
	if (n != 0)
		cap *= 2;
	if (cap > SIZE_MAX / elem)
		return NULL;
	return realloc(arr, cap * elem);
}

static size_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 29));
}

static const struct index_entry *index_find(const struct index *ix,
					    const char *key)
{
	size_t mask = ix->cap - 1, i;

	if (ix->cap == 0)
		return NULL;
	for (i = hash_str(key) & mask; ix->slots[i].key != NULL;
	     i = (i + 1) & mask)
		if (strcmp(ix->slots[i].key, key) == 0)
			return &ix->slots[i];
	return NULL;
}

static void index_put(struct index_entry *slots, size_t cap,
		      const struct index_entry *e)
{
	size_t i;

	for (i = hash_str(e->key) & (cap - 1); slots[i].key != NULL;
	     i = (i + 1) & (cap - 1))
		;
	slots[i] = *e;
}

/* Adds key, which the caller has checked is not there yet. */
static int index_add(struct index *ix, const char *key, const char *owner,
		     int line)
{
	struct index_entry e = { key, owner, line }, *slots;
	size_t cap, i;

	if (ix->n + 1 > ix->cap / 2) {
		if (ix->cap > SIZE_MAX / 2 / sizeof(*slots))
			return TDM_ERR_NOMEM;
		cap = ix->cap ? ix->cap * 2 : 16;
		slots = calloc(cap, sizeof(*slots));
		if (slots == NULL)
			return TDM_ERR_NOMEM;
		for (i = 0; i < ix->cap; i++)
			if (ix->slots[i].key != NULL)
				index_put(slots, cap, &ix->slots[i]);
		free(ix->slots);
		ix->slots = slots;
		ix->cap = cap;
	}
	index_put(ix->slots, ix->cap, &e);
	ix->n++;
	return 0;
}

static void index_free(struct index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->cap = 0;
	ix->n = 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '.' || c == '_' || c == '-';
}

/* Names end up in authorized_keys command= lines: no quoting may be needed. */
static bool is_name(const char *s)
{
	if (*s == '\0' || *s == '-')
		return false;
	for (; *s != '\0'; s++)
		if (!is_name_char(*s))
			return false;
	return true;
}

static bool has_ctrl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool is_abs_path(const char *s)
{
	return s[0] == '/' && !has_ctrl(s);
}

static const char *section_word(enum section s)
{
	switch (s) {
	case SEC_ENGINEER:
		return "engineer";
	case SEC_ESCORT:
		return "escort";
	case SEC_TARGET:
		return "target";
	case SEC_NONE:
	case SEC_SKIP:
		break;
	}
	return "section";
}

static int nomem(struct parser *ps)
{
	ps->rc = TDM_ERR_NOMEM;
	return TDM_ERR_NOMEM;
}

static char *dup_str(struct parser *ps, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		nomem(ps);
	return d;
}

/*
 * Text from the file made safe to print: quotes, backslashes and anything
 * outside printable ASCII are escaped, and long values are cut short.
 * Each of the three slots holds one value until that slot is used again.
 */
static const char *shown(struct parser *ps, unsigned slot, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	struct tdm_buf *b = &ps->shown[slot];
	size_t i;
	int rc = 0;

	tdm_buf_reset(b);
	for (i = 0; s[i] != '\0' && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == SHOWN_MAX) {
			rc = tdm_buf_puts(b, "...");
			break;
		}
		if (c == '"' || c == '\\') {
			rc = tdm_buf_putc(b, '\\');
			if (rc == 0)
				rc = tdm_buf_putc(b, c);
		} else if (c == '\n') {
			rc = tdm_buf_puts(b, "\\n");
		} else if (c == '\t') {
			rc = tdm_buf_puts(b, "\\t");
		} else if (c < 0x20 || c >= 0x7f) {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			rc = tdm_buf_put(b, esc, sizeof(esc));
		} else {
			rc = tdm_buf_putc(b, c);
		}
	}
	if (rc == 0 && b->data == NULL)
		rc = tdm_buf_put(b, "", 0); /* "" still needs its NUL */
	if (rc < 0) {
		nomem(ps);
		return "?";
	}
	return (const char *)b->data;
}

static int add_diag(struct parser *ps, int line, char *msg)
{
	struct diag_entry *d;

	if (ps->too_many && !ps->closing) {
		free(msg);
		return 0;
	}
	d = grow(ps->diags, ps->ndiags, sizeof(*d));
	if (d == NULL) {
		free(msg);
		return nomem(ps);
	}
	ps->diags = d;
	d[ps->ndiags].line = line;
	d[ps->ndiags].seq = ps->ndiags;
	d[ps->ndiags].msg = msg;
	ps->ndiags++;
	if (ps->ndiags >= MAX_ERRORS)
		ps->too_many = true;
	return 0;
}

static int vdiag(struct parser *ps, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static int vdiag(struct parser *ps, int line, const char *fmt, va_list ap)
{
	struct tdm_buf b;
	va_list aq;
	char *msg;
	int n, rc;

	tdm_buf_init(&b, 0);
	if (line > 0)
		rc = tdm_buf_printf(&b, "%s:%d: ", ps->name, line);
	else
		rc = tdm_buf_printf(&b, "%s: ", ps->name);
	if (rc < 0)
		goto out;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		goto out;
	rc = tdm_buf_reserve(&b, (size_t)n);
	if (rc < 0)
		goto out;
	vsnprintf((char *)b.data + b.len, (size_t)n + 1, fmt, ap);
	b.len += (size_t)n;
	msg = (char *)b.data;
	tdm_buf_init(&b, 0);
	return add_diag(ps, line, msg);
out:
	tdm_buf_free(&b);
	return nomem(ps);
}

/* Records an error at the current line; 0, or TDM_ERR_NOMEM. */
static int perr(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vdiag(ps, ps->line, fmt, ap);
	va_end(ap);
	return rc;
}

static int perr_at(struct parser *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr_at(struct parser *ps, int line, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vdiag(ps, line, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- values ----------------------------------------------------------- */

int tdm_duration_parse(const char *s, unsigned long *ms)
{
	unsigned long n = 0, mult;
	const char *unit;

	if (s == NULL || ms == NULL || !is_digit(*s))
		return TDM_ERR_INVAL;
	for (; is_digit(*s); s++) {
		unsigned long d = (unsigned long)(*s - '0');

		if (n > (ULONG_MAX - d) / 10)
			return TDM_ERR_INVAL;
		n = n * 10 + d;
	}
	unit = s;
	if (strcmp(unit, "") == 0 || strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "m") == 0)
		mult = 60ul * 1000;
	else if (strcmp(unit, "h") == 0)
		mult = 60ul * 60 * 1000;
	else if (strcmp(unit, "d") == 0)
		mult = 24ul * 60 * 60 * 1000;
	else
		return TDM_ERR_INVAL;
	if (n > ULONG_MAX / mult)
		return TDM_ERR_INVAL;
	*ms = n * mult;
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict padded base64, as ssh-keygen writes it; the caller frees *out.
 * Stricter than tdm_b64_decode on purpose: a key has one spelling here, so
 * the duplicate-key check compares like with like.
 */
static int b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s), i, o = 0, pad = 0;
	uint8_t *bytes;

	if (n == 0 || n % 4 != 0)
		return TDM_ERR_INVAL;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	for (i = 0; i < n - pad; i++)
		if (b64_value((unsigned char)s[i]) < 0)
			return TDM_ERR_INVAL;
	bytes = malloc(n / 4 * 3);
	if (bytes == NULL)
		return TDM_ERR_NOMEM;
	for (i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t k;

		for (k = 0; k < 4; k++) {
			int d = i + k < n - pad ?
					b64_value((unsigned char)s[i + k]) :
					0;

			v = v << 6 | (uint32_t)d;
		}
		bytes[o++] = (uint8_t)(v >> 16);
		if (i + 4 < n || pad < 2)
			bytes[o++] = (uint8_t)(v >> 8);
		if (i + 4 < n || pad < 1)
			bytes[o++] = (uint8_t)v;
	}
	*out = bytes;
	*outlen = o;
	return 0;
}

static bool known_key_type(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(type, key_types[i]) == 0)
			return true;
	return false;
}

/* The next SSH wire string of p[*at, n): its start and length, or false. */
static bool wire_string(const uint8_t *p, size_t n, size_t *at,
			const uint8_t **str, size_t *len)
{
	uint32_t l;

	if (n - *at < 4)
		return false;
	l = (uint32_t)p[*at] << 24 | (uint32_t)p[*at + 1] << 16 |
	    (uint32_t)p[*at + 2] << 8 | (uint32_t)p[*at + 3];
	if (l > n - *at - 4)
		return false;
	*str = p + *at + 4;
	*len = l;
	*at += 4 + (size_t)l;
	return true;
}

/*
 * True when the key data after its type string (p[at, n)) is whole: the
 * fields its type has (RFC 4253, 5656; OpenSSH's PROTOCOL.u2f), of the
 * right sizes, and nothing after them.  A key cut short passes a look at
 * its type alone, and then no connection can ever use it.
 */
static bool key_blob_whole(const char *type, const uint8_t *p, size_t n,
			   size_t at)
{
	const uint8_t *f;
	size_t len, want = 0;
	const char *curve = NULL;

	if (strcmp(type, "ssh-ed25519") == 0 ||
	    strcmp(type, "sk-ssh-ed25519@openssh.com") == 0) {
		if (!wire_string(p, n, &at, &f, &len) || len != 32)
			return false;
	} else if (strcmp(type, "ssh-rsa") == 0) {
		/* e, then n: non-empty integers, n of at least 1024 bits. */
		if (!wire_string(p, n, &at, &f, &len) || len == 0 ||
		    !wire_string(p, n, &at, &f, &len) || len < 128)
			return false;
	} else {
		if (strstr(type, "nistp256") != NULL)
			curve = "nistp256", want = 65;
		else if (strstr(type, "nistp384") != NULL)
			curve = "nistp384", want = 97;
		else
			curve = "nistp521", want = 133;
		if (!wire_string(p, n, &at, &f, &len) || len != strlen(curve) ||
		    memcmp(f, curve, len) != 0 ||
		    !wire_string(p, n, &at, &f, &len) || len != want ||
		    f[0] != 0x04)
			return false;
	}
	/* A security key's relying party ("ssh:" by default). */
	if (strncmp(type, "sk-", 3) == 0 &&
	    (!wire_string(p, n, &at, &f, &len) || len == 0))
		return false;
	return at == n;
}

/*
 * Checks "TYPE BASE64 [COMMENT...]" and sets *out to it as one string.
 * Returns 0 (with *out NULL when the mistake was reported) or
 * TDM_ERR_NOMEM.  what names the field in messages ("key", "host-key").
 */
static int parse_key(struct parser *ps, const char *what, char **args,
		     size_t nargs, char **out)
{
	const char *type = args[0], *b64 = args[1];
	uint8_t *blob = NULL;
	size_t bloblen = 0, tlen = strlen(type), i;
	uint32_t slen;
	struct tdm_buf b;
	int rc;

	*out = NULL;
	tdm_buf_init(&b, 0);
	if (!known_key_type(type)) {
		rc = perr(ps,
			  "unknown %s type \"%s\"; use ssh-ed25519, "
			  "ssh-rsa, ecdsa-sha2-nistp256/384/521, "
			  "sk-ssh-ed25519@openssh.com or "
			  "sk-ecdsa-sha2-nistp256@openssh.com, as in the .pub "
			  "file",
			  what, shown(ps, 0, type));
		goto out;
	}
	rc = b64_decode(b64, &blob, &bloblen);
	if (rc == TDM_ERR_NOMEM) {
		rc = nomem(ps);
		goto out;
	}
	if (rc < 0) {
		rc = perr(ps,
			  "%s \"%s\" is not valid base64; paste the whole "
			  "line of the .pub file",
			  what, shown(ps, 0, b64));
		goto out;
	}
	if (bloblen < 4)
		goto not_a_key;
	slen = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 |
	       (uint32_t)blob[2] << 8 | (uint32_t)blob[3];
	if (slen > bloblen - 4)
		goto not_a_key;
	if (slen != tlen || memcmp(blob + 4, type, tlen) != 0) {
		rc = perr(ps,
			  "%s data is not a %s key; paste the whole line "
			  "of the .pub file, type and data together",
			  what, shown(ps, 0, type));
		goto out;
	}
	if (!key_blob_whole(type, blob, bloblen, 4 + (size_t)slen))
		goto not_a_key;
	for (i = 2; i < nargs; i++) {
		if (has_ctrl(args[i])) {
			rc = perr(ps,
				  "%s comment \"%s\" contains control "
				  "characters; remove them",
				  what, shown(ps, 0, args[i]));
			goto out;
		}
	}
	rc = tdm_buf_puts(&b, type);
	for (i = 1; i < nargs && rc == 0; i++) {
		rc = tdm_buf_putc(&b, ' ');
		if (rc == 0)
			rc = tdm_buf_puts(&b, args[i]);
	}
	if (rc < 0) {
		rc = nomem(ps);
		goto out;
	}
	*out = (char *)b.data;
	tdm_buf_init(&b, 0);
	goto out;
not_a_key:
	rc = perr(ps,
		  "%s data is not an SSH public key; paste the whole "
		  "line of the .pub file",
		  what);
out:
	free(blob);
	tdm_buf_free(&b);
	return rc;
}

/*
 * Splits "K=V" into a fresh attribute.  Returns 0 (attr->key NULL when the
 * mistake was reported) or TDM_ERR_NOMEM.
 */
static int parse_attr(struct parser *ps, const char *what, const char *kv,
		      struct tdm_attr *attr)
{
	const char *eq = strchr(kv, '=');
	size_t klen;

	attr->key = NULL;
	attr->value = NULL;
	if (eq != NULL && eq != kv && eq[1] == '\0')
		return perr(ps,
			    "%s \"%s\" has no value after '='; write "
			    "e.g. %.*s=secret",
			    what, shown(ps, 0, kv), (int)(eq - kv), kv);
	if (eq == NULL || eq == kv)
		return perr(ps,
			    "%s \"%s\" is not KEY=VALUE; write e.g. "
			    "clearance=secret",
			    what, shown(ps, 0, kv));
	klen = (size_t)(eq - kv);
	attr->key = strndup(kv, klen);
	if (attr->key == NULL)
		return nomem(ps);
	if (!is_name(attr->key) || has_ctrl(eq + 1)) {
		free(attr->key);
		attr->key = NULL;
		return perr(ps,
			    "%s \"%s\" is not KEY=VALUE with a plain key "
			    "(letters, digits, '.', '_', '-') and a printable "
			    "value; fix it",
			    what, shown(ps, 0, kv));
	}
	attr->value = strdup(eq + 1);
	if (attr->value == NULL) {
		free(attr->key);
		attr->key = NULL;
		return nomem(ps);
	}
	return 0;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t corner = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = corner + (a[i - 1] == b[j - 1] ? 0 : 1);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			corner = up;
		}
	}
	return row[lb];
}

/* Parses {m}, {m,}, {m,n} or {,n} at re[*i] == '{'; 0 when it is none. */
static unsigned long long regex_bound(const char *re, size_t *i)
{
	unsigned long long m = 0, n = 0;
	bool has_m = false, has_n = false, comma = false;
	size_t j = *i + 1;

	for (; is_digit(re[j]); j++, has_m = true)
		if (m <= REGEX_MAX_NODES)
			m = m * 10 + (unsigned long long)(re[j] - '0');
	if (re[j] == ',') {
		comma = true;
		for (j++; is_digit(re[j]); j++, has_n = true)
			if (n <= REGEX_MAX_NODES)
				n = n * 10 + (unsigned long long)(re[j] - '0');
	}
	if (re[j] != '}' || (!has_m && !has_n))
		return 0;
	*i = j;
	if (has_n)
		return n > m ? n : m;
	return comma ? m + 1 : m;
}

/* Skips a bracket expression starting at re[*i] == '['. */
static void regex_skip_bracket(const char *re, size_t *i)
{
	size_t j = *i + 1;

	if (re[j] == '^')
		j++;
	if (re[j] == ']')
		j++;
	while (re[j] != '\0' && re[j] != ']') {
		if (re[j] == '[' && (re[j + 1] == ':' || re[j + 1] == '.' ||
				     re[j + 1] == '=')) {
			char kind = re[j + 1];

			for (j += 2; re[j] != '\0'; j++)
				if (re[j] == kind && re[j + 1] == ']')
					break;
			if (re[j] == '\0')
				break;
			j += 2;
			continue;
		}
		j++;
	}
	*i = re[j] == '\0' ? j - 1 : j;
}

/* Adds n nodes to a total; true when it goes over the bound. */
static bool regex_add(unsigned long long *sum, unsigned long long n)
{
	*sum += n;
	return *sum > REGEX_MAX_NODES;
}

/* ^, $ and glibc's \b \B \< \> \` \' match a position, not a character. */
static bool regex_is_anchor(const char *re, size_t i)
{
	if (re[i] == '^' || re[i] == '$')
		return true;
	return re[i] == '\\' && re[i + 1] != '\0' &&
	       strchr("bB<>`'", re[i + 1]) != NULL;
}

static const char regex_too_big[] =
	"is too complex (groups nested too deep, or too many parts once "
	"repetition counts are applied); simplify it";
static const char regex_many_anchors[] =
	"has more than 8 anchors (^, $, \\b, \\<, \\>), which glibc "
	"compiles in exponential time; use fewer";
static const char regex_backref[] =
	"refers back to a group (\\1 to \\9), which POSIX extended "
	"expressions do not have and glibc can take exponential time to "
	"match; write the text out instead";
static const char regex_anchor_repeated[] =
	"repeats a group that holds an anchor (^, $, \\b, \\<, \\>), which "
	"glibc compiles in exponential time; move the anchor out of the "
	"repeated group";

/*
 * Says why re must not reach regcomp(), or NULL.  It estimates the nodes
 * glibc would build: every atom and operator counts, and a repeated part
 * once per copy, nesting included.  Operators count because nodes that can
 * match empty make glibc's closure tables grow with the square of their
 * number.  Anchors make glibc's closure computation exponential: inside
 * a repeated group ("(^|$)*" written 16 times takes minutes) they are
 * refused outright; elsewhere ("(^|$)" written 80 times) they are limited
 * in number, and each one shrinks the node budget, as every anchor
 * multiplies the closure work of the nodes around it.
 */
static const char *regex_problem(const char *re)
{
	struct {
		unsigned long long sum, last;
		bool anchor, last_anchor;
	} st[REGEX_MAX_DEPTH + 1];
	unsigned long long item, mult;
	size_t depth = 0, anchors = 0, i;
	bool anchor;

	memset(&st[0], 0, sizeof(st[0]));
	for (i = 0; re[i] != '\0'; i++) {
		item = 1;
		anchor = regex_is_anchor(re, i);
		if (anchor && ++anchors > REGEX_MAX_ANCHORS)
			return regex_many_anchors;
		switch (re[i]) {
		case '\\':
			if (re[i + 1] >= '1' && re[i + 1] <= '9')
				return regex_backref;
			if (re[i + 1] != '\0')
				i++;
			break;
		case '[':
			regex_skip_bracket(re, &i);
			break;
		case '(':
			if (depth == REGEX_MAX_DEPTH)
				return regex_too_big;
			depth++;
			memset(&st[depth], 0, sizeof(st[depth]));
			st[depth].sum = 1;
			continue;
		case ')':
			if (depth == 0)
				break;
			item = st[depth].sum + 1;
			anchor = st[depth].anchor;
			depth--;
			break;
		case '{':
			mult = regex_bound(re, &i);
			if (mult == 0)
				break;
			if (st[depth].last_anchor)
				return regex_anchor_repeated;
			/* x{m,n} becomes up to n copies of x, plus one node. */
			st[depth].sum -= st[depth].last;
			st[depth].last = st[depth].last * mult + 1;
			if (regex_add(&st[depth].sum, st[depth].last))
				return regex_too_big;
			continue;
		case '+':
			if (st[depth].last_anchor)
				return regex_anchor_repeated;
			/* x+ becomes xx*. */
			if (regex_add(&st[depth].sum, st[depth].last + 1))
				return regex_too_big;
			st[depth].last = st[depth].last * 2 + 1;
			continue;
		case '*':
		case '?':
			if (st[depth].last_anchor)
				return regex_anchor_repeated;
			if (regex_add(&st[depth].sum, 1))
				return regex_too_big;
			st[depth].last += 1;
			continue;
		case '|':
			if (regex_add(&st[depth].sum, 1))
				return regex_too_big;
			st[depth].last = 0;
			st[depth].last_anchor = false;
			continue;
		default:
			break;
		}
		if (regex_add(&st[depth].sum, item))
			return regex_too_big;
		st[depth].last = item;
		st[depth].last_anchor = anchor;
		st[depth].anchor |= anchor;
	}
	for (; depth > 0; depth--)
		if (regex_add(&st[depth - 1].sum, st[depth].sum))
			return regex_too_big;
	if (st[0].sum * st[0].sum * (anchors + 1) >
	    REGEX_MAX_NODES * REGEX_MAX_NODES)
		return regex_too_big;
	return NULL;
}

/* Reports a pattern regcomp() refuses; 0 or TDM_ERR_NOMEM. */
static int check_regex(struct parser *ps, const char *re)
{
	const char *problem;
	regex_t compiled;
	char why[128];
	int rc;

	if (*re == '\0')
		return perr(ps, "empty regular expression would match every "
				"command; write the pattern to match");
	problem = regex_problem(re);
	if (problem != NULL)
		return perr(ps, "regular expression \"%s\" %s",
			    shown(ps, 0, re), problem);
	rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &compiled, why, sizeof(why));
		return perr(ps,
			    "bad regular expression \"%s\": %s; fix the "
			    "pattern (POSIX extended, as for grep -E)",
			    shown(ps, 0, re), why);
	}
	regfree(&compiled);
	return 0;
}

/* ---- sections --------------------------------------------------------- */

static struct tdm_person *cur_person(struct parser *ps)
{
	if (ps->sec == SEC_ENGINEER)
		return &ps->pol->engineers[ps->sec_idx];
	return &ps->pol->escorts[ps->sec_idx];
}

static struct tdm_target *cur_target(struct parser *ps)
{
	return &ps->pol->targets[ps->sec_idx];
}

static const char *cur_name(struct parser *ps)
{
	if (ps->sec == SEC_TARGET)
		return cur_target(ps)->name;
	return cur_person(ps)->name;
}

static const struct {
	enum slot slot;
	const char *field;
	const char *add;
} required_fields[] = {
	{ SL_ADDRESS, "address", "address HOST" },
	{ SL_USER, "user", "user NAME" },
	{ SL_HOST_KEY, "host-key",
	  "host-key TYPE BASE64 (ssh-keyscan shows it)" },
	{ SL_IDENTITY, "identity", "identity /etc/tandem/keys/NAME" },
};

/* Closes the current section: a target must have its required fields. */
static int end_section(struct parser *ps)
{
	struct tdm_target *t;
	size_t i, nreq = sizeof(required_fields) / sizeof(required_fields[0]);
	int rc;

	if (ps->sec == SEC_TARGET) {
		t = cur_target(ps);
		for (i = 0; i < nreq; i++) {
			if (ps->seen[required_fields[i].slot] != 0)
				continue;
			rc = perr_at(ps, t->line,
				     "target %s has no %s; add: %s",
				     shown(ps, 0, t->name),
				     required_fields[i].field,
				     required_fields[i].add);
			if (rc < 0)
				return rc;
		}
	}
	ps->sec = SEC_NONE;
	for (i = SL_ADDRESS; i < NSLOTS; i++)
		ps->seen[i] = 0;
	index_free(&ps->attr_index);
	return 0;
}

/* The index of names for a kind of section. */
static struct index *names_of(struct parser *ps, enum section kind)
{
	return &ps->names[kind == SEC_ENGINEER ? 0 :
			  kind == SEC_ESCORT   ? 1 :
						 2];
}

/*
 * Opens a section.  A bad or duplicate name is reported but the section is
 * still kept, so its fields are checked and references to it resolve.
 */
static int h_section(struct parser *ps, const struct directive *d, char **args,
		     size_t nargs)
{
	enum section kind = strcmp(d->word, "engineer") == 0 ? SEC_ENGINEER :
			    strcmp(d->word, "escort") == 0   ? SEC_ESCORT :
							       SEC_TARGET;
	const char *name = args[0];
	const struct index_entry *first;
	char *copy;
	int rc = 0;

	(void)nargs;
	if (!is_name(name))
		rc = perr(ps,
			  "bad %s name \"%s\"; use letters, digits, '.', "
			  "'_' and '-', not starting with '-'",
			  d->word, shown(ps, 0, name));
	first = index_find(names_of(ps, kind), name);
	if (rc == 0 && first != NULL)
		rc = perr(ps,
			  "duplicate %s %s (first at line %d); merge "
			  "them or rename one",
			  d->word, shown(ps, 0, name), first->line);
	if (rc < 0)
		return rc;
	copy = dup_str(ps, name);
	if (copy == NULL)
		return TDM_ERR_NOMEM;
	if (kind == SEC_TARGET) {
		struct tdm_target *t =
			grow(ps->pol->targets, ps->pol->ntargets, sizeof(*t));

		if (t == NULL)
			goto fail;
		ps->pol->targets = t;
		t += ps->pol->ntargets;
		memset(t, 0, sizeof(*t));
		t->name = copy;
		t->port = DEFAULT_PORT;
		t->raw_limit_ms = DEFAULT_RAW_LIMIT_MS;
		t->line = ps->line;
		ps->sec_idx = ps->pol->ntargets++;
	} else {
		struct tdm_person **arr = kind == SEC_ENGINEER ?
						  &ps->pol->engineers :
						  &ps->pol->escorts;
		size_t *n = kind == SEC_ENGINEER ? &ps->pol->nengineers :
						   &ps->pol->nescorts;
		struct tdm_person *p = grow(*arr, *n, sizeof(*p));

		if (p == NULL)
			goto fail;
		*arr = p;
		p += *n;
		memset(p, 0, sizeof(*p));
		p->name = copy;
		p->line = ps->line;
		ps->sec_idx = (*n)++;
	}
	ps->sec = kind;
	/* The first of duplicates stays the one later messages point at. */
	if (first == NULL &&
	    index_add(names_of(ps, kind), copy, NULL, ps->line) < 0)
		return nomem(ps);
	return 0;
fail:
	free(copy);
	return nomem(ps);
}

/* ---- globals ---------------------------------------------------------- */

static int set_string(struct parser *ps, char **field, const char *value)
{
	char *copy = dup_str(ps, value);

	if (copy == NULL)
		return TDM_ERR_NOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int h_path(struct parser *ps, const struct directive *d, char **args,
		  size_t nargs)
{
	char **field;

	(void)nargs;
	if (!is_abs_path(args[0]))
		return perr(ps,
			    "%s \"%s\" is not an absolute path; write the "
			    "full path starting with /",
			    d->word, shown(ps, 0, args[0]));
	switch (d->slot) {
	case SL_RECORDINGS:
		field = &ps->pol->recordings;
		break;
	case SL_SESSIONS:
		/* DIR/SESSION-ID.sock must fit a socket address. */
		if (strlen(args[0]) > TDM_SESSIONS_PATH_MAX)
			return perr(ps,
				    "sessions \"%s\" is %zu bytes long; the "
				    "sockets in it need a path of at most %u, "
				    "e.g. /run/tandem/sessions",
				    shown(ps, 0, args[0]), strlen(args[0]),
				    TDM_SESSIONS_PATH_MAX);
		field = &ps->pol->sessions;
		break;
	default:
		field = &ps->pol->signing_key;
		break;
	}
	return set_string(ps, field, args[0]);
}

static int h_escort_user(struct parser *ps, const struct directive *d,
			 char **args, size_t nargs)
{
	(void)nargs;
	if (!is_name(args[0]))
		return perr(ps,
			    "%s \"%s\" is not a user name; use letters, "
			    "digits, '.', '_' and '-'",
			    d->word, shown(ps, 0, args[0]));
	return set_string(ps, &ps->pol->escort_user, args[0]);
}

/* A duration for d->word; 0 with *ms set, 1 when reported, or NOMEM. */
static int parse_duration(struct parser *ps, const struct directive *d,
			  const char *s, unsigned long *ms)
{
	unsigned long v;
	int rc;

	if (tdm_duration_parse(s, &v) < 0) {
		rc = perr(ps,
			  "bad duration \"%s\" for %s; write a whole "
			  "number with ms, s, m, h or d, e.g. 90s or 10m",
			  shown(ps, 0, s), d->word);
		return rc < 0 ? rc : 1;
	}
	if (v == 0) {
		rc = perr(ps, "%s must be more than 0; write e.g. 10m",
			  d->word);
		return rc < 0 ? rc : 1;
	}
	/* Beyond that, deadlines computed from it would wrap around and
	 * expire at once. */
	if (v > TDM_DURATION_MAX_MS) {
		rc = perr(ps,
			  "%s \"%s\" is more than a year; write at most "
			  "365d",
			  d->word, shown(ps, 0, s));
		return rc < 0 ? rc : 1;
	}
	*ms = v;
	return 0;
}

static int h_duration(struct parser *ps, const struct directive *d, char **args,
		      size_t nargs)
{
	unsigned long *field;
	int rc;

	(void)nargs;
	switch (d->slot) {
	case SL_APPROVAL:
		field = &ps->pol->approval_timeout_ms;
		break;
	case SL_IDLE:
		field = &ps->pol->idle_timeout_ms;
		break;
	default:
		field = &ps->pol->flush_interval_ms;
		break;
	}
	rc = parse_duration(ps, d, args[0], field);
	return rc < 0 ? rc : 0;
}

static int h_builtin(struct parser *ps, const struct directive *d, char **args,
		     size_t nargs)
{
	(void)nargs;
	if (strcmp(args[0], "on") == 0)
		ps->pol->builtin_rules = true;
	else if (strcmp(args[0], "off") == 0)
		ps->pol->builtin_rules = false;
	else
		return perr(ps, "%s takes on or off, not \"%s\"", d->word,
			    shown(ps, 0, args[0]));
	return 0;
}

/* ---- person fields ---------------------------------------------------- */

static int owner_of(struct parser *ps, char **out)
{
	struct tdm_buf b;

	tdm_buf_init(&b, 0);
	if (tdm_buf_printf(&b, "%s %s", section_word(ps->sec),
			   shown(ps, 0, cur_name(ps))) < 0) {
		tdm_buf_free(&b);
		return nomem(ps);
	}
	*out = (char *)b.data;
	return 0;
}

/*
 * Remembers who holds key ("TYPE BASE64 ..."); a key already held by
 * anyone, this person included, is reported here at its second occurrence.
 */
static int claim_key(struct parser *ps, const char *key)
{
	const char *sp = strchr(key, ' ');
	size_t n;
	char *bare, *owner = NULL;
	const struct index_entry *held;
	struct key_owner *k;

	sp = sp == NULL ? NULL : strchr(sp + 1, ' ');
	n = sp == NULL ? strlen(key) : (size_t)(sp - key);
	bare = strndup(key, n);
	if (bare == NULL)
		return nomem(ps);
	held = index_find(&ps->key_index, bare);
	if (held != NULL) {
		free(bare);
		return perr(ps,
			    "key already belongs to %s (line %d); give "
			    "each person their own key",
			    held->owner, held->line);
	}
	if (owner_of(ps, &owner) < 0)
		goto fail;
	k = grow(ps->keys, ps->nkeys, sizeof(*k));
	if (k == NULL)
		goto fail;
	ps->keys = k;
	k[ps->nkeys].key = bare;
	k[ps->nkeys].owner = owner;
	ps->nkeys++;
	return index_add(&ps->key_index, bare, owner, ps->line) < 0 ?
		       nomem(ps) :
		       0;
fail:
	free(bare);
	free(owner);
	return nomem(ps);
}

static int h_key(struct parser *ps, const struct directive *d, char **args,
		 size_t nargs)
{
	struct tdm_person *p = cur_person(ps);
	char *key, **keys;
	int rc;

	rc = parse_key(ps, d->word, args, nargs, &key);
	if (rc < 0 || key == NULL)
		return rc;
	rc = claim_key(ps, key);
	if (rc < 0)
		goto fail;
	keys = grow(p->keys, p->nkeys, sizeof(*keys));
	if (keys == NULL) {
		rc = nomem(ps);
		goto fail;
	}
	p->keys = keys;
	keys[p->nkeys++] = key;
	return 0;
fail:
	free(key);
	return rc;
}

static int h_attr(struct parser *ps, const struct directive *d, char **args,
		  size_t nargs)
{
	struct tdm_person *p = cur_person(ps);
	struct tdm_attr attr, *attrs;
	size_t i;
	int rc;

	for (i = 0; i < nargs; i++) {
		rc = parse_attr(ps, d->word, args[i], &attr);
		if (rc < 0)
			return rc;
		if (attr.key == NULL)
			continue;
		if (index_find(&ps->attr_index, attr.key) != NULL) {
			rc = perr(ps,
				  "duplicate attribute %s in %s %s; keep "
				  "one",
				  shown(ps, 0, attr.key), section_word(ps->sec),
				  shown(ps, 1, p->name));
			free(attr.key);
			free(attr.value);
			if (rc < 0)
				return rc;
			continue;
		}
		attrs = grow(p->attrs, p->nattrs, sizeof(*attrs));
		if (attrs == NULL) {
			free(attr.key);
			free(attr.value);
			return nomem(ps);
		}
		p->attrs = attrs;
		attrs[p->nattrs++] = attr;
		if (index_add(&ps->attr_index, attr.key, NULL, ps->line) < 0)
			return nomem(ps);
	}
	return 0;
}

static int h_targets(struct parser *ps, const struct directive *d, char **args,
		     size_t nargs)
{
	struct tdm_person *p = cur_person(ps);
	struct target_ref *refs;
	char **names, *copy;
	size_t i;
	int rc;

	for (i = 0; i < nargs; i++) {
		if (args[i][0] == '\0' || has_ctrl(args[i]) ||
		    strchr(args[i], ',') != NULL) {
			rc = perr(ps,
				  "%s entry \"%s\" is not a target name or "
				  "pattern; write e.g. db01 or web-*%s",
				  d->word, shown(ps, 0, args[i]),
				  strchr(args[i], ',') != NULL ?
					  ", separated by blanks, not commas" :
					  "");
			if (rc < 0)
				return rc;
			continue;
		}
		copy = dup_str(ps, args[i]);
		if (copy == NULL)
			return TDM_ERR_NOMEM;
		names = grow(p->targets, p->ntargets, sizeof(*names));
		refs = names == NULL ? NULL :
				       grow(ps->refs, ps->nrefs, sizeof(*refs));
		if (names != NULL)
			p->targets = names;
		if (refs == NULL) {
			free(copy);
			return nomem(ps);
		}
		ps->refs = refs;
		refs[ps->nrefs].kind = ps->sec;
		refs[ps->nrefs].person = ps->sec_idx;
		refs[ps->nrefs].entry = p->ntargets;
		refs[ps->nrefs].line = ps->line;
		ps->nrefs++;
		names[p->ntargets++] = copy;
	}
	return 0;
}

/* ---- target fields ---------------------------------------------------- */

static bool is_address(const char *s)
{
	if (*s == '\0' || *s == '-')
		return false;
	for (; *s != '\0'; s++)
		if (!is_name_char(*s) && *s != ':' && *s != '%')
			return false;
	return true;
}

static int h_address(struct parser *ps, const struct directive *d, char **args,
		     size_t nargs)
{
	(void)nargs;
	if (!is_address(args[0]))
		return perr(ps,
			    "bad %s \"%s\" in target %s; write a host name "
			    "or an IP address",
			    d->word, shown(ps, 0, args[0]),
			    shown(ps, 1, cur_target(ps)->name));
	return set_string(ps, &cur_target(ps)->address, args[0]);
}

static int h_port(struct parser *ps, const struct directive *d, char **args,
		  size_t nargs)
{
	const char *s = args[0];
	unsigned long v = 0;

	(void)nargs;
	for (; is_digit(*s) && v <= 65535; s++)
		v = v * 10 + (unsigned long)(*s - '0');
	if (args[0][0] == '\0' || *s != '\0' || v < 1 || v > 65535)
		return perr(ps,
			    "bad %s \"%s\" in target %s; use a number from "
			    "1 to 65535",
			    d->word, shown(ps, 0, args[0]),
			    shown(ps, 1, cur_target(ps)->name));
	cur_target(ps)->port = (unsigned)v;
	return 0;
}

static int h_user(struct parser *ps, const struct directive *d, char **args,
		  size_t nargs)
{
	(void)nargs;
	if (!is_name(args[0]))
		return perr(ps,
			    "bad %s \"%s\" in target %s; use letters, "
			    "digits, '.', '_' and '-', not starting with '-'",
			    d->word, shown(ps, 0, args[0]),
			    shown(ps, 1, cur_target(ps)->name));
	return set_string(ps, &cur_target(ps)->user, args[0]);
}

static int h_host_key(struct parser *ps, const struct directive *d, char **args,
		      size_t nargs)
{
	char *key;
	int rc;

	rc = parse_key(ps, d->word, args, nargs, &key);
	if (rc < 0 || key == NULL)
		return rc;
	free(cur_target(ps)->host_key);
	cur_target(ps)->host_key = key;
	return 0;
}

static int h_identity(struct parser *ps, const struct directive *d, char **args,
		      size_t nargs)
{
	(void)nargs;
	if (!is_abs_path(args[0]))
		return perr(ps,
			    "%s \"%s\" in target %s is not an absolute "
			    "path; write the full path, e.g. "
			    "/etc/tandem/keys/%s",
			    d->word, shown(ps, 0, args[0]),
			    shown(ps, 1, cur_target(ps)->name),
			    shown(ps, 2, cur_target(ps)->name));
	return set_string(ps, &cur_target(ps)->identity, args[0]);
}

static int h_require(struct parser *ps, const struct directive *d, char **args,
		     size_t nargs)
{
	struct tdm_target *t = cur_target(ps);
	struct tdm_require *reqs;
	enum tdm_req_who who;
	struct tdm_attr attr;
	size_t i;
	int rc;

	if (strcmp(args[0], "escort") == 0)
		who = TDM_REQ_ESCORT;
	else if (strcmp(args[0], "engineer") == 0)
		who = TDM_REQ_ENGINEER;
	else
		return perr(ps,
			    "%s applies to escort or engineer, not \"%s\"; "
			    "write e.g. require escort citizen=US",
			    d->word, shown(ps, 0, args[0]));
	for (i = 1; i < nargs; i++) {
		rc = parse_attr(ps, d->word, args[i], &attr);
		if (rc < 0)
			return rc;
		if (attr.key == NULL)
			continue;
		reqs = grow(t->requires, t->nrequires, sizeof(*reqs));
		if (reqs == NULL) {
			free(attr.key);
			free(attr.value);
			return nomem(ps);
		}
		t->requires = reqs;
		reqs[t->nrequires].who = who;
		reqs[t->nrequires].attr = attr;
		reqs[t->nrequires].line = ps->line;
		t->nrequires++;
	}
	return 0;
}

static int h_interactive(struct parser *ps, const struct directive *d,
			 char **args, size_t nargs)
{
	struct tdm_target *t = cur_target(ps);
	char **progs, *copy;
	size_t i;
	int rc;

	for (i = 0; i < nargs; i++) {
		/* The gate compares the program's name alone, as typed
		 * first on the line: a path or arguments never match. */
		if (args[i][0] == '\0' || has_ctrl(args[i]) ||
		    strpbrk(args[i], "/ \t") != NULL) {
			rc = perr(ps,
				  "%s entry \"%s\" is not a program name; "
				  "write the name alone, e.g. interactive vim "
				  "less top",
				  d->word, shown(ps, 0, args[i]));
			if (rc < 0)
				return rc;
			continue;
		}
		copy = dup_str(ps, args[i]);
		if (copy == NULL)
			return TDM_ERR_NOMEM;
		progs = grow(t->interactive, t->ninteractive, sizeof(*progs));
		if (progs == NULL) {
			free(copy);
			return nomem(ps);
		}
		t->interactive = progs;
		progs[t->ninteractive++] = copy;
	}
	return 0;
}

static int h_raw_limit(struct parser *ps, const struct directive *d,
		       char **args, size_t nargs)
{
	int rc;

	(void)nargs;
	rc = parse_duration(ps, d, args[0], &cur_target(ps)->raw_limit_ms);
	return rc < 0 ? rc : 0;
}

/* ---- rules ------------------------------------------------------------ */

static int h_rule(struct parser *ps, const struct directive *d, char **args,
		  size_t nargs)
{
	enum tdm_level level = TDM_LEVEL_CRITICAL;
	struct tdm_rule *rules, rule;
	bool is_flag = strcmp(d->word, "flag") == 0;
	size_t n = ps->ndiags;
	int rc;

	if (is_flag) {
		if (!tdm_level_parse(args[0], &level)) {
			rc = perr(ps,
				  "unknown level \"%s\" in flag; use low, "
				  "medium, high or critical",
				  shown(ps, 0, args[0]));
			if (rc < 0)
				return rc;
		}
		args++;
		nargs--;
	}
	rc = check_regex(ps, args[0]);
	if (rc < 0)
		return rc;
	if (args[1][0] == '\0') {
		rc = perr(ps,
			  "%s rule has an empty explanation; say what the "
			  "command does, e.g. \"formats a filesystem\"",
			  d->word);
		if (rc < 0)
			return rc;
	} else if (tdm_visible_has_hidden((const uint8_t *)args[1],
					  strlen(args[1]))) {
		/* Escorts read it on their terminals, as it is. */
		rc = perr(ps,
			  "%s rule's explanation \"%s\" holds a control "
			  "or invisible character or bytes that are not "
			  "UTF-8; write plain text",
			  d->word, shown(ps, 1, args[1]));
		if (rc < 0)
			return rc;
	}
	if (ps->ndiags != n)
		return 0;
	rule.kind = is_flag ? TDM_RULE_FLAG : TDM_RULE_DENY;
	rule.level = level;
	rule.line = ps->line;
	rule.pattern = dup_str(ps, args[0]);
	rule.why = dup_str(ps, args[1]);
	rules = grow(ps->pol->rules, ps->pol->nrules, sizeof(*rules));
	if (rules != NULL)
		ps->pol->rules = rules;
	if (rule.pattern == NULL || rule.why == NULL || rules == NULL) {
		free(rule.pattern);
		free(rule.why);
		return nomem(ps);
	}
	rules[ps->pol->nrules++] = rule;
	return 0;
}

/* ---- the directive table ---------------------------------------------- */

#define MANY SIZE_MAX

static const struct directive directives[] = {
	{ "recordings", SCOPE_GLOBAL, SL_RECORDINGS, 1, 1, "recordings DIR",
	  h_path },
	{ "sessions", SCOPE_GLOBAL, SL_SESSIONS, 1, 1, "sessions DIR", h_path },
	{ "signing-key", SCOPE_GLOBAL, SL_SIGNING_KEY, 1, 1, "signing-key FILE",
	  h_path },
	{ "escort-user", SCOPE_GLOBAL, SL_ESCORT_USER, 1, 1, "escort-user USER",
	  h_escort_user },
	{ "approval-timeout", SCOPE_GLOBAL, SL_APPROVAL, 1, 1,
	  "approval-timeout DURATION", h_duration },
	{ "idle-timeout", SCOPE_GLOBAL, SL_IDLE, 1, 1, "idle-timeout DURATION",
	  h_duration },
	{ "flush-interval", SCOPE_GLOBAL, SL_FLUSH, 1, 1,
	  "flush-interval DURATION", h_duration },
	{ "builtin-rules", SCOPE_GLOBAL, SL_BUILTIN, 1, 1,
	  "builtin-rules on|off", h_builtin },
	{ "engineer", SCOPE_SECTION, SL_NONE, 1, 1, "engineer NAME",
	  h_section },
	{ "escort", SCOPE_SECTION, SL_NONE, 1, 1, "escort NAME", h_section },
	{ "target", SCOPE_SECTION, SL_NONE, 1, 1, "target NAME", h_section },
	{ "key", SCOPE_PERSON, SL_NONE, 2, MANY, "key TYPE BASE64 [COMMENT]",
	  h_key },
	{ "attr", SCOPE_PERSON, SL_NONE, 1, MANY, "attr KEY=VALUE...", h_attr },
	{ "targets", SCOPE_PERSON, SL_NONE, 1, MANY, "targets NAME|PATTERN...",
	  h_targets },
	{ "address", SCOPE_TARGET, SL_ADDRESS, 1, 1, "address HOST",
	  h_address },
	{ "port", SCOPE_TARGET, SL_PORT, 1, 1, "port NUMBER", h_port },
	{ "user", SCOPE_TARGET, SL_USER, 1, 1, "user NAME", h_user },
	{ "host-key", SCOPE_TARGET, SL_HOST_KEY, 2, MANY,
	  "host-key TYPE BASE64 [COMMENT]", h_host_key },
	{ "identity", SCOPE_TARGET, SL_IDENTITY, 1, 1, "identity FILE",
	  h_identity },
	{ "require", SCOPE_TARGET, SL_NONE, 2, MANY,
	  "require escort|engineer KEY=VALUE...", h_require },
	{ "interactive", SCOPE_TARGET, SL_NONE, 1, MANY,
	  "interactive PROGRAM...", h_interactive },
	{ "raw-limit", SCOPE_TARGET, SL_RAW_LIMIT, 1, 1, "raw-limit DURATION",
	  h_raw_limit },
	{ "deny", SCOPE_RULE, SL_NONE, 2, 2, "deny \"REGEX\" \"WHY\"", h_rule },
	{ "flag", SCOPE_RULE, SL_NONE, 3, 3,
	  "flag low|medium|high|critical \"REGEX\" \"WHY\"", h_rule },
};

#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

static const struct directive *find_directive(const char *word)
{
	size_t i;

	for (i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].word, word) == 0)
			return &directives[i];
	return NULL;
}

static int unknown_directive(struct parser *ps, const char *word)
{
	size_t i, d, best = SIZE_MAX, len = strlen(word);
	const char *guess = NULL;

	for (i = 0; i < NDIRECTIVES; i++) {
		d = edit_distance(word, directives[i].word);
		if (d < best) {
			best = d;
			guess = directives[i].word;
		}
	}
	if (guess != NULL && best <= 2 && best < len)
		return perr(ps, "unknown directive \"%s\"; did you mean %s?",
			    shown(ps, 0, word), guess);
	return perr(ps,
		    "unknown directive \"%s\"; expected a global setting, "
		    "a section (engineer, escort, target) or a rule (deny, "
		    "flag)",
		    shown(ps, 0, word));
}

/* A field in the wrong place: outside any section, or in the wrong kind. */
static int misplaced(struct parser *ps, const struct directive *d)
{
	const char *home = d->scope == SCOPE_TARGET ?
				   "a target section" :
				   "an engineer or escort section";

	if (ps->sec == SEC_NONE)
		return perr(ps, "%s outside any section; put it under %s",
			    d->word, home);
	return perr(ps, "%s does not belong in %s %s; put it under %s", d->word,
		    section_word(ps->sec), shown(ps, 0, cur_name(ps)), home);
}

static int dispatch(struct parser *ps, char **tok, size_t ntok)
{
	const struct directive *d = find_directive(tok[0]);
	size_t nargs = ntok - 1;
	int rc, first;

	if (d == NULL)
		return unknown_directive(ps, tok[0]);
	switch (d->scope) {
	case SCOPE_GLOBAL:
		if (ps->globals_done)
			return perr(ps,
				    "global directive %s after the first "
				    "section or rule (line %d); move it above "
				    "that line",
				    d->word, ps->first_section_line);
		break;
	case SCOPE_SECTION:
	case SCOPE_RULE:
		rc = end_section(ps);
		if (rc < 0)
			return rc;
		if (!ps->globals_done) {
			ps->globals_done = true;
			ps->first_section_line = ps->line;
		}
		break;
	case SCOPE_PERSON:
		if (ps->sec == SEC_SKIP)
			return 0;
		if (ps->sec != SEC_ENGINEER && ps->sec != SEC_ESCORT)
			return misplaced(ps, d);
		break;
	case SCOPE_TARGET:
		if (ps->sec == SEC_SKIP)
			return 0;
		if (ps->sec != SEC_TARGET)
			return misplaced(ps, d);
		break;
	}
	if (nargs < d->min_args || nargs > d->max_args) {
		if (d->scope == SCOPE_SECTION)
			ps->sec = SEC_SKIP;
		return perr(ps,
			    "wrong number of values for %s (got %zu); "
			    "write: %s, quoting any value with spaces",
			    d->word, nargs, d->usage);
	}
	if (d->slot != SL_NONE) {
		first = ps->seen[d->slot];
		if (first != 0 && d->scope == SCOPE_TARGET)
			return perr(ps,
				    "duplicate %s in target %s (first at "
				    "line %d); keep one",
				    d->word, shown(ps, 0, cur_name(ps)), first);
		if (first != 0)
			return perr(ps,
				    "duplicate %s (first at line %d); keep "
				    "one",
				    d->word, first);
		ps->seen[d->slot] = ps->line;
	}
	return d->handle(ps, d, tok + 1, nargs);
}

/* ---- lines and tokens ------------------------------------------------- */

static int push_token(struct parser *ps, size_t start)
{
	if (ps->ntok == ps->tokcap) {
		size_t cap = ps->tokcap ? ps->tokcap * 2 : 16;
		size_t *off;
		char **tok;

		if (cap > SIZE_MAX / sizeof(*off))
			return nomem(ps);
		off = realloc(ps->tokoff, cap * sizeof(*off));
		if (off == NULL)
			return nomem(ps);
		ps->tokoff = off;
		tok = realloc(ps->tok, cap * sizeof(*tok));
		if (tok == NULL)
			return nomem(ps);
		ps->tok = tok;
		ps->tokcap = cap;
	}
	ps->tokoff[ps->ntok++] = start;
	return tdm_buf_putc(&ps->tokbuf, '\0') < 0 ? nomem(ps) : 0;
}

static int put_byte(struct parser *ps, char c)
{
	return tdm_buf_putc(&ps->tokbuf, (uint8_t)c) < 0 ? nomem(ps) : 0;
}

/*
 * Appends the quoted string at s[*i] == '"' to the current token, escapes
 * resolved, and leaves *i after the closing quote.  Returns 0, 1 when the
 * mistake was reported, or TDM_ERR_NOMEM.
 */
static int put_quoted(struct parser *ps, const char *s, size_t n, size_t *i)
{
	size_t j;
	int rc;

	for (j = *i + 1; j < n && s[j] != '"'; j++) {
		char c = s[j];

		if (c == '\\' && j + 1 < n) {
			c = s[++j];
			if (c == 'n') {
				c = '\n';
			} else if (c == 't') {
				c = '\t';
			} else if (c != '"' && c != '\\') {
				/* Any other escape stays as written, so a
				 * regular expression keeps its \$ and \( as
				 * in the policy's pinned example. */
				rc = put_byte(ps, '\\');
				if (rc < 0)
					return rc;
			}
		}
		rc = put_byte(ps, c);
		if (rc < 0)
			return rc;
	}
	if (j == n) {
		rc = perr(ps, "unterminated quoted string; add the closing \" "
			      "on the same line");
		return rc < 0 ? rc : 1;
	}
	*i = j + 1;
	return 0;
}

/*
 * Splits one line (no NUL, no newline) into words and quoted strings; a
 * token may mix both, as in name="a b".  Returns 0 with ps->tok filled, 1
 * when the line's mistake was reported, or TDM_ERR_NOMEM.
 */
static int tokenize(struct parser *ps, const char *s, size_t n)
{
	size_t i = 0, k, start;
	int rc;

	tdm_buf_reset(&ps->tokbuf);
	ps->ntok = 0;
	for (;;) {
		while (i < n && is_space(s[i]))
			i++;
		if (i == n || s[i] == '#')
			break;
		start = ps->tokbuf.len;
		while (i < n && !is_space(s[i]) && s[i] != '#') {
			if (s[i] == '"')
				rc = put_quoted(ps, s, n, &i);
			else
				rc = put_byte(ps, s[i++]);
			if (rc != 0)
				return rc;
		}
		rc = push_token(ps, start);
		if (rc < 0)
			return rc;
	}
	for (k = 0; k < ps->ntok; k++)
		ps->tok[k] = (char *)ps->tokbuf.data + ps->tokoff[k];
	return 0;
}

static int parse_line(struct parser *ps, const char *s, size_t n)
{
	int rc;

	if (n > LINE_MAX_BYTES)
		return perr(ps,
			    "line is %zu bytes, over the limit of %u; "
			    "split it",
			    n, LINE_MAX_BYTES);
	if (memchr(s, '\0', n) != NULL)
		return perr(ps, "line contains a NUL byte; save the policy "
				"as plain text");
	rc = tokenize(ps, s, n);
	if (rc != 0 || ps->ntok == 0)
		return rc < 0 ? rc : 0;
	return dispatch(ps, ps->tok, ps->ntok);
}

/* ---- after the last line ---------------------------------------------- */

static bool is_pattern(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Every `targets` entry must name a target or match at least one. */
static int check_refs(struct parser *ps)
{
	const struct tdm_policy *pol = ps->pol;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < ps->nrefs && rc == 0 && !ps->too_many; i++) {
		const struct target_ref *r = &ps->refs[i];
		const struct tdm_person *p =
			r->kind == SEC_ENGINEER ? &pol->engineers[r->person] :
						  &pol->escorts[r->person];
		const char *entry = p->targets[r->entry];

		if (!is_pattern(entry)) {
			if (index_find(&ps->names[2], entry) != NULL)
				continue;
			rc = perr_at(ps, r->line,
				     "unknown target \"%s\" in %s "
				     "%s; add a \"target %s\" section or fix "
				     "the name",
				     shown(ps, 0, entry), section_word(r->kind),
				     shown(ps, 1, p->name),
				     shown(ps, 2, entry));
			continue;
		}
		for (j = 0; j < pol->ntargets; j++)
			if (fnmatch(entry, pol->targets[j].name, 0) == 0)
				break;
		if (j == pol->ntargets)
			rc = perr_at(ps, r->line,
				     "pattern \"%s\" in %s %s "
				     "matches no target; fix the pattern or "
				     "add a matching target",
				     shown(ps, 0, entry), section_word(r->kind),
				     shown(ps, 1, p->name));
	}
	return rc;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag_entry *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Moves the collected messages, in line order, to the end of diag. */
static int hand_over(struct parser *ps, struct tdm_diag *diag)
{
	char **msgs;
	size_t i;

	if (ps->ndiags > SIZE_MAX / sizeof(*msgs) - diag->n)
		return TDM_ERR_NOMEM;
	msgs = realloc(diag->msgs, (diag->n + ps->ndiags) * sizeof(*msgs));
	if (msgs == NULL)
		return TDM_ERR_NOMEM;
	qsort(ps->diags, ps->ndiags, sizeof(*ps->diags), diag_cmp);
	for (i = 0; i < ps->ndiags; i++) {
		msgs[diag->n++] = ps->diags[i].msg;
		ps->diags[i].msg = NULL;
	}
	diag->msgs = msgs;
	return 0;
}

static struct tdm_policy *policy_new(const char *name)
{
	struct tdm_policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->path = strdup(name);
	p->recordings = strdup(DEFAULT_RECORDINGS);
	p->sessions = strdup(DEFAULT_SESSIONS);
	p->signing_key = strdup(DEFAULT_SIGNING_KEY);
	p->escort_user = strdup(DEFAULT_ESCORT_USER);
	p->approval_timeout_ms = DEFAULT_APPROVAL_MS;
	p->idle_timeout_ms = DEFAULT_IDLE_MS;
	p->flush_interval_ms = DEFAULT_FLUSH_MS;
	p->builtin_rules = true;
	if (p->path == NULL || p->recordings == NULL || p->sessions == NULL ||
	    p->signing_key == NULL || p->escort_user == NULL) {
		tdm_policy_free(p);
		return NULL;
	}
	return p;
}

static void parser_free(struct parser *ps)
{
	size_t i;

	for (i = 0; i < ps->ndiags; i++)
		free(ps->diags[i].msg);
	free(ps->diags);
	for (i = 0; i < ps->nkeys; i++) {
		free(ps->keys[i].key);
		free(ps->keys[i].owner);
	}
	free(ps->keys);
	index_free(&ps->key_index);
	for (i = 0; i < sizeof(ps->names) / sizeof(ps->names[0]); i++)
		index_free(&ps->names[i]);
	index_free(&ps->attr_index);
	free(ps->refs);
	for (i = 0; i < sizeof(ps->shown) / sizeof(ps->shown[0]); i++)
		tdm_buf_free(&ps->shown[i]);
	tdm_buf_free(&ps->tokbuf);
	free(ps->tokoff);
	free(ps->tok);
	tdm_policy_free(ps->pol);
}

int tdm_policy_parse(const char *text, size_t len, const char *name,
		     struct tdm_policy **out, struct tdm_diag *diag)
{
	struct parser ps;
	size_t pos = 0, i;
	int rc;

	if ((text == NULL && len != 0) || out == NULL || diag == NULL)
		return TDM_ERR_INVAL;
	memset(&ps, 0, sizeof(ps));
	ps.name = name != NULL ? name : "policy";
	for (i = 0; i < sizeof(ps.shown) / sizeof(ps.shown[0]); i++)
		tdm_buf_init(&ps.shown[i], 0);
	tdm_buf_init(&ps.tokbuf, 0);
	ps.sec = SEC_NONE;
	if (len > TDM_POLICY_MAX_BYTES) {
		rc = perr_at(&ps, 0,
			     "policy is %zu bytes, over the limit of "
			     "%u; check that this is the policy file",
			     len, TDM_POLICY_MAX_BYTES);
		rc = rc < 0 ? rc : TDM_ERR_RANGE;
		goto out;
	}
	ps.pol = policy_new(ps.name);
	if (ps.pol == NULL) {
		rc = TDM_ERR_NOMEM;
		goto out;
	}
	while (pos < len && ps.rc == 0 && !ps.too_many) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;

		ps.line++;
		parse_line(&ps, s, n);
		pos += n + (nl != NULL ? 1 : 0);
	}
	if (ps.rc == 0 && !ps.too_many)
		end_section(&ps);
	if (ps.rc == 0 && !ps.too_many)
		check_refs(&ps);
	ps.closing = true;
	if (ps.rc == 0 && ps.too_many)
		perr(&ps,
		     "too many errors (%d), stopped here; fix these and "
		     "check again",
		     MAX_ERRORS);
	rc = ps.rc;
	if (rc < 0)
		goto out;
	if (ps.ndiags > 0) {
		rc = TDM_ERR_INVAL;
		goto out;
	}
	*out = ps.pol;
	ps.pol = NULL;
out:
	if (rc != TDM_ERR_NOMEM && ps.ndiags > 0 && hand_over(&ps, diag) < 0)
		rc = TDM_ERR_NOMEM;
	parser_free(&ps);
	return rc;
}

/* ---- loading ---------------------------------------------------------- */

static int load_error(const char *path, int err, struct tdm_diag *diag)
{
	const char *hint;

	switch (err) {
	case ENOENT:
	case ENOTDIR:
		hint = "check the path, or pass --config FILE";
		break;
	case EACCES:
	case EPERM:
		hint = "run as a user that may read it (the tandem and "
		       "escort accounts and investigators all do: make it "
		       "root's, mode 644)";
		break;
	case EISDIR:
		hint = "point --config at the policy file, not a directory";
		break;
	default:
		hint = "make it a readable regular file";
		break;
	}
	return tdm_diag_printf(diag, "%s: cannot read: %s — %s", path,
			       strerror(err), hint) < 0 ?
		       TDM_ERR_NOMEM :
		       TDM_ERR_IO;
}

static int too_big_error(const char *path, struct tdm_diag *diag)
{
	return tdm_diag_printf(diag,
			       "%s: cannot read: larger than %u bytes — check "
			       "that this is the policy file",
			       path, TDM_POLICY_MAX_BYTES) < 0 ?
		       TDM_ERR_NOMEM :
		       TDM_ERR_RANGE;
}

/*
 * Whoever can change the policy can turn the escorts off, so, as sshd's
 * StrictModes: owned by root or by whoever reads it, and writable by no
 * one else (a group may write it only when that group is root's).
 */
static int unsafe_error(const char *path, const struct stat *st,
			struct tdm_diag *diag)
{
	int rc;

	if ((st->st_uid == 0 || st->st_uid == geteuid()) &&
	    (st->st_mode & S_IWOTH) == 0 &&
	    ((st->st_mode & S_IWGRP) == 0 || st->st_gid == 0))
		return 0;
	if (st->st_uid != 0 && st->st_uid != geteuid())
		rc = tdm_diag_printf(diag,
				     "%s: owned by uid %u, not root — whoever "
				     "can change the policy can turn the "
				     "escorts off; chown root it",
				     path, (unsigned)st->st_uid);
	else
		rc = tdm_diag_printf(diag,
				     "%s: others may change it (mode %04o, "
				     "group %u) — whoever can change the "
				     "policy can turn the escorts off; chmod "
				     "644 it (the tandem and escort accounts "
				     "and investigators all read it)",
				     path, (unsigned)(st->st_mode & 07777),
				     (unsigned)st->st_gid);
	return rc < 0 ? TDM_ERR_NOMEM : TDM_ERR_DENIED;
}

int tdm_policy_load(const char *path, struct tdm_policy **out,
		    struct tdm_diag *diag)
{
	struct tdm_buf text;
	struct stat st;
	size_t room;
	ssize_t got;
	int fd, rc;

	if (path == NULL || out == NULL || diag == NULL)
		return TDM_ERR_INVAL;
	tdm_buf_init(&text, (size_t)TDM_POLICY_MAX_BYTES + 1);
	/* O_NONBLOCK: a FIFO in its place must not hang us before fstat. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return load_error(path, errno, diag);
	if (fstat(fd, &st) < 0) {
		rc = load_error(path, errno, diag);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = load_error(path, EISDIR, diag);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = load_error(path, EINVAL, diag);
		goto out;
	}
	if (st.st_size > (off_t)TDM_POLICY_MAX_BYTES) {
		rc = too_big_error(path, diag);
		goto out;
	}
	rc = unsafe_error(path, &st, diag);
	if (rc < 0)
		goto out;
	/* The file may grow after fstat: read at most one byte too many. */
	while (text.len <= TDM_POLICY_MAX_BYTES) {
		room = (size_t)TDM_POLICY_MAX_BYTES + 1 - text.len;
		if (room > 65536)
			room = 65536;
		rc = tdm_buf_reserve(&text, room);
		if (rc < 0)
			goto out;
		got = read(fd, text.data + text.len, room);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = load_error(path, errno, diag);
			goto out;
		}
		if (got == 0)
			break;
		text.len += (size_t)got;
	}
	if (text.len > TDM_POLICY_MAX_BYTES) {
		rc = too_big_error(path, diag);
		goto out;
	}
	rc = tdm_policy_parse(text.len ? (const char *)text.data : "", text.len,
			      path, out, diag);
out:
	close(fd);
	tdm_buf_free(&text);
	return rc;
}

/* ---- freeing and questions -------------------------------------------- */

int tdm_diag_printf(struct tdm_diag *d, const char *fmt, ...)
{
	char **msgs, *msg;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return TDM_ERR_NOMEM;
	msgs = realloc(d->msgs, (d->n + 1) * sizeof(*msgs));
	if (msgs == NULL) {
		free(msg);
		return TDM_ERR_NOMEM;
	}
	d->msgs = msgs;
	msgs[d->n++] = msg;
	return 0;
}

void tdm_diag_free(struct tdm_diag *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}

static void free_strings(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_person(struct tdm_person *p)
{
	size_t i;

	free(p->name);
	free_strings(p->keys, p->nkeys);
	for (i = 0; i < p->nattrs; i++) {
		free(p->attrs[i].key);
		free(p->attrs[i].value);
	}
	free(p->attrs);
	free_strings(p->targets, p->ntargets);
}

void tdm_policy_free(struct tdm_policy *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nengineers; i++)
		free_person(&p->engineers[i]);
	free(p->engineers);
	for (i = 0; i < p->nescorts; i++)
		free_person(&p->escorts[i]);
	free(p->escorts);
	for (i = 0; i < p->ntargets; i++) {
		struct tdm_target *t = &p->targets[i];

		free(t->name);
		free(t->address);
		free(t->user);
		free(t->host_key);
		free(t->identity);
		for (j = 0; j < t->nrequires; j++) {
			free(t->requires[j].attr.key);
			free(t->requires[j].attr.value);
		}
		free(t->requires);
		free_strings(t->interactive, t->ninteractive);
	}
	free(p->targets);
	for (i = 0; i < p->nrules; i++) {
		free(p->rules[i].pattern);
		free(p->rules[i].why);
	}
	free(p->rules);
	free(p->path);
	free(p->recordings);
	free(p->sessions);
	free(p->signing_key);
	free(p->escort_user);
	free(p);
}

static const struct tdm_person *find_person(const struct tdm_person *v,
					    size_t n, const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

const struct tdm_person *tdm_policy_engineer(const struct tdm_policy *p,
					     const char *name)
{
	return p == NULL ? NULL :
			   find_person(p->engineers, p->nengineers, name);
}

const struct tdm_person *tdm_policy_escort(const struct tdm_policy *p,
					   const char *name)
{
	return p == NULL ? NULL : find_person(p->escorts, p->nescorts, name);
}

const struct tdm_target *tdm_policy_target(const struct tdm_policy *p,
					   const char *name)
{
	size_t i;

	if (p == NULL || name == NULL)
		return NULL;
	for (i = 0; i < p->ntargets; i++)
		if (strcmp(p->targets[i].name, name) == 0)
			return &p->targets[i];
	return NULL;
}

bool tdm_policy_grants(const struct tdm_person *who, const char *target)
{
	size_t i;

	if (who == NULL || target == NULL)
		return false;
	for (i = 0; i < who->ntargets; i++)
		if (fnmatch(who->targets[i], target, 0) == 0)
			return true;
	return false;
}

bool tdm_policy_meets(const struct tdm_target *t, enum tdm_req_who role,
		      const struct tdm_person *who,
		      const struct tdm_require **missing)
{
	size_t i;

	if (missing != NULL)
		*missing = NULL;
	if (t == NULL)
		return false;
	for (i = 0; i < t->nrequires; i++) {
		const struct tdm_require *r = &t->requires[i];
		const char *have;

		if (r->who != role)
			continue;
		have = tdm_person_attr(who, r->attr.key);
		if (have != NULL && strcmp(have, r->attr.value) == 0)
			continue;
		if (missing != NULL)
			*missing = r;
		return false;
	}
	return true;
}

const char *tdm_person_attr(const struct tdm_person *who, const char *key)
{
	size_t i;

	if (who == NULL || key == NULL)
		return NULL;
	for (i = 0; i < who->nattrs; i++)
		if (strcmp(who->attrs[i].key, key) == 0)
			return who->attrs[i].value;
	return NULL;
}

/* ---- authorized_keys -------------------------------------------------- */

/* sshd runs command= through a shell: allow only what needs no quoting. */
static bool is_shell_safe_path(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s != '\0'; s++)
		if (!is_name_char(*s) && *s != '/' && *s != '+' && *s != ',' &&
		    *s != ':' && *s != '@' && *s != '%' && *s != '=')
			return false;
	return true;
}

int tdm_policy_authorized_keys(const struct tdm_policy *p,
			       enum tdm_req_who role, const char *bindir,
			       const char *config, struct tdm_buf *out)
{
	const struct tdm_person *people;
	const char *prog, *flag;
	struct tdm_buf lines;
	size_t n, i, k;
	int rc = 0;

	if (p == NULL || bindir == NULL || out == NULL ||
	    !is_shell_safe_path(bindir) ||
	    (config != NULL && !is_shell_safe_path(config)))
		return TDM_ERR_INVAL;
	if (role == TDM_REQ_ENGINEER) {
		people = p->engineers;
		n = p->nengineers;
		prog = "tandem-recorder";
		flag = "--engineer";
	} else {
		people = p->escorts;
		n = p->nescorts;
		prog = "tandem-escort";
		flag = "--escort";
	}
	tdm_buf_init(&lines, 0);
	for (i = 0; i < n && rc == 0; i++) {
		/* The parser enforces this; a line must never be injectable. */
		if (!is_name(people[i].name)) {
			rc = TDM_ERR_INVAL;
			break;
		}
		for (k = 0; k < people[i].nkeys && rc == 0; k++) {
			if (has_ctrl(people[i].keys[k])) {
				rc = TDM_ERR_INVAL;
				break;
			}
			rc = tdm_buf_printf(&lines,
					    "restrict,pty,command=\"%s/%s%s%s "
					    "%s %s\" %s\n",
					    bindir, prog,
					    config ? " --config " : "",
					    config ? config : "", flag,
					    people[i].name, people[i].keys[k]);
		}
	}
	if (rc == 0)
		rc = tdm_buf_put(out, lines.data, lines.len);
	tdm_buf_free(&lines);
	return rc;
}
