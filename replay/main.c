/*
 * tandem-replay: the investigator's tool.  This build reads nothing yet;
 * recordings are standard zstd-compressed asciicast v2 files that
 * `zstd -dc FILE | asciinema play -` plays.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-replay SUBCOMMAND FILE\n"
		"\n"
		"This build has no subcommands yet.  A recording is a zstd\n"
		"stream of asciicast v2: zstd -dc FILE | asciinema play -\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("tandem-replay %s\n", TDM_VERSION);
		return 0;
	}
	usage(stderr);
	return 2;
}
