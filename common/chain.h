/*
 * chain.h: the recording's hash chain and seal (SPEC "Recording format").
 *
 * After every zstd frame the writer puts a link frame, a zstd skippable
 * frame holding
 *
 *     link_n = SHA-256(link_{n-1} || every byte since link frame n-1 ||
 *                      le64(n) || le64(time_us))
 *
 * where link_{-1} is SHA-256("tandem-recording chain v1") and link 0
 * covers the header frame.  At the end, a seal frame holds an SSHSIG
 * signature (namespace "tandem-recording") over the last link written as
 * 64 lowercase hex digits.  docs/recording.md gives the byte layout.
 */
#ifndef TDM_CHAIN_H
#define TDM_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct tdm_cast;
struct tdm_signer;

/* zstd skippable frame magics (0x184D2A50..5F); 0x5E is zstd's seekable. */
#define TDM_CHAIN_LINK_MAGIC 0x184D2A54u
#define TDM_CHAIN_SEAL_MAGIC 0x184D2A55u
#define TDM_CHAIN_SEED "tandem-recording chain v1"
#define TDM_LINK_SIZE 32
/* counter, time, link */
#define TDM_LINK_PAYLOAD (8 + 8 + TDM_LINK_SIZE)
/* magic, size, payload */
#define TDM_LINK_FRAME (8 + TDM_LINK_PAYLOAD)
#define TDM_SEAL_MAX 4096
/*
 * The seal's payload with an ed25519 key: "SSHSIG", version, public key
 * blob (4 + 51), namespace (4 + 16), reserved (4), "sha512" (4 + 6),
 * signature blob (4 + 83).  A seal frame of any other size was altered.
 */
#define TDM_SEAL_SIZE 186

/* ---- writing ------------------------------------------------------------ */

struct tdm_chain;

/*
 * Attaches a chain to a writer just made (no event recorded yet): link 0
 * over the header frame is written and synced now, and from then on every
 * frame the writer closes goes out in the same write(2) as its link.
 * signer may be NULL: the recording is chained but can never be sealed.
 */
int tdm_chain_attach(struct tdm_cast *c, struct tdm_signer *signer,
		     struct tdm_chain **out);
/*
 * Writes out what the writer holds (tdm_cast_flush), then the seal frame
 * over the last link, and syncs.  The seal is the end of the recording:
 * any frame the writer would close after it fails (TDM_ERR_INVAL).  Call
 * tdm_cast_close after it.
 */
int tdm_chain_seal(struct tdm_chain *ch, struct tdm_cast *c);
/* Links written so far (link 0 included). */
uint64_t tdm_chain_links(const struct tdm_chain *ch);
void tdm_chain_free(struct tdm_chain *ch);

/* ---- shared with the reader --------------------------------------------- */

/* Computes links: begin with the previous link, feed bytes, end. */
struct tdm_link_hash {
	EVP_MD_CTX *md;
};

int tdm_link_hash_init(struct tdm_link_hash *h);
void tdm_link_hash_free(struct tdm_link_hash *h);
/* prev NULL: link_{-1}, the seed. */
int tdm_link_hash_begin(struct tdm_link_hash *h, const uint8_t *prev);
int tdm_link_hash_update(struct tdm_link_hash *h, const void *p, size_t n);
int tdm_link_hash_end(struct tdm_link_hash *h, uint64_t counter,
		      uint64_t time_us, uint8_t link[TDM_LINK_SIZE]);

/* The whole link frame (TDM_LINK_FRAME bytes) into out. */
void tdm_link_frame_encode(uint8_t out[TDM_LINK_FRAME], uint64_t counter,
			   uint64_t time_us, const uint8_t link[TDM_LINK_SIZE]);
/* A link frame's payload (after magic and size); TDM_ERR_INVAL if the
 * size is wrong. */
int tdm_link_payload_decode(const uint8_t *p, size_t n, uint64_t *counter,
			    uint64_t *time_us, uint8_t link[TDM_LINK_SIZE]);
/* 64 lowercase hex digits and a NUL: the message the seal signs. */
void tdm_link_hex(const uint8_t link[TDM_LINK_SIZE], char hex[65]);

#endif
