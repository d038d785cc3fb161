/*
 * fuzz_policy.c: libFuzzer target for the policy parser.
 *
 * Any bytes must give either a policy or a list of messages: no crash, no
 * leak, no read past the input, no hang on a hostile regular expression.
 * Seeds are in tests/fuzz/corpus/policy/.
 */
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdm_policy *p = NULL;
	struct tdm_diag diag = { 0 };
	size_t i;

	if (tdm_policy_parse((const char *)data, size, "fuzz.conf", &p,
			     &diag) == 0) {
		/* A policy that loads must answer questions without harm. */
		for (i = 0; i < p->nengineers; i++)
			(void)tdm_policy_grants(&p->engineers[i], "db01");
		for (i = 0; i < p->ntargets; i++)
			(void)tdm_policy_meets(
				&p->targets[i], TDM_REQ_ENGINEER,
				p->nengineers ? p->engineers : NULL, NULL);
		tdm_policy_free(p);
	}
	tdm_diag_free(&diag);
	return 0;
}
