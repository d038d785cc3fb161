/*
 * console.c: the escort's full-screen console.  (Being written: for now it
 * explains the subcommands.)
 */
#include <stdio.h>

#include "commands.h"

int cmd_console(const struct escort_ctx *ctx)
{
	(void)ctx;
	fprintf(stderr, "tandem-escort: the console is not in this build; "
		"use the subcommands: list, pending, approve, deny, kill "
		"(see --help)\n");
	return 2;
}
