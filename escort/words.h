/*
 * words.h: SSH_ORIGINAL_COMMAND split like POSIX shell words (single and
 * double quotes, backslash), with no expansion of any kind.
 */
#ifndef TDM_ESC_WORDS_H
#define TDM_ESC_WORDS_H

#include <stddef.h>

#define WORDS_MAX 64

/*
 * Splits line into at most WORDS_MAX words, each malloc'd into argv
 * (NULL-terminated).  Returns the count, or TDM_ERR_INVAL for an unclosed
 * quote or a trailing backslash, TDM_ERR_RANGE for too many words.
 */
int words_split(const char *line, char **argv);
void words_free(char **argv);

#endif
