/*
 * tandem-replay: the investigator's tool.  main() picks the subcommand;
 * each lives in its own file and holds its own logic.
 */
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "replay.h"
#include "sandbox.h"
#include "version.h"

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

	fprintf(f, "usage: tandem-replay SUBCOMMAND ...\n\n");
	for (i = 0; i < NSUB; i++)
		fprintf(f, "  %s\n", subcommands[i].what);
	fprintf(f, "\n`tandem-replay SUBCOMMAND --help` for more.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("tandem-replay %s\n", TDM_VERSION);
		return 0;
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
