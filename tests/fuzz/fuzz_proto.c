/* libFuzzer: escort socket messages from an untrusted peer. */
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_msg m;
	size_t off = 0, used;

	while (off < size &&
	       tdm_proto_parse(data + off, size - off, &m, &used) == 1) {
		(void)tdm_msg_str(&m, "escort");
		(void)tdm_msg_int(&m, "seq");
		tdm_msg_clear(&m);
		off += used;
	}
	return 0;
}
