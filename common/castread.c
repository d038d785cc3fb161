/*
 * castread.c: reading a recording: frames, chain, seal and events.
 *
 * Everything here reads hostile bytes.  This file must never read past
 * what it has checked is there, never hold more than one frame (bounded)
 * and one event line (bounded) in memory, and never call a recording
 * intact that the chain does not prove: a frame is trusted only once a
 * link after it matches, and only a seal over the last link by the
 * header's key makes the recording sealed.
 */
#include "castread.h"
#include "base64.h"
#include "buf.h"
#include "err.h"
#include "visible.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#define CR_CHUNK (1u << 20)
#define CR_ZSTD_MAGIC 0xFD2FB528u
#define CR_SKIP_MASK 0xFFFFFFF0u
#define CR_SKIP_START 0x184D2A50u
#define CR_BLOCK_MAX (128u * 1024u)
#define CR_OUT_CHUNK (256u * 1024u)
/* Largest zstd window a reader accepts: the writer uses far less. */
#define CR_WINDOW_LOG_MAX 24
/* Event times above this (about 31 years) are not believed. */
#define CR_TIME_MAX 1e9

struct frame {
	enum tdm_frame_kind kind;
	uint64_t index;
	uint64_t offset;
	size_t len; /* whole frame, magic included */
};

/* An event line, parsed: its data decoded from JSON into data. */
struct parsed {
	uint64_t t_us;
	char code;
	struct tdm_buf data;
	uint64_t frame;
};

struct tdm_castread {
	int fd;
	char *name;

	/* The read window: buf[start..end) is file bytes from off on. */
	uint8_t *buf;
	size_t cap, start, end;
	uint64_t off;
	int eof;
	size_t cur_len; /* the current frame, at buf[start] */
	uint32_t magic; /* of the frame being read, 0 if unknown */
	struct frame cur;
	uint64_t nframes;
	int done; /* no more frames can be read */

	/* The chain as read so far. */
	struct tdm_link_hash hash;
	int hash_ok;
	uint8_t prev[TDM_LINK_SIZE];
	uint64_t keep;		     /* tdm_castread_keep_link's k */
	uint8_t kept[TDM_LINK_SIZE]; /* and that link, once matched */
	int kept_ok;
	uint64_t pending; /* frames since the last link */
	uint64_t pending_index, pending_offset;
	int seal_seen;
	int tampered;
	int tail_bad; /* bytes after the last frame are not one */
	int torn;     /* the file ends inside a frame */
	uint64_t tail_offset;
	struct tdm_verify v;

	/* Decoding. */
	ZSTD_DCtx *dctx;
	int in_data; /* cur is a data frame not yet decoded */
	size_t in_pos;
	uint64_t dec_frame;
	struct tdm_buf text; /* decompressed, from text_pos on unread */
	size_t text_pos;
	size_t scan_pos;	 /* no newline in text[text_pos..scan_pos) */
	int skipping;		 /* dropping an over-long line */
	struct parsed ev, ahead; /* the event handed out, the next */
	int have_ahead;
	struct tdm_buf exact;

	int header_tried;
	struct tdm_rec_header header;
	char header_why[320];

	uint64_t problems;
	char problem[320];
};

/* ---- messages ------------------------------------------------------------ */

