/*
 * verify.c: `tandem-replay verify` and `tandem-replay seal`.
 *
 * verify recomputes each recording's hash chain and checks its seal; one
 * line per file, and the exit status of the worst: 0 all sealed and
 * intact, 3 some only unsealed, 4 any tampered (1 when a file could not be
 * read at all).  seal hands the seal to stock ssh-keygen.  Neither may call
 * a recording good that the chain and the seal do not prove good.
 */
#include "replay.h"
#include "base64.h"
#include "buf.h"
#include "policy.h"
#include "proto.h"
#include "sign.h"
#include "trust.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RP_EXIT_UNSEALED 3
#define RP_EXIT_TAMPERED 4

static void verify_usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-replay verify [--key PUBFILE] "
		"[--allowed-signers FILE] [--quiet] FILE|DIR...\n"
		"\n"
		"Recomputes each recording's hash chain and checks its seal.\n"
		"Exit 0: all sealed and intact; 3: some intact but unsealed;\n"
		"4: some tampered; 1: some could not be read.\n"
		"  --key PUBFILE          trust only seals by these public "
		"keys\n"
		"  --allowed-signers FILE trust a key only for the bastions "
		"its\n"
		"                         principals match (ssh-keygen "
		"format)\n"
		"  --quiet                print only recordings that are not "
		"sealed\n"
		"Without --key or --allowed-signers the bastion key that the "
		"policy\nnames is trusted: its signing-key's .pub, from "
		"--config FILE or\n" TDM_POLICY_DEFAULT_PATH " when that "
		"exists.  With no policy either, a seal is\nchecked against "
		"the key its own header names, which proves no one\nchanged "
		"the file unless they could also sign it again.\n");
}

/* Worse outcomes have higher rank; the exit status is the worst one. */
static int rank(int status)
{
	switch (status) {
	case 0:
		return 0;
	case RP_EXIT_UNSEALED:
		return 1;
	case RP_EXIT_ERROR:
		return 2;
	default:
		return 3;
	}
}

static int worst(int a, int b)
{
	return rank(b) > rank(a) ? b : a;
}

static bool digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * A recording stands at RECORDINGS/YYYY/MM/DD/SESSION.cast.zst, named by
 * its own header; one copied over another session's, or into another
 * day, says one thing by its path and another by its header.  Paths not
 * in that shape (an exported copy) are not judged.
 */
