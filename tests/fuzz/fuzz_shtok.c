/* libFuzzer: the shell tokenizer the risk rules see commands through. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shtok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_sh_parts p;
	size_t i, total = 0;

	if (tdm_sh_parts(data, size, &p) < 0)
		return 0;
	/* Every part is a whole string within the bounds. */
	for (i = 0; i < p.n; i++)
		total += strlen(p.v[i]);
	if (p.n == 0 || p.n > TDM_SH_MAX_PARTS + 1 ||
	    total > 2 * (size_t)TDM_SH_MAX_BYTES)
		__builtin_trap();
	tdm_sh_parts_free(&p);
	return 0;
}