static void problem(struct tdm_castread *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct tdm_castread *r, const char *fmt, ...)
{
	va_list ap;

	if (r->problems++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
	va_end(ap);
}

static void tamper(struct tdm_castread *r, uint64_t index, uint64_t offset,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records the first sign of tampering; the chain is not followed after. */
static void tamper(struct tdm_castread *r, uint64_t index, uint64_t offset,
		   const char *fmt, ...)
{
	va_list ap;

	if (r->tampered)
		return;
	r->tampered = 1;
	r->v.bad_frame = index;
	r->v.bad_offset = offset;
	va_start(ap, fmt);
	vsnprintf(r->v.why, sizeof(r->v.why), fmt, ap);
	va_end(ap);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- the read window ------------------------------------------------------- */

/*
 * Makes need bytes from buf[start] available.  TDM_ERR_TRUNCATED when
 * the file ends first.  need never exceeds the frame bound, so the window
 * never grows past it and a chunk.
 */
static int cr_ensure(struct tdm_castread *r, size_t need)
{
	size_t cap;
	ssize_t got;
	uint8_t *p;

	while (r->end - r->start < need) {
		if (r->eof)
			return TDM_ERR_TRUNCATED;
		if (r->cap - r->end < CR_CHUNK && r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < CR_CHUNK) {
			cap = r->end + CR_CHUNK;
			if (cap < need + CR_CHUNK)
				cap = need + CR_CHUNK;
			p = realloc(r->buf, cap);
			if (p == NULL)
				return TDM_ERR_NOMEM;
			r->buf = p;
			r->cap = cap;
		}
		/* pread: the file is read from its start whatever the fd's
		 * offset, and cr_more_frames_after can look ahead. */
		got = pread(r->fd, r->buf + r->end, r->cap - r->end,
			    (off_t)(r->off + (r->end - r->start)));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			problem(r, "%s: read error at byte %llu: %s", r->name,
				(unsigned long long)(r->off + r->end -
						     r->start),
				strerror(errno));
			return TDM_ERR_IO;
		}
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
	}
	return 0;
}

/*
 * Length of the zstd frame at buf[start], found from its header and
 * block headers without decompressing (RFC 8878 section 3.1.1).
 */
static int cr_zstd_frame_len(struct tdm_castread *r, size_t *len)
{
	static const uint8_t fcs_size[4] = { 0, 2, 4, 8 };
	static const uint8_t did_size[4] = { 0, 1, 2, 4 };
	uint8_t fhd, *p;
	size_t pos, block;
	uint32_t bh;
	int rc;

	rc = cr_ensure(r, 5);
	if (rc < 0)
		return rc;
	fhd = r->buf[r->start + 4];
	if (fhd & 0x08)
		return TDM_ERR_INVAL; /* reserved bit */
	pos = 5;
	if (!(fhd & 0x20))
		pos++; /* window descriptor */
	pos += did_size[fhd & 3];
	pos += (fhd >> 6) == 0 && (fhd & 0x20) ? 1 : fcs_size[fhd >> 6];
	for (;;) {
		rc = cr_ensure(r, pos + 3);
		if (rc < 0)
			return rc;
		p = r->buf + r->start + pos;
		bh = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		     (uint32_t)p[2] << 16;
		if (((bh >> 1) & 3) == 3)
			return TDM_ERR_INVAL; /* reserved block type */
		block = bh >> 3;
		if (block > CR_BLOCK_MAX)
			return TDM_ERR_INVAL;
		if (((bh >> 1) & 3) == 1)
			block = 1; /* RLE: one byte repeated */
		pos += 3 + block;
		if (pos > TDM_CASTREAD_FRAME_MAX)
			return TDM_ERR_RANGE;
		if (bh & 1)
			break;
	}
	if (fhd & 0x04)
		pos += 4; /* content checksum */
	rc = cr_ensure(r, pos);
	if (rc < 0)
		return rc;
	*len = pos;
	return 0;
}

/* ---- the chain ----------------------------------------------------------- */

static double secs(uint64_t us)
{
	return (double)us / 1e6;
}

static void chain_link(struct tdm_castread *r, const uint8_t *p, size_t len)
{
	uint8_t link[TDM_LINK_SIZE], want[TDM_LINK_SIZE];
	uint64_t counter, t;

	if (tdm_link_payload_decode(p + 8, len - 8, &counter, &t, link) < 0) {
		tamper(r, r->cur.index, r->cur.offset,
		       "link frame %llu at "
		       "byte %llu has the wrong size (%zu bytes)",
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset, len);
		return;
	}
	if (r->pending == 0) {
		tamper(r, r->cur.index, r->cur.offset,
		       "link frame %llu at "
		       "byte %llu follows no frame: a frame before it was "
		       "deleted or a link repeated (after %.6f s)",
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset, secs(r->v.good_us));
		return;
	}
	if (counter != r->v.links) {
		tamper(r, r->pending_index, r->pending_offset,
		       "frame %llu at "
		       "byte %llu (after %.6f s) is out of place: link %llu "
		       "comes where link %llu belongs; frames were deleted, "
		       "moved or inserted",
		       (unsigned long long)r->pending_index,
		       (unsigned long long)r->pending_offset,
		       secs(r->v.good_us), (unsigned long long)counter,
		       (unsigned long long)r->v.links);
		return;
	}
	if (!r->hash_ok || tdm_link_hash_end(&r->hash, counter, t, want) < 0 ||
	    memcmp(want, link, sizeof(want)) != 0 || t < r->v.good_us) {
		tamper(r, r->pending_index, r->pending_offset,
		       "frame %llu at "
		       "byte %llu (after %.6f s) does not match chain link "
		       "%llu: it was changed, replaced or moved",
		       (unsigned long long)r->pending_index,
		       (unsigned long long)r->pending_offset,
		       secs(r->v.good_us), (unsigned long long)counter);
		return;
	}
	memcpy(r->prev, link, sizeof(link));
	memcpy(r->v.good_link, link, sizeof(link));
	r->v.links++;
	if (r->v.links == r->keep) {
		memcpy(r->kept, link, sizeof(link));
		r->kept_ok = 1;
	}
	r->v.good_us = t;
	r->v.good_bytes = r->cur.offset + len;
	r->v.good_frames = r->cur.index + 1;
	r->pending = 0;
	r->hash_ok = tdm_link_hash_begin(&r->hash, r->prev) == 0;
}

static void chain_seal(struct tdm_castread *r, const uint8_t *p, size_t len)
{
	const struct tdm_rec_header *h;
	uint8_t header_key[TDM_ED25519_PUB];
	char hex[65], fp1[TDM_FINGERPRINT_SIZE], fp2[TDM_FINGERPRINT_SIZE];
	int rc;

	if (r->pending > 0 || r->v.links == 0) {
		tamper(r, r->cur.index, r->cur.offset,
		       "seal frame %llu at "
		       "byte %llu does not follow a chain link: what comes "
		       "before it is not sealed",
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset);
		return;
	}
	tdm_link_hex(r->prev, hex);
	rc = tdm_sshsig_verify(p + 8, len - 8, TDM_SIGN_NAMESPACE, hex, 64,
			       r->v.signer);
	if (rc == TDM_ERR_DENIED) {
		tamper(r, r->cur.index, r->cur.offset,
		       "the seal (frame %llu) "
		       "does not sign this recording's chain: content was "
		       "changed after sealing or the seal was copied from "
		       "another recording",
		       (unsigned long long)r->cur.index);
		return;
	}
	if (rc < 0) {
		tamper(r, r->cur.index, r->cur.offset,
		       "the seal (frame %llu "
		       "at byte %llu) is not an ed25519 SSHSIG signature in "
		       "namespace " TDM_SIGN_NAMESPACE,
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset);
		return;
	}
	h = r->header.json != NULL ? &r->header : NULL;
	if (h == NULL || h->pubkey == NULL ||
	    tdm_pubkey_parse(h->pubkey, header_key, NULL) < 0) {
		tamper(r, 0, 0,
		       "the header names no ed25519 signing key, yet "
		       "the recording is sealed");
		return;
	}
	if (memcmp(header_key, r->v.signer, sizeof(header_key)) != 0) {
		tdm_pubkey_fingerprint(r->v.signer, fp1);
		tdm_pubkey_fingerprint(header_key, fp2);
		tamper(r, r->cur.index, r->cur.offset,
		       "sealed by key %s but "
		       "the header names key %s",
		       fp1, fp2);
		return;
	}
	r->seal_seen = 1;
	r->v.sealed = 1;
	memcpy(r->v.last_link, hex, sizeof(hex));
	memcpy(r->v.seal, p + 8, len - 8);
	r->v.seal_len = len - 8;
}

/* Follows the chain over the frame just read (buf[start], cur_len). */
static void chain_feed(struct tdm_castread *r)
{
	const uint8_t *p = r->buf + r->start;

	r->v.frames++;
	if (r->tampered)
		return;
	if (r->seal_seen) {
		r->v.sealed = 0;
		tamper(r, r->cur.index, r->cur.offset,
		       "frame %llu at byte "
		       "%llu comes after the seal: it was appended",
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset);
		return;
	}
	if (r->cur.index == 0 && r->cur.kind != TDM_FRAME_DATA) {
		tamper(r, 0, 0,
		       "it does not start with a header frame; not a "
		       "tandem recording");
		return;
	}
	switch (r->cur.kind) {
	case TDM_FRAME_LINK:
		chain_link(r, p, r->cur_len);
		return;
	case TDM_FRAME_SEAL:
		chain_seal(r, p, r->cur_len);
		return;
	case TDM_FRAME_DATA:
		r->v.data_frames++;
		break;
	case TDM_FRAME_SKIP:
		tamper(r, r->cur.index, r->cur.offset,
		       "frame %llu at byte "
		       "%llu (after %.6f s) is a skippable frame of a kind "
		       "tandem never writes (magic 0x%08x)",
		       (unsigned long long)r->cur.index,
		       (unsigned long long)r->cur.offset, secs(r->v.good_us),
		       (unsigned)get_le32(p));
		return;
	}
	if (r->pending++ == 0) {
		r->pending_index = r->cur.index;
		r->pending_offset = r->cur.offset;
	}
	if (r->hash_ok)
		r->hash_ok = tdm_link_hash_update(&r->hash, p, r->cur_len) == 0;
}

/*
 * After bytes that are not a frame: a crash leaves a torn or zeroed tail,
 * but a link or seal after the damage means the recording goes on past
 * it, so the damage is in the middle.  Scans the rest with pread.
 */
static int cr_more_frames_after(struct tdm_castread *r, uint64_t from)
{
	static const uint8_t link_hdr[8] = {
		0x54, 0x2a, 0x4d, 0x18, TDM_LINK_PAYLOAD, 0, 0, 0
	};
	static const uint8_t seal_hdr[4] = { 0x55, 0x2a, 0x4d, 0x18 };
	uint8_t *chunk;
	size_t have = 0, i;
	ssize_t got;
	off_t at = (off_t)from;
	int found = 0;

	chunk = malloc(CR_CHUNK + 8);
	if (chunk == NULL)
		return 1; /* cannot tell: assume the worst */
	for (;;) {
		got = pread(r->fd, chunk + have, CR_CHUNK, at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		at += got;
		have += (size_t)got;
		for (i = 0; i + 8 <= have; i++) {
			if (memcmp(chunk + i, link_hdr, 8) == 0 ||
			    memcmp(chunk + i, seal_hdr, 4) == 0) {
				found = 1;
				goto out;
			}
		}
		/* Keep the last seven bytes: a match may span chunks. */
		if (have > 7) {
			memmove(chunk, chunk + have - 7, 7);
			have = 7;
		}
	}
	for (i = 0; i + 4 <= have; i++)
		if (memcmp(chunk + i, seal_hdr, 4) == 0)
			found = 1;
out:
	free(chunk);
	return found;
}

/* 1 when every byte of the file from `from` on is zero (or unreadable). */
static int cr_rest_is_zero(struct tdm_castread *r, uint64_t from)
{
	uint8_t chunk[65536];
	off_t at = (off_t)from;
	ssize_t got, i;

	for (;;) {
		got = pread(r->fd, chunk, sizeof(chunk), at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 1;
		for (i = 0; i < got; i++)
			if (chunk[i] != 0)
				return 0;
		at += got;
	}
}

/* The bytes at off are not a whole frame: decide what that means. */
static void cr_bad_tail(struct tdm_castread *r, int rc)
{
	r->done = 1;
	r->tail_bad = 1;
	r->tail_offset = r->off;
	/* Nothing is written after the seal, not even by a crash. */
	if (r->seal_seen) {
		r->v.sealed = 0;
		tamper(r, r->nframes, r->off,
		       "the bytes from %llu on come after the seal: they were "
		       "appended",
		       (unsigned long long)r->off);
		return;
	}
	/* The seal is written last, whole, after the chain is synced: a
	 * damaged or cut-off seal is not what a crash leaves. */
	if ((r->magic == TDM_CHAIN_SEAL_MAGIC && rc != TDM_ERR_TRUNCATED) ||
	    ((r->magic & CR_SKIP_MASK) == CR_SKIP_START &&
	     r->magic != TDM_CHAIN_LINK_MAGIC &&
	     r->magic != TDM_CHAIN_SEAL_MAGIC)) {
		tamper(r, r->nframes, r->off,
		       "frame %llu at byte %llu (after "
		       "%.6f s) is a damaged %s",
		       (unsigned long long)r->nframes,
		       (unsigned long long)r->off, secs(r->v.good_us),
		       r->magic == TDM_CHAIN_SEAL_MAGIC ?
			       "or cut-off seal" :
			       "skippable frame of a kind tandem never writes");
		return;
	}
	if (rc == TDM_ERR_TRUNCATED) {
		r->torn = 1;
		problem(r,
			"%s: the last %llu bytes (from byte %llu) are a "
			"cut-off frame",
			r->name, (unsigned long long)(r->end - r->start),
			(unsigned long long)r->off);
		/* A torn write holds no whole link after its start; a frame
		 * whose size was altered to swallow the rest does. */
		if (r->seal_seen || cr_more_frames_after(r, r->off + 1))
			tamper(r, r->nframes, r->off,
			       "frame %llu at byte "
			       "%llu (after %.6f s) is damaged and the "
			       "recording goes on after it",
			       (unsigned long long)r->nframes,
			       (unsigned long long)r->off, secs(r->v.good_us));
		return;
	}
	if (rc == TDM_ERR_IO || rc == TDM_ERR_NOMEM) {
		tamper(r, r->nframes, r->off,
		       "could not be read past byte "
		       "%llu (%s)",
		       (unsigned long long)r->off, tdm_strerror(rc));
		return;
	}
	problem(r,
		"%s: byte %llu does not start a readable zstd frame; the "
		"rest of the file cannot be read",
		r->name, (unsigned long long)r->off);
	if (r->nframes == 0) {
		tamper(r, 0, 0,
		       "it does not start with a zstd frame; not a "
		       "tandem recording");
		return;
	}
	/* A crash leaves a torn frame (read as cut off, above) or zeros;
	 * any other bytes that are not a frame were put there. */
	if (!cr_rest_is_zero(r, r->off))
		tamper(r, r->nframes, r->off,
		       "the bytes at %llu (after "
		       "%.6f s) are not a frame tandem writes: frame %llu is "
		       "damaged or the file was altered there",
		       (unsigned long long)r->off, secs(r->v.good_us),
		       (unsigned long long)r->nframes);
}

/*
 * Reads the next whole frame into buf[start..start+cur_len) and follows
 * the chain over it.  1: a frame (r->cur); 0: no more frames.
 */
static int cr_next_frame(struct tdm_castread *r)
{
	uint32_t magic, size;
	size_t len;
	int rc;

	if (r->done)
		return 0;
	r->start += r->cur_len;
	r->off += r->cur_len;
	r->cur_len = 0;
	r->in_data = 0;
	rc = cr_ensure(r, 1);
	if (rc == TDM_ERR_TRUNCATED) {
		r->done = 1;
		return 0;
	}
	if (rc == 0)
		rc = cr_ensure(r, 4);
	r->magic = 0;
	if (rc < 0)
		goto bad;
	magic = get_le32(r->buf + r->start);
	r->magic = magic;
	if (magic == CR_ZSTD_MAGIC) {
		r->cur.kind = TDM_FRAME_DATA;
		rc = cr_zstd_frame_len(r, &len);
		if (rc < 0)
			goto bad;
	} else if ((magic & CR_SKIP_MASK) == CR_SKIP_START) {
		rc = cr_ensure(r, 8);
		if (rc < 0)
			goto bad;
		size = get_le32(r->buf + r->start + 4);
		if (magic == TDM_CHAIN_LINK_MAGIC)
			r->cur.kind = TDM_FRAME_LINK;
		else if (magic == TDM_CHAIN_SEAL_MAGIC)
			r->cur.kind = TDM_FRAME_SEAL;
		else
			r->cur.kind = TDM_FRAME_SKIP;
		if ((r->cur.kind == TDM_FRAME_SEAL && size != TDM_SEAL_SIZE) ||
		    (r->cur.kind == TDM_FRAME_LINK &&
		     size != TDM_LINK_PAYLOAD) ||
		    size > TDM_CASTREAD_FRAME_MAX - 8) {
			rc = TDM_ERR_RANGE;
			goto bad;
		}
		len = 8 + (size_t)size;
		rc = cr_ensure(r, len);
		if (rc < 0)
			goto bad;
	} else {
		rc = TDM_ERR_INVAL;
		goto bad;
	}
	r->cur.index = r->nframes++;
	r->cur.offset = r->off;
	r->cur.len = len;
	r->cur_len = len;
	r->v.file_bytes = r->off + len;
	chain_feed(r);
	return 1;
bad:
	cr_bad_tail(r, rc);
	return 0;
}

/* ---- decoding ---------------------------------------------------------------- */

/*
 * Decompresses more of the current data frame into text.  A damaged
 * frame is dropped with a problem noted (and the partial line with it).
 */
static int cr_inflate(struct tdm_castread *r)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer outb;
	size_t ret;
	int rc;

	rc = tdm_buf_reserve(&r->text, CR_OUT_CHUNK);
	if (rc < 0)
		return rc;
	in.src = r->buf + r->start;
	in.size = r->cur_len;
	in.pos = r->in_pos;
	outb.dst = r->text.data + r->text.len;
	outb.size = CR_OUT_CHUNK;
	outb.pos = 0;
	ret = ZSTD_decompressStream(r->dctx, &outb, &in);
	r->in_pos = in.pos;
	if (ZSTD_isError(ret)) {
		problem(r,
			"%s: frame %llu at byte %llu is damaged (%s); its "
			"events are skipped",
			r->name, (unsigned long long)r->cur.index,
			(unsigned long long)r->cur.offset,
			ZSTD_getErrorName(ret));
		r->in_data = 0;
		ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
		/* The line being assembled is lost with the frame. */
		tdm_buf_reset(&r->text);
		r->text_pos = r->scan_pos = 0;
		return 0;
	}
	r->text.len += outb.pos;
	r->text.data[r->text.len] = '\0';
	if (ret == 0) {
		r->in_data = 0;
		if (in.pos != in.size)
			problem(r,
				"%s: frame %llu at byte %llu has bytes after "
				"its end",
				r->name, (unsigned long long)r->cur.index,
				(unsigned long long)r->cur.offset);
	} else if (in.pos == in.size && outb.pos == 0) {
		problem(r, "%s: frame %llu at byte %llu ends early", r->name,
			(unsigned long long)r->cur.index,
			(unsigned long long)r->cur.offset);
		r->in_data = 0;
		ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	}
	return 0;
}

/*
 * The next line of asciicast text (without its newline): 1 and
 * *line and *len, or 0 at the end of what can be read.
 */
static int cr_next_line(struct tdm_castread *r, const char **line, size_t *len)
{
	uint8_t *nl;
	size_t n;
	int rc;

	for (;;) {
		n = r->text.len - r->scan_pos;
		nl = n > 0 ? memchr(r->text.data + r->scan_pos, '\n', n) : NULL;
		if (nl != NULL) {
			size_t at = (size_t)(nl - r->text.data);

			if (r->skipping) {
				r->skipping = 0;
				r->text_pos = r->scan_pos = at + 1;
				continue;
			}
			*line = (const char *)r->text.data + r->text_pos;
			*len = at - r->text_pos;
			r->text_pos = r->scan_pos = at + 1;
			return 1;
		}
		r->scan_pos = r->text.len;
		if (r->text.len - r->text_pos > TDM_CASTREAD_LINE_MAX) {
			if (!r->skipping)
				problem(r,
					"%s: an event line in frame %llu is "
					"longer than %u bytes; it is skipped",
					r->name,
					(unsigned long long)r->dec_frame,
					TDM_CASTREAD_LINE_MAX);
			r->skipping = 1;
			r->text_pos = r->text.len;
		}
		/* Consumed text goes, so the buffer holds one line at most. */
		if (r->text_pos > 0) {
			tdm_buf_consume(&r->text, r->text_pos);
			r->scan_pos -= r->text_pos;
			r->text_pos = 0;
		}
		if (r->in_data) {
			rc = cr_inflate(r);
			if (rc < 0) {
				problem(r, "%s: %s while reading frame %llu",
					r->name, tdm_strerror(rc),
					(unsigned long long)r->dec_frame);
				return 0;
			}
			continue;
		}
		if (cr_next_frame(r) == 0)
			break;
		if (r->cur.kind == TDM_FRAME_DATA) {
			r->in_data = 1;
			r->in_pos = 0;
			r->dec_frame = r->cur.index;
			ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
		}
	}
	/* A last line without its newline: the writer never leaves one. */
	if (r->text.len > r->text_pos && !r->skipping) {
		problem(r, "%s: the last event line is cut off", r->name);
		*line = (const char *)r->text.data + r->text_pos;
		*len = r->text.len - r->text_pos;
		r->text_pos = r->scan_pos = r->text.len;
		return 1;
	}
	return 0;
}

/* ---- the header ------------------------------------------------------------ */

static const char *obj_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static unsigned obj_uint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;

	return i > 0 && i <= 65535 ? (unsigned)i : 0;
}

static void cr_read_header(struct tdm_castread *r)
{
	struct tdm_rec_header *h = &r->header;
	const char *line;
	json_error_t err;
	json_t *j, *t, *env, *ts;
	size_t len;

	r->header_tried = 1;
	if (cr_next_line(r, &line, &len) == 0) {
		if (r->problems)
			memcpy(r->header_why, r->problem, sizeof(r->problem));
		else
			snprintf(r->header_why, sizeof(r->header_why),
				 "%s is empty", r->name);
		return;
	}
	if (r->dec_frame != 0) {
		snprintf(r->header_why, sizeof(r->header_why),
			 "%s: the first frame is damaged, so the header is "
			 "lost",
			 r->name);
		return;
	}
	j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL || !json_is_object(j)) {
		snprintf(r->header_why, sizeof(r->header_why),
			 "%s: the header is not a JSON object (%s); not an "
			 "asciicast recording",
			 r->name, j == NULL ? err.text : "other JSON");
		json_decref(j);
		return;
	}
	t = json_object_get(j, "version");
	if (!json_is_integer(t) || json_integer_value(t) != 2) {
		snprintf(r->header_why, sizeof(r->header_why),
			 "%s: the header is not asciicast version 2", r->name);
		json_decref(j);
		return;
	}
	h->json = j;
	h->width = obj_uint(j, "width");
	h->height = obj_uint(j, "height");
	ts = json_object_get(j, "timestamp");
	h->timestamp = json_is_integer(ts) ? json_integer_value(ts) : 0;
	h->title = obj_str(j, "title");
	env = json_object_get(j, "env");
	h->term = json_is_object(env) ? obj_str(env, "TERM") : NULL;
	t = json_object_get(j, "tandem");
	if (json_is_object(t)) {
		h->session = obj_str(t, "session");
		h->engineer = obj_str(t, "engineer");
		h->target = obj_str(t, "target");
		h->address = obj_str(t, "address");
		h->bastion = obj_str(t, "bastion");
		h->command = obj_str(t, "command");
		h->version = obj_str(t, "version");
		h->pubkey = obj_str(t, "pubkey");
		h->attrs = json_object_get(t, "attrs");
		if (!json_is_object(h->attrs))
			h->attrs = NULL;
	}
}

const struct tdm_rec_header *tdm_castread_header(struct tdm_castread *r)
{
	if (!r->header_tried)
		cr_read_header(r);
	return r->header.json != NULL ? &r->header : NULL;
}

/* ---- events ------------------------------------------------------------------- */

static char ev_code(const char *c, size_t len)
{
	if (len == 1 && c[0] != '\0' && strchr("oirmx", c[0]) != NULL)
		return c[0];
	return '?';
}

static uint64_t ev_time(double t)
{
	/* Checked finite and within CR_TIME_MAX when parsed; no -lm. */
	return (uint64_t)(t * 1e6 + 0.5);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex4(const char *p, uint32_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * Decodes the JSON string whose body starts at *pp (after the quote)
 * into out, leaving *pp after the closing quote.  0 for anything this
 * fast path does not take (surrogate escapes, bad UTF-8, raw controls):
 * jansson then reads the line and says what is wrong with it.
 */
static int fast_string(const char **pp, const char *end, struct tdm_buf *out)
{
	const char *p = *pp, *run;
	uint8_t *q;
	uint32_t cp;
	size_t l;

	tdm_buf_reset(out);
	if (tdm_buf_reserve(out, (size_t)(end - p)) < 0)
		return 0;
	q = out->data;
	while (p < end) {
		run = p;
		while (p < end && (uint8_t)*p >= 0x20 && (uint8_t)*p < 0x80 &&
		       *p != '"' && *p != '\\')
			p++;
		memcpy(q, run, (size_t)(p - run));
		q += p - run;
		if (p == end)
			return 0;
		if (*p == '"') {
			*pp = p + 1;
			out->len = (size_t)(q - out->data);
			out->data[out->len] = '\0';
			return 1;
		}
		if ((uint8_t)*p >= 0x80) {
			l = tdm_utf8_decode((const uint8_t *)p,
					    (size_t)(end - p), &cp);
			if (l == 0)
				return 0;
			memcpy(q, p, l);
			q += l;
			p += l;
			continue;
		}
		if (*p != '\\' || end - p < 2)
			return 0; /* a raw control character */
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
			*q++ = (uint8_t)p[1];
			break;
		case 'b':
			*q++ = '\b';
			break;
		case 'f':
			*q++ = '\f';
			break;
		case 'n':
			*q++ = '\n';
			break;
		case 'r':
			*q++ = '\r';
			break;
		case 't':
			*q++ = '\t';
			break;
		case 'u':
			if (end - p < 6 || hex4(p + 2, &cp) < 0 ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return 0;
			if (cp < 0x80) {
				*q++ = (uint8_t)cp;
			} else if (cp < 0x800) {
				*q++ = (uint8_t)(0xc0 | cp >> 6);
				*q++ = (uint8_t)(0x80 | (cp & 0x3f));
			} else {
				*q++ = (uint8_t)(0xe0 | cp >> 12);
				*q++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
				*q++ = (uint8_t)(0x80 | (cp & 0x3f));
			}
			p += 4;
			break;
		default:
			return 0;
		}
		p += 2;
	}
	return 0;
}

/*
 * The fast path for the line the writer writes, [SECONDS, "C", "DATA"]:
 * 1 with out filled, or 0 to leave the line to jansson, which reads
 * every line this takes to the same event (tests/unit/test_chain.c
 * checks both on the same lines).
 */
static int fast_event(const char *line, size_t len, struct parsed *out)
{
	const char *p = line, *end = line + len, *num;
	char tok[32];
	double t;
	char code;

	if (p == end || *p++ != '[')
		return 0;
	while (p < end && *p == ' ')
		p++;
	num = p;
	if (p < end && *p == '0') {
		p++;
	} else {
		if (p == end || *p < '1' || *p > '9')
			return 0;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p))
			return 0;
		while (p < end && is_digit(*p))
			p++;
	}
	if ((size_t)(p - num) >= sizeof(tok))
		return 0;
	memcpy(tok, num, (size_t)(p - num));
	tok[p - num] = '\0';
	t = strtod(tok, NULL);
	if (!(t >= 0 && t <= CR_TIME_MAX))
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (end - p < 4 || p[0] != ',')
		return 0;
	for (p++; p < end && *p == ' '; p++)
		;
	if (end - p < 3 || p[0] != '"' || p[2] != '"' || (uint8_t)p[1] < 0x20 ||
	    (uint8_t)p[1] >= 0x80 || p[1] == '"' || p[1] == '\\')
		return 0;
	code = p[1];
	for (p += 3; p < end && *p == ' '; p++)
		;
	if (p == end || *p++ != ',')
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p++ != '"' || !fast_string(&p, end, &out->data))
		return 0;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p++ != ']' || p != end)
		return 0;
	out->t_us = ev_time(t);
	out->code = ev_code(&code, 1);
	return 1;
}

