/*
 * tandem-escort: the forced command of the bastion's escort account.
 *
 * With no subcommand it opens the console; the subcommand may come on the
 * command line or in SSH_ORIGINAL_COMMAND, split like shell words without
 * any expansion.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "policy.h"
#include "sandbox.h"
#include "version.h"
#include "words.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-escort --escort NAME [--config FILE] "
		"[SUBCOMMAND]\n"
		"\n"
		"The forced command of the bastion's escort account.  With no\n"
		"subcommand (and none in SSH_ORIGINAL_COMMAND) it opens the\n"
		"console: the engineer's screen, each pending command with\n"
		"its risks, and keys to approve, deny and kill.\n"
		"\n"
		"Subcommands:\n"
		"  list [--json]                    live sessions you may "
		"escort\n"
		"  pending [--json] [--wait SECS]   commands waiting for a "
		"decision\n"
		"  approve SESSION SEQ              let command SEQ reach the "
		"target\n"
		"  deny SESSION SEQ [--reason TEXT] refuse it; nothing is "
		"sent\n"
		"  kill SESSION [--reason TEXT]     end the session\n"
		"  raw SESSION on|off               supervised raw mode\n"
		"\n"
		"  --escort NAME  the escort, as named in the policy\n"
		"  --config FILE  policy file (default %s)\n"
		"\n"
		"Exit status: 0 done, 1 refused or failed, 2 usage error.\n",
		TDM_POLICY_DEFAULT_PATH);
}

static int run(const struct escort_ctx *ctx, int argc, char **argv)
{
	if (argc == 0)
		return cmd_console(ctx);
	if (strcmp(argv[0], "list") == 0)
		return cmd_list(ctx, argc, argv);
	if (strcmp(argv[0], "pending") == 0)
		return cmd_pending(ctx, argc, argv);
	if (strcmp(argv[0], "approve") == 0 || strcmp(argv[0], "deny") == 0 ||
	    strcmp(argv[0], "kill") == 0 || strcmp(argv[0], "raw") == 0)
		return cmd_decide(ctx, argc, argv);
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr,
		"tandem-escort: unknown subcommand %s; see "
		"`tandem-escort --help`\n",
		argv[0]);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "escort", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = TDM_POLICY_DEFAULT_PATH, *name = NULL, *orig;
	struct tdm_policy *policy = NULL;
	struct tdm_diag diag = { 0 };
	struct escort_ctx ctx;
	char *words[TDM_WORDS_MAX + 1] = { NULL };
	size_t i;
	int c, n, status = 1;

	/* Subcommand options belong to the subcommand: stop at the first
	 * word that is not ours. */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			name = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tandem-escort %s\n", TDM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (name == NULL) {
		fprintf(stderr, "tandem-escort: --escort NAME is required; it "
				"is the forced command of the escort account, "
				"rendered by `tandem-policy authorized-keys "
				"escorts`\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (tdm_policy_load(config, &policy, &diag) < 0) {
		for (i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		fprintf(stderr,
			"tandem-escort: the policy has errors; an "
			"admin must fix %s (tandem-policy check)\n",
			config);
		goto out;
	}
	if (client_init(&ctx, policy, name) < 0)
		goto out;
	/* From here on it reads what sessions send: confine it first.
	 * jansson seeds its hashing from /dev/urandom on first use: now. */
	json_object_seed(0);
	if (tdm_sandbox_enter(&tdm_sandbox_escort) < 0) {
		fprintf(stderr, "tandem-escort: cannot enter the sandbox; "
				"refusing to run unconfined\n");
		goto out;
	}
	orig = getenv("SSH_ORIGINAL_COMMAND");
	if (optind < argc) {
		status = run(&ctx, argc - optind, argv + optind);
	} else if (orig != NULL && orig[0] != '\0') {
		n = tdm_words_split(orig, words);
		if (n < 0) {
			fprintf(stderr,
				"tandem-escort: cannot split the "
				"command (an unclosed quote?): %s\n",
				orig);
			status = 2;
			goto out;
		}
		status = run(&ctx, n, words);
		tdm_words_free(words);
	} else {
		status = run(&ctx, 0, NULL);
	}
out:
	tdm_policy_free(policy);
	tdm_diag_free(&diag);
	return status;
}
