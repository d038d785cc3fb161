/*
 * tandem-replay: the investigator's tool.  main() picks the subcommand;
 * each lives in its own file and holds its own logic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "policy.h"
#include "replay.h"
#include "sandbox.h"
#include "trust.h"
#include "version.h"

struct tdm_trust *rp_bastion_keys;
char rp_bastion_keys_from[4096];
/* Keys were given before the subcommand: the policy's are not loaded. */
static bool pinned_here;

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
};

static const struct subcommand subcommands[] = {
	{ "play", rp_cmd_play,
	  "play FILE [--speed X] [--idle-limit S] "
	  "[--raw]: play in the terminal" },
	{ "cat", rp_cmd_cat, "cat FILE [--raw]: all output at once" },
	{ "export", rp_cmd_export,
	  "export FILE -o OUT.cast: plain "
	  "asciicast v2" },
	{ "commands", rp_cmd_commands,
	  "commands FILE|DIR... [--json]: who "
	  "ran what, approved by whom" },
	{ "verify", rp_cmd_verify,
	  "verify FILE|DIR... [--key PUBFILE]: "
	  "check chain and seal" },
	{ "seal", rp_cmd_seal,
	  "seal FILE -o SIG: the seal for ssh-keygen "
	  "-Y verify" },
	{ "info", rp_cmd_info, "info FILE: header and summary" },
	{ "search", rp_cmd_search,
	  "search DIR... [--command REGEX] "
	  "[--engineer N] [--escort N] [--target N] "
	  "[--since DATE] [--until DATE] [--attr "
	  "K=V] [--json]: decisions across "
	  "recordings" },
	{ "index", rp_cmd_index,
	  "index DIR...: bring the search index up "
	  "to date" },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: tandem-replay [--config FILE] [--key PUBFILE] "
		   "[--allowed-signers FILE] SUBCOMMAND ...\n\n");
	for (i = 0; i < NSUB; i++)
		fprintf(f, "  %s\n", subcommands[i].what);
	fprintf(f,
		"\n--config FILE: the policy (default %s) whose "
		"signing-key's .pub\nevery subcommand trusts; the default "
		"is used when it exists.\n--key PUBFILE, --allowed-signers "
		"FILE (before the subcommand; each may\nrepeat): trust these "
		"keys instead.  With none of them, a seal is checked\n"
		"against the key its own recording names, which proves "
		"nothing.\n"
		"`tandem-replay SUBCOMMAND --help` for more.\n",
		TDM_POLICY_DEFAULT_PATH);
}

/*
 * Takes the options before the subcommand out of argv (after it, a word
 * may be a subcommand's value, a regex say): --config FILE (or
 * --config=FILE; *config is "" when given without one), and --key
 * PUBFILE or --allowed-signers FILE, each of which may repeat: the keys
 * every subcommand then trusts in place of the policy's.
 */
static int take_globals(int *argc, char **argv, const char **config)
{
	char why[512];
	int i, n;

	while (*argc > 1 && argv[1] != NULL) {
		const char *o = argv[1], *val = *argc > 2 ? argv[2] : NULL;
		bool key = strcmp(o, "--key") == 0,
		     signers = strcmp(o, "--allowed-signers") == 0;

		n = 2;
		if (strcmp(o, "--config") == 0) {
			*config = val != NULL ? val : "";
			n = val != NULL ? 2 : 1;
		} else if (strncmp(o, "--config=", 9) == 0) {
			*config = o + 9;
			n = 1;
		} else if (key || signers) {
			if (val == NULL) {
				fprintf(stderr,
					"tandem-replay: %s needs a FILE: a "
					"bastion's public key, or an "
					"allowed_signers file\n",
					o);
				return -1;
			}
			if ((key ? tdm_trust_add_keys(&rp_bastion_keys, val,
						      why, sizeof(why)) :
				   tdm_trust_add_allowed_signers(
					   &rp_bastion_keys, val, why,
					   sizeof(why))) < 0) {
				rp_say(stderr, "tandem-replay: %s", why);
				return -1;
			}
			if (rp_bastion_keys_from[0] == '\0')
				snprintf(rp_bastion_keys_from,
					 sizeof(rp_bastion_keys_from), "%s",
					 val);
			pinned_here = true;
		} else {
			break;
		}
		for (i = 1; i + n <= *argc; i++)
			argv[i] = argv[i + n];
		*argc -= n;
	}
	if (pinned_here && rp_bastion_keys == NULL) {
		fprintf(stderr, "tandem-replay: the key files given hold no "
				"ssh-ed25519 key for namespace "
				"tandem-recording; nothing could be trusted\n");
		return -1;
	}
	return 0;
}