/* Parses an event line into out; 0 (a problem noted) when it is not one. */
static int cr_parse_event(struct tdm_castread *r, const char *line, size_t len,
			  struct parsed *out)
{
	json_error_t err;
	json_t *j, *data;
	double t;

	if (len == 0)
		return 0;
	if (fast_event(line, len, out))
		return 1;
	j = json_loadb(line, len, JSON_ALLOW_NUL, &err);
	if (j == NULL || !json_is_array(j) || json_array_size(j) < 3 ||
	    !json_is_number(json_array_get(j, 0)) ||
	    !json_is_string(json_array_get(j, 1)) ||
	    !json_is_string(json_array_get(j, 2))) {
		problem(r,
			"%s: a line in frame %llu is not an asciicast event "
			"(%s); it is skipped",
			r->name, (unsigned long long)r->dec_frame,
			j == NULL ? err.text : "not [time, code, data]");
		json_decref(j);
		return 0;
	}
	t = json_number_value(json_array_get(j, 0));
	if (!isfinite(t) || t < 0 || t > CR_TIME_MAX) {
		problem(r,
			"%s: an event in frame %llu has time %g; it is "
			"skipped",
			r->name, (unsigned long long)r->dec_frame, t);
		json_decref(j);
		return 0;
	}
	data = json_array_get(j, 2);
	out->t_us = ev_time(t);
	out->code = ev_code(json_string_value(json_array_get(j, 1)),
			    json_string_length(json_array_get(j, 1)));
	tdm_buf_reset(&out->data);
	if (tdm_buf_put(&out->data, json_string_value(data),
			json_string_length(data)) < 0) {
		problem(r, "%s: out of memory reading frame %llu", r->name,
			(unsigned long long)r->dec_frame);
		json_decref(j);
		return 0;
	}
	json_decref(j);
	return 1;
}

