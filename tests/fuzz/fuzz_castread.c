/*
 * fuzz_castread.c: libFuzzer target for the recording reader (frames,
 * chain, seal, asciicast events).
 *
 * Any bytes must give events and a verdict: no crash, no leak, no read
 * past what was checked, memory bounded.  Seeds are in
 * tests/fuzz/corpus/castread/ (small real recordings: sealed, unsealed,
 * cut off, with non-UTF-8 output).
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "castread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_castread *r;
	struct tdm_event ev;
	struct tdm_verify v;
	volatile size_t sum = 0;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		goto out;
	if (tdm_castread_open(fd, "fuzz.cast.zst", &r) < 0)
		goto out;
	(void)tdm_castread_header(r);
	while (tdm_castread_next(r, &ev) == 1) {
		/* Touch every byte the reader hands out. */
		if (ev.len > 0)
			sum += ev.bytes[0] + ev.bytes[ev.len - 1];
		if (ev.text_len > 0)
			sum += (uint8_t)ev.text[ev.text_len - 1];
	}
	tdm_castread_verify(r, &v);
	tdm_castread_free(r);
out:
	close(fd);
	return 0;
}
