/*
 * trust.h: the keys an investigator trusts to have sealed recordings.
 *
 * A seal proves that whoever held the key named in the header signed the
 * chain.  Pinning says which keys may: a plain list of public keys (any of
 * them for any recording), or ssh-keygen's allowed_signers format, where a
 * key is trusted only for the bastions (header "bastion") its principals
 * match, and only when its namespaces (if listed) include
 * "tandem-recording".
 */
#ifndef TDM_TRUST_H
#define TDM_TRUST_H

#include <stddef.h>
#include <stdint.h>

struct tdm_trust;

/*
 * Add the keys in path to *trust (made on first use).  -1 with why set
 * (naming the file, line and fix) when the file cannot be read or holds a
 * damaged key.
 */
int tdm_trust_add_keys(struct tdm_trust **trust, const char *path, char *why,
		       size_t why_size);
int tdm_trust_add_allowed_signers(struct tdm_trust **trust, const char *path,
				  char *why, size_t why_size);
/* 1 when pub may seal recordings of bastion whose session started then
 * (seconds since 1970; allowed-signers' valid-after and valid-before),
 * else 0 (also for NULL). */
int tdm_trust_check(const struct tdm_trust *trust, const uint8_t *pub,
		    const char *bastion, int64_t started);
void tdm_trust_free(struct tdm_trust *trust);

#endif