/* The next parsed event line into out: 1, or 0 at the end. */
static int cr_fetch(struct tdm_castread *r, struct parsed *out)
{
	const char *line;
	size_t len;

	if (!r->header_tried)
		cr_read_header(r);
	while (cr_next_line(r, &line, &len)) {
		if (cr_parse_event(r, line, len, out)) {
			out->frame = r->dec_frame;
			return 1;
		}
	}
	return 0;
}

int tdm_castread_next(struct tdm_castread *r, struct tdm_event *ev)
{
	struct parsed swap;

	if (r->have_ahead) {
		swap = r->ev;
		r->ev = r->ahead;
		r->ahead = swap;
		r->have_ahead = 0;
	} else if (!cr_fetch(r, &r->ev)) {
		return 0;
	}
	memset(ev, 0, sizeof(*ev));
	ev->t_us = r->ev.t_us;
	ev->code = r->ev.code;
	ev->text = r->ev.data.data != NULL ? (const char *)r->ev.data.data : "";
	ev->text_len = r->ev.data.len;
	ev->bytes = (const uint8_t *)ev->text;
	ev->len = ev->text_len;
	ev->frame = r->ev.frame;
	if (ev->code != 'o' && ev->code != 'i')
		return 1;
	/* An "x" at the same time carries this event's exact bytes. */
	r->have_ahead = cr_fetch(r, &r->ahead);
	if (!r->have_ahead || r->ahead.code != 'x' || r->ahead.t_us != ev->t_us)
		return 1;
	r->have_ahead = 0;
	tdm_buf_reset(&r->exact);
	if (tdm_b64_decode(&r->exact, (const char *)r->ahead.data.data,
			   r->ahead.data.len) < 0) {
		problem(r,
			"%s: an \"x\" event in frame %llu is not base64; "
			"the repaired text is shown instead",
			r->name, (unsigned long long)r->ahead.frame);
	} else {
		ev->bytes = r->exact.data != NULL ? r->exact.data :
						    (const uint8_t *)"";
		ev->len = r->exact.len;
		ev->exact = 1;
	}
	return 1;
}