static bool path_contradicts(const char *path, const struct tdm_rec_header *h,
			     char *why, size_t why_size)
{
	const char *base = strrchr(path, '/'), *end;
	const char *part[3] = { NULL, NULL, NULL };
	size_t len[3] = { 4, 2, 2 }, n;
	char want[48], have[16];
	struct tm tm;
	int i;

	base = base != NULL ? base + 1 : path;
	end = strstr(base, ".cast.zst");
	if (end == NULL || end[9] != '\0' || h == NULL || h->session == NULL)
		return false;
	n = (size_t)(end - base);
	if (!tdm_session_id_ok(base, n))
		return false;
	if (strlen(h->session) != n || memcmp(base, h->session, n) != 0) {
		snprintf(why, why_size,
			 "its file name says session %.36s but its header "
			 "says %s: a recording put in another's place",
			 base, h->session);
		return true;
	}
	/* The three folders above it, when they are YYYY/MM/DD. */
	end = base - 1;
	for (i = 2; i >= 0; i--) {
		const char *p = end;

		if (p <= path)
			return false;
		while (p > path && p[-1] != '/')
			p--;
		if ((size_t)(end - p) != len[i] || !digits(p, len[i]))
			return false;
		part[i] = p;
		end = p - 1;
	}
	if (h->timestamp < 0 ||
	    gmtime_r(&(time_t){ h->timestamp }, &tm) == NULL)
		return false;
	snprintf(want, sizeof(want), "%04d/%02d/%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
	snprintf(have, sizeof(have), "%.4s/%.2s/%.2s", part[0], part[1],
		 part[2]);
	if (strcmp(want, have) == 0)
		return false;
	snprintf(why, why_size,
		 "it is filed under %s but its header says the session "
		 "began on %s: a recording moved to another day",
		 have, want);
	return true;
}

void rp_verdict(const char *path, struct tdm_castread *r,
		const struct tdm_trust *keys, struct tdm_verify *v)
{
	const struct tdm_rec_header *h;
	const char *bastion;
	char fp[TDM_FINGERPRINT_SIZE];

	tdm_castread_verify(r, v);
	h = tdm_castread_header(r);
	bastion = h != NULL && h->bastion != NULL ? h->bastion : "?";
	if (v->verdict != TDM_VERDICT_TAMPERED &&
	    path_contradicts(path, h, v->why, sizeof(v->why))) {
		v->verdict = TDM_VERDICT_TAMPERED;
		return;
	}
	if (v->verdict != TDM_VERDICT_SEALED || keys == NULL ||
	    tdm_trust_check(keys, v->signer, bastion,
			    h != NULL ? h->timestamp : 0))
		return;
	/* Anyone can make a chain: without a trusted seal no part of it
	 * proves anything (commands marks every entry NOT VERIFIED). */
	v->verdict = TDM_VERDICT_TAMPERED;
	v->good_frames = 0;
	tdm_pubkey_fingerprint(v->signer, fp);
	if (keys == rp_bastion_keys)
		snprintf(v->why, sizeof(v->why),
			 "sealed by key %s, which is not the bastion key in "
			 "%.200s (re-signed; or sealed before a key change, or "
			 "by another bastion: name its key with verify --key "
			 "or --allowed-signers)",
			 fp, rp_bastion_keys_from);
	else
		snprintf(v->why, sizeof(v->why),
			 "sealed by key %s, which is not trusted for bastion "
			 "%s (re-signed, or add the bastion's key to the "
			 "trusted keys)",
			 fp, bastion);
}

/* Verifies one file and prints its line; returns its exit status. */
static int verify_one(const char *path, const struct tdm_trust *keys, int quiet,
		      int *unpinned)
{
	struct tdm_castread *r;
	struct tdm_verify v;
	char fp[TDM_FINGERPRINT_SIZE];
	int fd;

	if (rp_open(path, &fd, &r) < 0)
		return RP_EXIT_ERROR;
	rp_verdict(path, r, keys, &v);
	rp_close(fd, r);
	switch (v.verdict) {
	case TDM_VERDICT_SEALED:
		tdm_pubkey_fingerprint(v.signer, fp);
		if (!quiet)
			rp_say(stdout,
			       "%s: sealed and intact: %.6f s, %llu links, "
			       "signed by %s (%s%s)",
			       path, (double)v.good_us / 1e6,
			       (unsigned long long)v.links, fp,
			       keys == NULL ? "key named in its header" :
			       keys == rp_bastion_keys ? "the bastion key in " :
							 "trusted key",
			       keys == rp_bastion_keys ? rp_bastion_keys_from :
							 "");
		if (keys == NULL)
			*unpinned = 1;
		return 0;
	case TDM_VERDICT_UNSEALED:
		rp_say(stdout, "%s: UNSEALED: %s", path, v.why);
		return RP_EXIT_UNSEALED;
	case TDM_VERDICT_TAMPERED:
		break;
	}
	rp_say(stdout, "%s: TAMPERED: %s", path, v.why);
	return RP_EXIT_TAMPERED;
}

/* Reads --key and --allowed-signers; -1 (said why) or the next argv. */
static int key_options(int argc, char **argv, struct tdm_trust **keys,
		       int *quiet, void (*usage)(FILE *))
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "allowed-signers", required_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char why[512];
	int c, pinned = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:a:q", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			pinned = 1;
			if (tdm_trust_add_keys(keys, optarg, why, sizeof(why)) <
			    0)
				goto bad_keys;
			break;
		case 'a':
			pinned = 1;
			if (tdm_trust_add_allowed_signers(keys, optarg, why,
							  sizeof(why)) < 0)
				goto bad_keys;
			break;
		case 'q':
			if (quiet == NULL)
				goto usage;
			*quiet = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto usage;
		}
	}
	if (!pinned && rp_bastion_keys != NULL) {
		*keys = rp_bastion_keys;
		return optind;
	}
	if (*keys == NULL && pinned) {
		fprintf(stderr,
			"tandem-replay: the key files given hold no "
			"ssh-ed25519 key for namespace tandem-recording; "
			"nothing could be trusted\n");
		return -1;
	}
	return optind;
