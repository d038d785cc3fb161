/*
 * words.h: SSH_ORIGINAL_COMMAND split like POSIX shell words (single and
 * double quotes, backslash), with no expansion of any kind.
 */
#ifndef TDM_WORDS_H
#define TDM_WORDS_H

#include <stddef.h>

#define TDM_WORDS_MAX 64

/*
 * Splits line into at most TDM_WORDS_MAX words, each malloc'd into argv
 * (NULL-terminated).  Returns the count, or TDM_ERR_INVAL for an unclosed
 * quote or a trailing backslash, TDM_ERR_RANGE for too many words.
 */
int tdm_words_split(const char *line, char **argv);
void tdm_words_free(char **argv);

#endif