/* ---- verdict, open, free ------------------------------------------------------- */

void tdm_castread_verify(struct tdm_castread *r, struct tdm_verify *v)
{
	struct stat st;

	/* The header names the key the seal must match: read it first. */
	if (!r->header_tried)
		cr_read_header(r);
	while (cr_next_frame(r) == 1)
		;
	/* No header: a crash while writing it, or not a recording. */
	if (r->header.json == NULL && !r->tampered &&
	    !(r->v.links == 0 && (r->torn || r->nframes == 0)))
		tamper(r, 0, 0, "%s", r->header_why);
	*v = r->v;
	if (r->tampered) {
		v->verdict = TDM_VERDICT_TAMPERED;
		v->sealed = 0;
		return;
	}
	if (r->seal_seen) {
		v->verdict = TDM_VERDICT_SEALED;
		return;
	}
	v->verdict = TDM_VERDICT_UNSEALED;
	if (fstat(r->fd, &st) == 0 && st.st_size > 0 &&
	    (uint64_t)st.st_size > v->file_bytes)
		v->file_bytes = (uint64_t)st.st_size;
	if (v->links == 0)
		snprintf(v->why, sizeof(v->why),
			 "no seal and no chain link: "
			 "nothing in it can be verified");
	else if (v->file_bytes > v->good_bytes)
		snprintf(v->why, sizeof(v->why),
			 "intact up to %.6f s, "
			 "no seal; the last %llu bytes are not covered by the "
			 "chain (the recorder stopped mid-write or the file "
			 "was truncated)",
			 secs(v->good_us),
			 (unsigned long long)(v->file_bytes - v->good_bytes));
	else
		snprintf(v->why, sizeof(v->why),
			 "intact up to %.6f s, "
			 "no seal (the recorder stopped before sealing, or the "
			 "end was cut off)",
			 secs(v->good_us));
}