bad_keys:
	rp_say(stderr, "tandem-replay: %s", why);
	return -1;
usage:
	usage(stderr);
	return -2;
}

int rp_cmd_verify(int argc, char **argv)
{
	struct tdm_trust *keys = NULL;
	struct rp_paths paths = { 0 };
	int first, quiet = 0, unpinned = 0, status = 0;
	size_t i;

	first = key_options(argc, argv, &keys, &quiet, verify_usage);
	if (first < 0) {
		tdm_trust_free(keys);
		return first == -2 ? RP_EXIT_USAGE : RP_EXIT_ERROR;
	}
	if (first >= argc) {
		verify_usage(stderr);
		tdm_trust_free(keys);
		return RP_EXIT_USAGE;
	}
	if (rp_paths_collect(argv + first, argc - first, &paths) < 0)
		status = RP_EXIT_ERROR;
	for (i = 0; i < paths.n; i++)
		status = worst(status, verify_one(paths.path[i], keys, quiet,
						  &unpinned));
	status = rp_none_found(paths.n, status);
	if (unpinned)
		rp_note_unpinned();
	rp_paths_free(&paths);
	tdm_trust_free(keys);
	return status;
}

static void seal_usage(FILE *f)
{
	fprintf(f, "usage: tandem-replay seal FILE -o SIG\n"
		   "\n"
		   "Writes FILE's seal as an armored SSH signature to SIG and "
		   "prints the\nmessage it signs (the last chain link), so "
		   "OpenSSH can check it:\n"
		   "  tandem-replay seal F -o sig | ssh-keygen -Y verify -f "
		   "allowed_signers \\\n"
		   "      -I BASTION -n tandem-recording -s sig\n");
}

int rp_cmd_seal(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tdm_castread *r;
	struct tdm_verify v;
	struct tdm_buf armor;
	const char *out = NULL;
	int c, fd, sig_fd, status = RP_EXIT_ERROR;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			seal_usage(stdout);
			return 0;
		default:
			seal_usage(stderr);
			return RP_EXIT_USAGE;
		}
	}
	if (out == NULL || optind != argc - 1) {
		seal_usage(stderr);
		return RP_EXIT_USAGE;
	}
	if (rp_open(argv[optind], &fd, &r) < 0)
		return RP_EXIT_ERROR;
	tdm_castread_verify(r, &v);
	if (v.verdict != TDM_VERDICT_SEALED) {
		fprintf(stderr,
			"tandem-replay: %s has no good seal to hand "
			"over: %s\n",
			argv[optind], v.why);
		rp_close(fd, r);
		return v.verdict == TDM_VERDICT_UNSEALED ? RP_EXIT_UNSEALED :
							   RP_EXIT_TAMPERED;
	}
	tdm_buf_init(&armor, 0);
	if (tdm_sshsig_armor(v.seal, v.seal_len, &armor) < 0)
		goto out;
	sig_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sig_fd < 0 || rp_write_all(sig_fd, armor.data, armor.len) < 0 ||
	    close(sig_fd) < 0) {
		rp_say(stderr, "tandem-replay: cannot write %s: %s", out,
		       strerror(errno));
		goto out;
	}
	/* No newline: ssh-keygen -Y verify signs exactly what it reads. */
	fputs(v.last_link, stdout);
	status = fflush(stdout) == 0 ? 0 : RP_EXIT_ERROR;
out:
	tdm_buf_free(&armor);
	rp_close(fd, r);
	return status;
}
