/* libFuzzer: SSH_ORIGINAL_COMMAND word splitting. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[TDM_WORDS_MAX + 1];
	char *line = malloc(size + 1);

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (tdm_words_split(line, argv) >= 0)
		tdm_words_free(argv);
	free(line);
	return 0;
}
