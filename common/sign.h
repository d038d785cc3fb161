/*
 * sign.h: the bastion's signing key and OpenSSH SSHSIG signatures.
 *
 * The key is an OpenSSH ed25519 private key file, as `ssh-keygen -t ed25519
 * -N ''` makes it (openssh-key-v1, unencrypted).  Signatures are SSHSIG
 * blobs (OpenSSH PROTOCOL.sshsig, hash sha512), so `ssh-keygen -Y verify`
 * checks them as well as tandem does.  The private key is held only inside
 * the struct, and wiped when it is freed.
 */
#ifndef TDM_SIGN_H
#define TDM_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TDM_SIGN_NAMESPACE "tandem-recording"
#define TDM_ED25519_PUB 32
/* "SHA256:" and 43 base64 digits, as ssh-keygen -l shows it. */
#define TDM_FINGERPRINT_SIZE 64

struct tdm_signer;
struct stat;

/*
 * 0 when a private key file (what: "signing key", "identity") is the
 * bastion's alone: no access for others, no writing for its group, and
 * reading for its group only when that is the reader's own group (the
 * tandem account's, not the escorts').  Else TDM_ERR_DENIED and why.
 */
int tdm_key_file_private(const char *what, const char *path,
			 const struct stat *st, char *why, size_t why_size);

/*
 * Reads an unencrypted OpenSSH ed25519 private key file and checks it by
 * signing once (which also makes the crypto library load what it needs
 * before a sandbox closes the file system).  On failure why (when not
 * NULL) gets a sentence naming the file and the fix.
 */
int tdm_signer_load_why(const char *path, struct tdm_signer **out, char *why,
			size_t why_size);
int tdm_signer_load(const char *path, struct tdm_signer **out);
/* The public key as one OpenSSH line: "ssh-ed25519 AAAA... [comment]". */
const char *tdm_signer_pubkey(const struct tdm_signer *s);
/* Appends the SSHSIG blob (binary, not armored) signing msg to out. */
int tdm_signer_sign(const struct tdm_signer *s, const char *namespace_,
		    const void *msg, size_t len, struct tdm_buf *out);
/* Wipes the key and frees it; NULL is fine. */
void tdm_signer_free(struct tdm_signer *s);

/*
 * Checks an SSHSIG blob over msg in namespace_.  0 when the signature is
 * good (pub gets the signer's ed25519 key); TDM_ERR_INVAL when the blob is
 * malformed or not ed25519/sha512 or for another namespace;
 * TDM_ERR_DENIED when the signature does not match.
 */
int tdm_sshsig_verify(const uint8_t *blob, size_t len, const char *namespace_,
		      const void *msg, size_t msg_len,
		      uint8_t pub[TDM_ED25519_PUB]);
/* Appends the armored form (-----BEGIN SSH SIGNATURE-----...) to out. */
int tdm_sshsig_armor(const uint8_t *blob, size_t len, struct tdm_buf *out);

/*
 * Reads the key from an OpenSSH public key line "ssh-ed25519 BASE64
 * [comment]".  *end (when not NULL) is set after the base64 field, so an
 * allowed_signers line can be read key by key.
 */
int tdm_pubkey_parse(const char *line, uint8_t pub[TDM_ED25519_PUB],
		     const char **end);
/* The one-line form of pub, no comment, into out. */
int tdm_pubkey_format(const uint8_t pub[TDM_ED25519_PUB], struct tdm_buf *out);
/* "SHA256:..." as ssh-keygen -l prints it. */
void tdm_pubkey_fingerprint(const uint8_t pub[TDM_ED25519_PUB],
			    char out[TDM_FINGERPRINT_SIZE]);

#endif