void tdm_castread_keep_link(struct tdm_castread *r, uint64_t k)
{
	r->keep = k;
}

int tdm_castread_kept_link(const struct tdm_castread *r,
			   uint8_t out[TDM_LINK_SIZE])
{
	if (!r->kept_ok)
		return -1;
	memcpy(out, r->kept, TDM_LINK_SIZE);
	return 0;
}

uint64_t tdm_castread_problems(const struct tdm_castread *r)
{
	return r->problems;
}

const char *tdm_castread_problem(const struct tdm_castread *r)
{
	return r->problems ? r->problem : NULL;
}

int tdm_castread_open(int fd, const char *name, struct tdm_castread **out)
{
	struct tdm_castread *r;
	int rc = TDM_ERR_NOMEM;

	if (fd < 0 || out == NULL)
		return TDM_ERR_INVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return TDM_ERR_NOMEM;
	r->fd = fd;
	tdm_buf_init(&r->text, 0);
	tdm_buf_init(&r->exact, 0);
	tdm_buf_init(&r->ev.data, 0);
	tdm_buf_init(&r->ahead.data, 0);
	r->name = strdup(name != NULL ? name : "recording");
	r->dctx = ZSTD_createDCtx();
	if (r->name == NULL || r->dctx == NULL)
		goto err;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax,
						CR_WINDOW_LOG_MAX))) {
		rc = TDM_ERR_COMPRESS;
		goto err;
	}
	rc = tdm_link_hash_init(&r->hash);
	if (rc < 0)
		goto err;
	r->hash_ok = tdm_link_hash_begin(&r->hash, NULL) == 0;
	*out = r;
	return 0;
err:
	tdm_castread_free(r);
	return rc;
}

void tdm_castread_free(struct tdm_castread *r)
{
	if (r == NULL)
		return;
	tdm_link_hash_free(&r->hash);
	ZSTD_freeDCtx(r->dctx);
	tdm_buf_free(&r->ev.data);
	tdm_buf_free(&r->ahead.data);
	json_decref(r->header.json);
	tdm_buf_free(&r->text);
	tdm_buf_free(&r->exact);
	free(r->buf);
	free(r->name);
	free(r);
}
