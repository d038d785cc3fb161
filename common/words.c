/* words.c: POSIX-style word splitting without expansion; see words.h. */
#include "words.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

void tdm_words_free(char **argv)
{
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

static int finish(struct tdm_buf *w, char **argv, int *n)
{
	char *copy;

	if (*n == TDM_WORDS_MAX)
		return TDM_ERR_RANGE;
	copy = malloc(w->len + 1);
	if (copy == NULL)
		return TDM_ERR_NOMEM;
	if (w->len > 0)
		memcpy(copy, w->data, w->len);
	copy[w->len] = '\0';
	argv[(*n)++] = copy;
	argv[*n] = NULL;
	tdm_buf_reset(w);
	return 0;
}

int tdm_words_split(const char *line, char **argv)
{
	struct tdm_buf w;
	bool in_word = false;
	const char *p = line;
	int n = 0, rc = 0;

	argv[0] = NULL;
	tdm_buf_init(&w, 64 * 1024);
	while (*p != '\0' && rc == 0) {
		char c = *p++;

		if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word)
				rc = finish(&w, argv, &n);
			in_word = false;
			continue;
		}
		in_word = true;
		if (c == '\\') {
			if (*p == '\0')
				rc = TDM_ERR_INVAL;
			else if (*p == '\n')
				p++;
			else
				rc = tdm_buf_putc(&w, (uint8_t)*p++);
		} else if (c == '\'') {
			while (*p != '\0' && *p != '\'' && rc == 0)
				rc = tdm_buf_putc(&w, (uint8_t)*p++);
			if (*p != '\'')
				rc = rc ? rc : TDM_ERR_INVAL;
			else
				p++;
		} else if (c == '"') {
			while (*p != '\0' && *p != '"' && rc == 0) {
				if (*p == '\\' && p[1] != '\0' &&
				    (p[1] == '"' || p[1] == '\\' ||
				     p[1] == '$' || p[1] == '`')) {
					p++;
				} else if (*p == '\\' && p[1] == '\n') {
					p += 2;
					continue;
				}
				rc = tdm_buf_putc(&w, (uint8_t)*p++);
			}
			if (*p != '"')
				rc = rc ? rc : TDM_ERR_INVAL;
			else
				p++;
		} else {
			rc = tdm_buf_putc(&w, (uint8_t)c);
		}
	}
	if (rc == 0 && in_word)
		rc = finish(&w, argv, &n);
	tdm_buf_free(&w);
	if (rc < 0) {
		tdm_words_free(argv);
		return rc;
	}
	return n;
}
