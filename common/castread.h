/*
 * castread.h: reading a recording back, for tandem-replay.
 *
 * One pass over the file does everything: it walks the zstd frames,
 * recomputes the hash chain and checks the seal as it goes, and (when
 * events are asked for) decompresses the data frames and parses the
 * asciicast lines.  Recordings are untrusted input: a truncated, damaged
 * or hostile file gives what could be read and a sentence about the rest,
 * never a crash, and memory stays bounded (a frame is at most
 * TDM_CASTREAD_FRAME_MAX bytes, an event line at most
 * TDM_CASTREAD_LINE_MAX).
 */
#ifndef TDM_CASTREAD_H
#define TDM_CASTREAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chain.h"
#include "sign.h"

#define TDM_CASTREAD_FRAME_MAX (32u << 20)
#define TDM_CASTREAD_LINE_MAX (16u << 20)

struct tdm_castread;

/* The header's fields; strings are owned by json (NULL when absent). */
struct tdm_rec_header {
	unsigned width, height;
	int64_t timestamp;
	const char *title, *term;
	const char *session, *engineer, *target, *address, *bastion;
	const char *command, *version, *pubkey;
	json_t *attrs; /* object, or NULL */
	json_t *json;  /* the whole header line */
};

struct tdm_event {
	uint64_t t_us;	  /* since the header's timestamp */
	char code;	  /* 'o', 'i', 'r', 'm', 'x', or '?' */
	const char *text; /* the event's data as JSON had it */
	size_t text_len;
	/* The exact bytes: from the "x" event that followed, else text. */
	const uint8_t *bytes;
	size_t len;
	int exact;	/* an "x" event supplied bytes */
	uint64_t frame; /* index of the frame the line came from */
};

enum tdm_verdict {
	TDM_VERDICT_SEALED = 0,	  /* intact and sealed */
	TDM_VERDICT_UNSEALED = 3, /* intact up to good_us, no seal */
	TDM_VERDICT_TAMPERED = 4, /* changed: see bad_frame and why */
};

struct tdm_verify {
	enum tdm_verdict verdict;
	uint64_t links;	      /* links that matched */
	uint64_t good_us;     /* time of the last matching link */
	uint64_t good_bytes;  /* bytes covered by matching links */
	uint64_t good_frames; /* frames [0, good_frames) are covered */
	uint64_t file_bytes;  /* bytes read */
	uint64_t frames;      /* frames read (every kind) */
	uint64_t data_frames;
	uint64_t bad_frame;  /* tampered: first bad frame (0 = header) */
	uint64_t bad_offset; /* and its byte offset */
	int sealed;
	uint8_t signer[TDM_ED25519_PUB]; /* sealed: who signed */
	char last_link[65]; /* sealed: the message the seal signs */
	uint8_t good_link[TDM_LINK_SIZE]; /* links > 0: the last matched */
	uint8_t seal[TDM_SEAL_MAX];	  /* sealed: the SSHSIG blob */
	size_t seal_len;
	char why[512]; /* tampered or unsealed: what and where */
};

/* name is used in messages.  The fd stays the caller's. */
int tdm_castread_open(int fd, const char *name, struct tdm_castread **out);
void tdm_castread_free(struct tdm_castread *r);

/* The header, read on first use; NULL when there is none (see why). */
const struct tdm_rec_header *tdm_castread_header(struct tdm_castread *r);
/*
 * The next event: 1 with *ev filled (valid until the next call), 0 at the
 * end.  Lines that cannot be read are skipped and counted as problems.
 */
int tdm_castread_next(struct tdm_castread *r, struct tdm_event *ev);
/*
 * Reads the rest of the file without decoding it and gives the chain's
 * verdict.  The header's pubkey must match the seal; pinning a key is the
 * caller's job (compare v->signer).
 */
void tdm_castread_verify(struct tdm_castread *r, struct tdm_verify *v);
/*
 * Keeps link number k (counted from 1) when it matches, for
 * tdm_castread_kept_link: a second reading of a file proves it read what
 * the first verified when its link k is the first's last (good_link).
 * Call before reading.
 */
void tdm_castread_keep_link(struct tdm_castread *r, uint64_t k);
/* 0 with out filled once link k has matched, else -1. */
int tdm_castread_kept_link(const struct tdm_castread *r,
			   uint8_t out[TDM_LINK_SIZE]);
/* Problems met so far (damaged frames, unreadable lines) and the first. */
uint64_t tdm_castread_problems(const struct tdm_castread *r);
const char *tdm_castread_problem(const struct tdm_castread *r);

/* Frame walk only, for fuzzing and tests: kind of each frame in order. */
enum tdm_frame_kind {
	TDM_FRAME_DATA,
	TDM_FRAME_LINK,
	TDM_FRAME_SEAL,
	TDM_FRAME_SKIP,
};

#endif
