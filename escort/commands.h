/*
 * commands.h: the escort's subcommands (list, pending, approve, deny,
 * kill, raw) and the console.  Each returns the process exit status:
 * 0 done, 1 refused or failed (with a message), 2 usage error.
 */
#ifndef TDM_ESC_COMMANDS_H
#define TDM_ESC_COMMANDS_H

#include "client.h"

int cmd_list(const struct escort_ctx *ctx, int argc, char **argv);
int cmd_pending(const struct escort_ctx *ctx, int argc, char **argv);
int cmd_decide(const struct escort_ctx *ctx, int argc, char **argv);
int cmd_console(const struct escort_ctx *ctx);

#endif
