/*
 * trust.c: the keys an investigator trusts to have sealed recordings.
 *
 * A seal proves only that whoever held the key named in the header signed
 * the chain; someone who rewrites a recording can sign it again with a key
 * of their own and name that key.  So verify can pin keys: --key FILE
 * (any key listed may seal any recording) or --allowed-signers FILE
 * (ssh-keygen's format; a key seals only the bastions whose names match
 * its principals).
 */
#include "trust.h"
#include "err.h"
#include "sign.h"

#include <stdint.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct trusted {
	uint8_t pub[TDM_ED25519_PUB];
	char *principals; /* NULL: any bastion */
	/* valid-after and valid-before: sessions that began in [after,
	 * before), in seconds since 1970 */
	int64_t after, before;
};

struct tdm_trust {
	struct trusted *k;
	size_t n, cap;
};

static int keys_add(struct tdm_trust **keys, const uint8_t *pub,
		    const char *principals, size_t plen, int64_t after,
		    int64_t before)
{
	struct tdm_trust *ks = *keys;
	struct trusted *grown;
	size_t cap;

	if (ks == NULL) {
		ks = calloc(1, sizeof(*ks));
		if (ks == NULL)
			return -1;
		*keys = ks;
	}
	if (ks->n == ks->cap) {
		cap = ks->cap ? ks->cap * 2 : 8;
		grown = realloc(ks->k, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		ks->k = grown;
		ks->cap = cap;
	}
	memcpy(ks->k[ks->n].pub, pub, TDM_ED25519_PUB);
	ks->k[ks->n].principals = NULL;
	ks->k[ks->n].after = after;
	ks->k[ks->n].before = before;
	if (principals != NULL) {
		ks->k[ks->n].principals = strndup(principals, plen);
		if (ks->k[ks->n].principals == NULL)
			return -1;
	}
	ks->n++;
	return 0;
}

/* Calls line_fn on each line of path that is not blank or a comment. */
static int each_line(const char *path, struct tdm_trust **keys,
		     int (*line_fn)(struct tdm_trust **, const char *,
				    const char *, unsigned, char *, size_t),
		     char *why, size_t why_size)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	const char *s;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (f == NULL) {
		tdm_say(why, why_size, "cannot open key file %s: %s", path,
			strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '\0' || *s == '#')
			continue;
		rc = line_fn(keys, path, s, lineno, why, why_size);
	}
	free(line);
	fclose(f);
	return rc;
}

static int pub_line(struct tdm_trust **keys, const char *path, const char *s,
		    unsigned lineno, char *why, size_t why_size)
{
	uint8_t pub[TDM_ED25519_PUB];

	if (tdm_pubkey_parse(s, pub, NULL) < 0) {
		tdm_say(why, why_size,
			"%s:%u: not an ssh-ed25519 public key line "
			"(give the bastion's signing key .pub file)",
			path, lineno);
		return -1;
	}
	if (keys_add(keys, pub, NULL, 0, INT64_MIN, INT64_MAX) < 0) {
		tdm_say(why, why_size, "out of memory reading %s", path);
		return -1;
	}
	return 0;
}

int tdm_trust_add_keys(struct tdm_trust **keys, const char *path, char *why,
		       size_t why_size)
{
	return each_line(path, keys, pub_line, why, why_size);
}

/* End of the options field, which may hold quoted strings with blanks. */
static const char *skip_options(const char *s)
{
	int quoted = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && (*s == ' ' || *s == '\t'))
			break;
	}
	return s;
}

/*
 * A time as ssh-keygen writes it in valid-after="..." and valid-before:
 * YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, in UTC when followed by Z,
 * else in the local time zone.  -1 when it is none of those.
 */
static int parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	size_t n = strspn(s, "0123456789");
	bool utc;
	time_t t;
	int v[6] = { 0, 0, 0, 0, 0, 0 }, widths[6] = { 4, 2, 2, 2, 2, 2 };
	int i, k, at = 0;

	if (n != 8 && n != 12 && n != 14)
		return -1;
	utc = s[n] == 'Z';
	if (s[n + (utc ? 1 : 0)] != '"')
		return -1;
	for (i = 0; i < 6 && (size_t)at < n; i++)
		for (k = 0; k < widths[i]; k++)
			v[i] = v[i] * 10 + (s[at++] - '0');
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	tm.tm_isdst = -1;
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
	    v[4] > 59 || v[5] > 60)
		return -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* The time in name="..." among the options, if there; -1 if malformed. */
