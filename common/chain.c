/*
 * chain.c: hash chain links and the seal, computed as frames are written.
 *
 * The writer's frame hook hashes each frame as zio hands it over and adds
 * the link frame as a trailer, so a frame and its link reach the file in
 * one write(2).  This file must never let a frame reach the file
 * unhashed: if a link cannot be made the frame fails, and the writer's
 * failure is sticky (the recording fails closed).  Nothing follows a seal.
 */
#include "chain.h"
#include "cast.h"
#include "err.h"
#include "sign.h"
#include "zio.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

struct tdm_chain {
	struct tdm_link_hash hash; /* running: prev link, frames since */
	uint8_t link[TDM_LINK_SIZE];
	uint64_t count; /* links made */
	struct tdm_cast *cast;
	struct tdm_zio *zio;
	struct tdm_signer *signer;
	int live; /* links go out as zio trailers */
	uint8_t frame[TDM_LINK_FRAME];
};

/* ---- link arithmetic ------------------------------------------------------ */

static void le64(uint8_t *o, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		o[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void le32(uint8_t *o, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		o[i] = (uint8_t)(v >> (8 * i));
}

int tdm_link_hash_init(struct tdm_link_hash *h)
{
	h->md = EVP_MD_CTX_new();
	return h->md == NULL ? TDM_ERR_NOMEM : 0;
}

void tdm_link_hash_free(struct tdm_link_hash *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

int tdm_link_hash_begin(struct tdm_link_hash *h, const uint8_t *prev)
{
	uint8_t seed[TDM_LINK_SIZE];

	if (prev == NULL) {
		if (!EVP_Digest(TDM_CHAIN_SEED, strlen(TDM_CHAIN_SEED), seed,
				NULL, EVP_sha256(), NULL))
			return TDM_ERR_CRYPTO;
		prev = seed;
	}
	if (EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(h->md, prev, TDM_LINK_SIZE) != 1)
		return TDM_ERR_CRYPTO;
	return 0;
}

int tdm_link_hash_update(struct tdm_link_hash *h, const void *p, size_t n)
{
	if (n > 0 && EVP_DigestUpdate(h->md, p, n) != 1)
		return TDM_ERR_CRYPTO;
	return 0;
}

int tdm_link_hash_end(struct tdm_link_hash *h, uint64_t counter,
		      uint64_t time_us, uint8_t link[TDM_LINK_SIZE])
{
	uint8_t tail[16];
	unsigned int n = 0;

	/* Counter and time are in the hash, so neither can be altered. */
	le64(tail, counter);
	le64(tail + 8, time_us);
	if (EVP_DigestUpdate(h->md, tail, sizeof(tail)) != 1 ||
	    EVP_DigestFinal_ex(h->md, link, &n) != 1 || n != TDM_LINK_SIZE)
		return TDM_ERR_CRYPTO;
	return 0;
}

void tdm_link_frame_encode(uint8_t out[TDM_LINK_FRAME], uint64_t counter,
			   uint64_t time_us, const uint8_t link[TDM_LINK_SIZE])
{
	le32(out, TDM_CHAIN_LINK_MAGIC);
	le32(out + 4, TDM_LINK_PAYLOAD);
	le64(out + 8, counter);
	le64(out + 16, time_us);
	memcpy(out + 24, link, TDM_LINK_SIZE);
}

int tdm_link_payload_decode(const uint8_t *p, size_t n, uint64_t *counter,
			    uint64_t *time_us, uint8_t link[TDM_LINK_SIZE])
{
	if (n != TDM_LINK_PAYLOAD)
		return TDM_ERR_INVAL;
	*counter = get_le64(p);
	*time_us = get_le64(p + 8);
	memcpy(link, p + 16, TDM_LINK_SIZE);
	return 0;
}

void tdm_link_hex(const uint8_t link[TDM_LINK_SIZE], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < TDM_LINK_SIZE; i++) {
		hex[2 * i] = digits[link[i] >> 4];
		hex[2 * i + 1] = digits[link[i] & 15];
	}
	hex[64] = '\0';
}

/* ---- the writer's chain ----------------------------------------------------- */

/* Ends the running link with time t and starts the next from it. */
static int chain_next_link(struct tdm_chain *ch, uint64_t t)
{
	int rc;

	rc = tdm_link_hash_end(&ch->hash, ch->count, t, ch->link);
	if (rc < 0)
		return rc;
	tdm_link_frame_encode(ch->frame, ch->count, t, ch->link);
	ch->count++;
	return tdm_link_hash_begin(&ch->hash, ch->link);
}

/* The frame hook: hash the frame, send its link right behind it. */
static int chain_on_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct tdm_chain *ch = ctx;
	uint64_t t;
	int rc;

	rc = tdm_link_hash_update(&ch->hash, frame, len);
	if (rc < 0)
		return rc;
	/* The header frame is link 0, at time 0. */
	t = ch->count == 0 ? 0 : tdm_cast_last_event_us(ch->cast);
	rc = chain_next_link(ch, t);
	if (rc < 0)
		return rc;
	if (!ch->live)
		return 0;
	return tdm_zio_add_trailer(ch->zio, ch->frame, sizeof(ch->frame));
}

/* Installed after the seal: a frame after it would break the recording. */
static int chain_sealed(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx;
	(void)frame;
	(void)len;
	return TDM_ERR_INVAL;
}

int tdm_chain_attach(struct tdm_cast *c, struct tdm_signer *signer,
		     struct tdm_chain **out)
{
	struct tdm_chain *ch;
	int rc;

	if (c == NULL || out == NULL)
		return TDM_ERR_INVAL;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return TDM_ERR_NOMEM;
	ch->cast = c;
	ch->zio = tdm_cast_zio(c);
	ch->signer = signer;
	rc = tdm_link_hash_init(&ch->hash);
	if (rc == 0)
		rc = tdm_link_hash_begin(&ch->hash, NULL);
	if (rc < 0)
		goto err;
	/* Replays the header frame to the hook: that makes link 0. */
	rc = tdm_cast_set_frame_hook(c, chain_on_frame, ch);
	if (rc < 0)
		goto err;
	if (ch->count != 1) {
		rc = TDM_ERR_INVAL;
		goto err_unhook;
	}
	rc = tdm_zio_write_raw(ch->zio, ch->frame, sizeof(ch->frame), 1);
	if (rc < 0)
		goto err_unhook;
	ch->live = 1;
	*out = ch;
	return 0;

err_unhook:
	tdm_zio_set_frame_hook(ch->zio, NULL, NULL);
err:
	tdm_link_hash_free(&ch->hash);
	free(ch);
	return rc;
}

int tdm_chain_seal(struct tdm_chain *ch, struct tdm_cast *c)
{
	struct tdm_buf frame;
	char hex[65];
	size_t sig_len;
	int rc;

	if (ch == NULL || c != ch->cast)
		return TDM_ERR_INVAL;
	if (ch->signer == NULL)
		return TDM_ERR_NOTFOUND;
	rc = tdm_cast_flush(c);
	if (rc < 0)
		return rc;
	tdm_link_hex(ch->link, hex);
	tdm_buf_init(&frame, 0);
	/* Magic and size first; the size is filled in once known. */
	rc = tdm_buf_put(&frame, "\0\0\0\0\0\0\0\0", 8);
	if (rc == 0)
		rc = tdm_signer_sign(ch->signer, TDM_SIGN_NAMESPACE, hex, 64,
				     &frame);
	if (rc < 0)
		goto out;
	sig_len = frame.len - 8;
	if (sig_len > TDM_SEAL_MAX) {
		rc = TDM_ERR_RANGE;
		goto out;
	}
	le32(frame.data, TDM_CHAIN_SEAL_MAGIC);
	le32(frame.data + 4, (uint32_t)sig_len);
	rc = tdm_zio_write_raw(ch->zio, frame.data, frame.len, 1);
	if (rc == 0)
		tdm_zio_set_frame_hook(ch->zio, chain_sealed, NULL);
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	tdm_buf_free(&frame);
	return rc;
}

uint64_t tdm_chain_links(const struct tdm_chain *ch)
{
	return ch->count;
}

void tdm_chain_free(struct tdm_chain *ch)
{
	if (ch == NULL)
		return;
	tdm_link_hash_free(&ch->hash);
	free(ch);
}
