/* play.c: `tandem-replay play` (placeholder until the player lands). */
#include "replay.h"

int rp_cmd_play(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "tandem-replay: play is not built yet; use "
		"tandem-replay export F -o f.cast && asciinema play f.cast\n");
	return RP_EXIT_ERROR;
}