static int option_time(const char *list, const char *name, int64_t *out)
{
	const char *at = strstr(list, name);

	if (at == NULL)
		return 0;
	return parse_time(at + strlen(name), out);
}

/*
 * 1 when the options let the key seal recordings, 0 when not (another
 * namespace, a CA), -1 when a validity time cannot be read.
 */
static int options_allow(const char *opt, size_t n, int64_t *after,
			 int64_t *before)
{
	const char *ns, *end;
	char list[512];
	char *tok, *save = NULL;

	if (n >= sizeof(list))
		return 0;
	memcpy(list, opt, n);
	list[n] = '\0';
	if (strstr(list, "cert-authority") != NULL)
		return 0;
	if (option_time(list, "valid-after=\"", after) < 0 ||
	    option_time(list, "valid-before=\"", before) < 0)
		return -1;
	ns = strstr(list, "namespaces=\"");
	if (ns == NULL)
		return 1;
	ns += strlen("namespaces=\"");
	end = strchr(ns, '"');
	if (end == NULL)
		return 0;
	list[end - list] = '\0';
	for (tok = strtok_r(list + (ns - list), ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		if (fnmatch(tok, TDM_SIGN_NAMESPACE, 0) == 0)
			return 1;
	return 0;
}

static int signer_line(struct tdm_trust **keys, const char *path, const char *s,
		       unsigned lineno, char *why, size_t why_size)
{
	uint8_t pub[TDM_ED25519_PUB];
	const char *principals = s, *rest, *opt_end;
	int64_t after = INT64_MIN, before = INT64_MAX;
	size_t plen;
	int allow;

	plen = strcspn(s, " \t");
	rest = s + plen;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (strncmp(rest, "ssh-", 4) != 0 && strncmp(rest, "ecdsa-", 6) != 0 &&
	    strncmp(rest, "sk-", 3) != 0) {
		opt_end = skip_options(rest);
		allow = options_allow(rest, (size_t)(opt_end - rest), &after,
				      &before);
		if (allow < 0) {
			tdm_say(why, why_size,
				"%s:%u: valid-after or valid-before is not a "
				"time ssh-keygen reads; write YYYYMMDD, "
				"YYYYMMDDHHMM or YYYYMMDDHHMMSS, with Z for UTC",
				path, lineno);
			return -1;
		}
		if (allow == 0)
			return 0;
		rest = opt_end;
	}
	if (tdm_pubkey_parse(rest, pub, NULL) < 0) {
		/* Other key types may sign other things; not ours. */
		if (strncmp(rest, "ssh-ed25519", 11) == 0) {
			tdm_say(why, why_size,
				"%s:%u: damaged ssh-ed25519 key; "
				"copy the line again from the key's .pub file",
				path, lineno);
			return -1;
		}
		return 0;
	}
	if (keys_add(keys, pub, principals, plen, after, before) < 0) {
		tdm_say(why, why_size, "out of memory reading %s", path);
		return -1;
	}
	return 0;
}

int tdm_trust_add_allowed_signers(struct tdm_trust **keys, const char *path,
				  char *why, size_t why_size)
{
	return each_line(path, keys, signer_line, why, why_size);
}

/* OpenSSH's pattern lists: comma-separated, '!' negates and wins. */
static int principals_match(const char *list, const char *name)
{
	char buf[1024], *tok, *save = NULL;
	int match = 0;

	size_t n = strlen(list);

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, list, n + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (tok[0] == '!') {
			if (fnmatch(tok + 1, name, 0) == 0)
				return 0;
		} else if (fnmatch(tok, name, 0) == 0) {
			match = 1;
		}
	}
	return match;
}

int tdm_trust_check(const struct tdm_trust *keys, const uint8_t *pub,
		    const char *bastion, int64_t started)
{
	size_t i;

	if (keys == NULL)
		return 0;
	for (i = 0; i < keys->n; i++) {
		if (memcmp(keys->k[i].pub, pub, TDM_ED25519_PUB) != 0)
			continue;
		/* A key outside its validity seals nothing of that time. */
		if (started < keys->k[i].after || started >= keys->k[i].before)
			continue;
		if (keys->k[i].principals == NULL)
			return 1;
		if (bastion != NULL &&
		    principals_match(keys->k[i].principals, bastion))
			return 1;
	}
	return 0;
}

void tdm_trust_free(struct tdm_trust *keys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < keys->n; i++)
		free(keys->k[i].principals);
	free(keys->k);
	free(keys);
}
