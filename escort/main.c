/*
 * tandem-escort: the escort's forced command.
 *
 * The console and the decision subcommands arrive with the escort gate;
 * this build only identifies itself, so that an escort who logs in is told
 * plainly that supervision is not available rather than shown a shell.
 */
#include <stdio.h>
#include <string.h>

#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-escort --escort NAME [--config FILE]\n"
		"\n"
		"The forced command of the bastion's escort account.\n"
		"This build of tandem has no escort gate yet: sessions are\n"
		"relayed and recorded, and cannot be supervised live.\n");
}

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("tandem-escort %s\n", TDM_VERSION);
			return 0;
		}
	}
	fprintf(stderr, "tandem-escort: this build of tandem cannot "
		"supervise sessions yet (no escort gate); ask an admin to "
		"install a release with the escort gate\n");
	return 2;
}