void rp_note_unpinned(void)
{
	if (rp_bastion_keys != NULL)
		return;
	fflush(stdout);
	fprintf(stderr,
		"note: seals were checked against the key each recording's "
		"header names, so a recording re-made and sealed with any "
		"key reads as sealed; to be sure your bastion made them, "
		"give its key first: --key /etc/tandem/signing_ed25519.pub, "
		"--allowed-signers FILE, or --config with its policy\n");
}

/*
 * The bastion's public signing key, from the policy: what verify trusts
 * when told nothing else.  A policy named with --config must yield it;
 * the default one is used only when it is there to read.
 */
static int load_bastion_keys(const char *config)
{
	const char *path = config != NULL ? config : TDM_POLICY_DEFAULT_PATH;
	struct tdm_policy *policy = NULL;
	struct tdm_diag diag = { 0 };
	char pub[sizeof(rp_bastion_keys_from)], why[512];
	size_t i;
	int rc = 0;

	if (config == NULL && access(path, R_OK) < 0)
		return 0;
	if (tdm_policy_load(path, &policy, &diag) < 0) {
		if (config == NULL)
			goto out;
		for (i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		fprintf(stderr,
			"tandem-replay: cannot use the policy %s; "
			"fix it or give another with --config\n",
			path);
		rc = -1;
		goto out;
	}
	snprintf(pub, sizeof(pub), "%s.pub", policy->signing_key);
	if (tdm_trust_add_keys(&rp_bastion_keys, pub, why, sizeof(why)) < 0) {
		if (config != NULL) {
			fprintf(stderr,
				"tandem-replay: %s (the public half of %s's "
				"signing-key); make it readable, or name the "
				"key with --key\n",
				why, path);
			rc = -1;
		}
		tdm_trust_free(rp_bastion_keys);
		rp_bastion_keys = NULL;
		goto out;
	}
	memcpy(rp_bastion_keys_from, pub, sizeof(pub));
out:
	tdm_policy_free(policy);
	tdm_diag_free(&diag);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	size_t i;

	if (take_globals(&argc, argv, &config) < 0)
		return RP_EXIT_ERROR;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("tandem-replay %s\n", TDM_VERSION);
		return 0;
	}
	if (config != NULL && config[0] == '\0') {
		fprintf(stderr, "tandem-replay: --config needs a FILE, the "
				"policy whose signing key to trust\n");
		return RP_EXIT_USAGE;
	}
	if (argc < 2) {
		usage(stderr);
		return RP_EXIT_USAGE;
	}
	for (i = 0; i < NSUB; i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			break;
	if (i < NSUB) {
		const char *n = subcommands[i].name;
		bool writes = strcmp(n, "index") == 0 ||
			      strcmp(n, "export") == 0 ||
			      strcmp(n, "seal") == 0;

		if (!pinned_here && load_bastion_keys(config) < 0)
			return RP_EXIT_ERROR;

		/* Confined before the first byte of a recording is read;
		 * jansson seeds its hashing from /dev/urandom: now. */
		json_object_seed(0);
		if (tdm_sandbox_enter(writes ? &tdm_sandbox_replay_write :
					       &tdm_sandbox_replay_read) < 0) {
			fprintf(stderr, "tandem-replay: cannot enter the "
					"sandbox; refusing to read recordings "
					"unconfined\n");
			return 1;
		}
		return subcommands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "tandem-replay: unknown subcommand \"%s\"\n\n",
		argv[1]);
	usage(stderr);
	return RP_EXIT_USAGE;
}
