/*
 * cast.c: the recording writer, asciicast v2 lines inside zio frames.
 *
 * Every byte handed to tdm_cast_output or tdm_cast_input ends up in the
 * file exactly: as the text of an "o"/"i" event when it is valid UTF-8,
 * and also as base64 in an "x" event right after it when it is not.  This
 * file must never drop or reorder a byte it accepted, and never write an
 * event after a failed one: the first failure is sticky (fails closed).
 *
 * Output is the hot path.  Chunks are copied into a batch and escaped, in
 * one pass that also checks UTF-8, straight into the line handed to the
 * compressor.
 */
#include "cast.h"
#include "buf.h"
#include "err.h"
#include "zio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* zstd level for recordings: level 3 halves throughput for ~4 % (SPEC). */
#define CAST_LEVEL 1
/* Longest incomplete UTF-8 sequence carried to the next chunk. */
#define CAST_CARRY_MAX 3
#define CAST_DIR_MODE 02750
#define CAST_FILE_MODE 0640

/* One direction of bytes: "o" from the target, "i" to the target. */
struct cast_stream {
	char code;
	/* Bytes not yet in an event: a carried tail, then the batch. */
	struct tdm_buf raw;
	int open;	   /* raw holds a new chunk, not only a tail */
	uint64_t t_us;	   /* event time: the batch's first chunk */
	uint64_t last_us;  /* when the latest chunk arrived */
	uint64_t carry_us; /* when the carried tail arrived */
};

struct tdm_cast {
	struct tdm_zio *zio;
	int fd;
	int own_fd;
	int closed;
	int broken; /* first failure, returned by every call */
	uint64_t flush_us;
	struct timespec start; /* CLOCK_MONOTONIC at open */
	uint64_t last_close_us;
	uint64_t last_event_us; /* events never go back in time */
	struct cast_stream out;
	struct cast_stream in;
	struct tdm_buf line;	     /* the event(s) being built, reused */
	struct tdm_buf header_frame; /* replayed to a frame hook set later */
};

/* ---- UTF-8 and JSON ---------------------------------------------------- */

/*
 * Classifies the sequence at s (n > 0 bytes available) by Unicode's
 * table 3-7 (no overlongs, no surrogates, nothing past U+10FFFF): returns
 * its length 1..4 when valid, 0 when it is a valid prefix cut off by the
 * end of s, or -k when its first k bytes are a maximal invalid subpart.
 */
static inline __attribute__((always_inline)) int utf8_seq(const uint8_t *s,
							  size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	int len, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return -1;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return -1;
	}
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (s[i] < lo || s[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

static int utf8_valid(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	int k;

	while (n > 0) {
		k = utf8_seq(p, n);
		if (k <= 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Any byte of v equal to zero (exact as a yes/no answer). */
static inline uint64_t has_zero(uint64_t v)
{
	return (v - ONES) & ~v & HIGHS;
}

/* True when all eight bytes are ASCII that JSON takes as they are. */
static inline int word_plain(uint64_t v)
{
	uint64_t bad = v & HIGHS;

	bad |= (v - ONES * 0x20) & ~v & HIGHS; /* a byte below 0x20 */
	bad |= has_zero(v ^ (ONES * '"'));
	bad |= has_zero(v ^ (ONES * '\\'));
	bad |= has_zero(v ^ (ONES * 0x7f));
	return bad == 0;
}

/* What one byte becomes inside a JSON string when it stands alone. */
struct json_byte {
	uint8_t len; /* 0: it may start a multi-byte sequence */
	uint8_t bad; /* it is replaced by U+FFFD */
	uint8_t text[6];
};

/* clang-format off */
#define JP(c) { 1, 0, { (c) } }
#define JE(c) { 2, 0, { '\\', (c) } }
#define JU(h, l) { 6, 0, { '\\', 'u', '0', '0', (h), (l) } }
#define JR { 3, 1, { 0xef, 0xbf, 0xbd } }
#define JL { 0, 0, { 0 } }
#define JP4(c) JP(c), JP((c) + 1), JP((c) + 2), JP((c) + 3)
#define JP16(c) JP4(c), JP4((c) + 4), JP4((c) + 8), JP4((c) + 12)
#define JR2 JR, JR
#define JR4 JR2, JR2
#define JR16 JR4, JR4, JR4, JR4
#define JL16 JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL, JL
/* clang-format on */

/*
 * Table-driven so that binary output (every byte a different case) costs
 * a load and a store per byte instead of a chain of mispredicted branches.
 */
/* clang-format off */
static const struct json_byte json_bytes[] = {
	/* 0x00 */ JU('0', '0'), JU('0', '1'), JU('0', '2'), JU('0', '3'),
	JU('0', '4'), JU('0', '5'), JU('0', '6'), JU('0', '7'),
	JE('b'), JE('t'), JE('n'), JU('0', 'b'),
	JE('f'), JE('r'), JU('0', 'e'), JU('0', 'f'),
	/* 0x10 */ JU('1', '0'), JU('1', '1'), JU('1', '2'), JU('1', '3'),
	JU('1', '4'), JU('1', '5'), JU('1', '6'), JU('1', '7'),
	JU('1', '8'), JU('1', '9'), JU('1', 'a'), JU('1', 'b'),
	JU('1', 'c'), JU('1', 'd'), JU('1', 'e'), JU('1', 'f'),
	/* 0x20 */ JP(' '), JP('!'), JE('"'), JP('#'), JP4('$'),
	JP4('('), JP4(','),
	/* 0x30 */ JP16('0'),
	/* 0x40 */ JP16('@'),
	/* 0x50 */ JP4('P'), JP4('T'), JP4('X'), JE('\\'), JP(']'), JP('^'),
	JP('_'),
	/* 0x60 */ JP16('`'),
	/* 0x70 */ JP4('p'), JP4('t'), JP4('x'), JP('|'), JP('}'), JP('~'),
	JU('7', 'f'),
	/* 0x80 continuation bytes, 0xc0 0xc1 overlong leads */
	JR16, JR16, JR16, JR16, JR2,
	/* 0xc2 .. 0xf4 leads */
	JL16, JL16, JL16, JL, JL, JL,
	/* 0xf5 past U+10FFFF */
	JR4, JR4, JR2, JR,
};
/* clang-format on */
_Static_assert(sizeof(json_bytes) / sizeof(json_bytes[0]) == 256,
	       "one entry per byte value");

/*
 * Escapes s[0..n) as the inside of a JSON string into o (room for 6 * n
 * bytes), each maximal invalid UTF-8 subpart becoming one U+FFFD.  An
 * incomplete sequence at the very end is left unread unless final, so the
 * caller can carry it.  Returns the bytes written; *used gets the bytes
 * read and *bad is set when anything was replaced.
 */
static size_t json_escape_utf8(uint8_t *o, const uint8_t *s, size_t n,
			       int final, size_t *used, int *bad)
{
	const struct json_byte *e;
	uint8_t *o0 = o, found = 0;
	size_t i = 0, end, k;
	uint64_t v;
	int len;

	while (i < n) {
		/* Plain ASCII text goes eight bytes at a time. */
		end = n;
		if (n - i >= 8) {
			memcpy(&v, s + i, 8);
			if (word_plain(v)) {
				memcpy(o, &v, 8);
				o += 8;
				i += 8;
				continue;
			}
			end = i + 8;
		}
		while (i < end) {
			e = &json_bytes[s[i]];
			if (e->len != 0) {
				/* Fixed-size copy: there are six bytes of
				 * room for each byte in. */
				memcpy(o, e->text, 6);
				o += e->len;
				found |= e->bad;
				i++;
				continue;
			}
			/* A lead not followed by a continuation byte. */
			if (n - i >= 2 && (uint8_t)(s[i + 1] - 0x80) >= 0x40) {
				memcpy(o, json_bytes[0xff].text, 3);
				o += 3;
				found = 1;
				i++;
				continue;
			}
			len = utf8_seq(s + i, n - i);
			if (len > 0) {
				if (n - i >= 4)
					memcpy(o, s + i, 4);
				else
					memcpy(o, s + i, (size_t)len);
				o += len;
				i += (size_t)len;
				continue;
			}
			if (len == 0 && !final)
				goto out;
			k = len < 0 ? (size_t)-len : n - i;
			memcpy(o, json_bytes[0xff].text, 3);
			o += 3;
			found = 1;
			i += k;
		}
	}
out:
	if (found)
		*bad = 1;
	*used = i;
	return (size_t)(o - o0);
}

/* Standard base64 with padding of s[0..n) into o (room for 4 * ceil). */
static size_t base64_encode(uint8_t *o, const uint8_t *s, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t *o0 = o;
	uint32_t w;
	size_t i;

	for (i = 0; n - i >= 3; i += 3) {
		w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = (uint8_t)tab[w >> 18];
		*o++ = (uint8_t)tab[(w >> 12) & 63];
		*o++ = (uint8_t)tab[(w >> 6) & 63];
		*o++ = (uint8_t)tab[w & 63];
	}
	if (n - i == 1) {
		w = (uint32_t)s[i] << 16;
		*o++ = (uint8_t)tab[w >> 18];
		*o++ = (uint8_t)tab[(w >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*o++ = (uint8_t)tab[w >> 18];
		*o++ = (uint8_t)tab[(w >> 12) & 63];
		*o++ = (uint8_t)tab[(w >> 6) & 63];
		*o++ = '=';
	}
	return (size_t)(o - o0);
}

/* ---- events ------------------------------------------------------------ */

static uint64_t cast_now_us(const struct tdm_cast *c)
{
	struct timespec ts;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	us = ((int64_t)ts.tv_sec - (int64_t)c->start.tv_sec) * 1000000 +
	     ((int64_t)ts.tv_nsec - (int64_t)c->start.tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

/* Every call after a failure fails the same way: the writer fails closed. */
static int cast_fail(struct tdm_cast *c, int rc)
{
	if (c->broken == 0)
		c->broken = rc;
	return rc;
}

static int cast_usable(const struct tdm_cast *c)
{
	if (c->broken != 0)
		return c->broken;
	if (c->closed)
		return TDM_ERR_INVAL;
	return 0;
}

/*
 * Appends `[SECONDS, "CODE", "` to the line, SECONDS with six decimals;
 * times never go backwards.  The caller has reserved room (64 bytes).
 */
static void line_open(struct tdm_cast *c, uint64_t t_us, char code)
{
	uint8_t digits[24], *o;
	uint64_t sec;
	size_t nd = 0;
	int i;

	if (t_us < c->last_event_us)
		t_us = c->last_event_us;
	c->last_event_us = t_us;
	o = c->line.data + c->line.len;
	*o++ = '[';
	sec = t_us / 1000000;
	do {
		digits[nd++] = (uint8_t)('0' + sec % 10);
		sec /= 10;
	} while (sec > 0);
	while (nd > 0)
		*o++ = digits[--nd];
	*o++ = '.';
	sec = t_us % 1000000;
	for (i = 5; i >= 0; i--) {
		o[i] = (uint8_t)('0' + sec % 10);
		sec /= 10;
	}
	o += 6;
	memcpy(o, ", \"", 3);
	o[3] = (uint8_t)code;
	memcpy(o + 4, "\", \"", 4);
	o += 8;
	c->line.len = (size_t)(o - c->line.data);
}

static void line_close(struct tdm_cast *c)
{
	memcpy(c->line.data + c->line.len, "\"]\n", 4);
	c->line.len += 3;
}

/*
 * Room in the (empty) line for an event of n payload bytes escaped (six
 * bytes out per byte in at worst) and, with_x, its "x" event.
 */
static int line_reserve(struct tdm_cast *c, size_t n, int with_x)
{
	size_t need;

	if (n > (SIZE_MAX - 256) / 8)
		return TDM_ERR_RANGE;
	need = n * 6 + 128;
	if (with_x)
		need += (n + 2) / 3 * 4;
	return tdm_buf_reserve(&c->line, need);
}

/*
 * Turns the stream's pending bytes into an event (and an "x" event when
 * they are not valid UTF-8).  Unless final, an incomplete sequence at the
 * end stays in raw to be completed by the next chunk; final writes it as
 * bad bytes.  A stream holding only such a tail is written only if final.
 */
static int stream_flush(struct tdm_cast *c, struct cast_stream *s, int final)
{
	uint64_t t, last_event = c->last_event_us;
	size_t used = 0, text;
	int bad = 0, rc;

	if (s->raw.len == 0 || (!s->open && !final))
		return 0;
	tdm_buf_reset(&c->line);
	rc = line_reserve(c, s->raw.len, 1);
	if (rc < 0)
		return cast_fail(c, rc);
	t = s->open ? s->t_us : s->carry_us;
	line_open(c, t, s->code);
	text = json_escape_utf8(c->line.data + c->line.len, s->raw.data,
				s->raw.len, final, &used, &bad);
	if (used == 0) {
		/* Only a tail so far: nothing to write yet. */
		tdm_buf_reset(&c->line);
		c->last_event_us = last_event;
		s->open = 0;
		s->carry_us = s->last_us;
		return 0;
	}
	c->line.len += text;
	line_close(c);
	if (bad) {
		line_open(c, t, 'x');
		c->line.len += base64_encode(c->line.data + c->line.len,
					     s->raw.data, used);
		line_close(c);
	}
	c->line.data[c->line.len] = '\0';
	rc = tdm_zio_append(c->zio, c->line.data, c->line.len);
	if (rc < 0)
		return cast_fail(c, rc);
	tdm_buf_consume(&s->raw, used);
	s->open = 0;
	s->carry_us = s->last_us;
	return 0;
}

/* Adds a chunk to a stream, writing an event at every TDM_CAST_BATCH. */
static int stream_add(struct tdm_cast *c, struct cast_stream *s,
		      const uint8_t *p, size_t n, uint64_t now)
{
	size_t take;
	int rc;

	while (n > 0) {
		if (!s->open) {
			s->open = 1;
			s->t_us = now;
		}
		take = TDM_CAST_BATCH - s->raw.len;
		if (take > n)
			take = n;
		rc = tdm_buf_put(&s->raw, p, take);
		if (rc < 0)
			return cast_fail(c, rc);
		s->last_us = now;
		p += take;
		n -= take;
		if (s->raw.len >= TDM_CAST_BATCH) {
			rc = stream_flush(c, s, 0);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Writes an event whose data is the readable text s. */
static int cast_text_event(struct tdm_cast *c, char code, const char *s,
			   uint64_t now)
{
	size_t n = strlen(s), used = 0;
	int bad = 0, rc;

	tdm_buf_reset(&c->line);
	rc = line_reserve(c, n, 0);
	if (rc < 0)
		return cast_fail(c, rc);
	line_open(c, now, code);
	c->line.len += json_escape_utf8(c->line.data + c->line.len,
					(const uint8_t *)s, n, 1, &used, &bad);
	line_close(c);
	rc = tdm_zio_append(c->zio, c->line.data, c->line.len);
	if (rc < 0)
		return cast_fail(c, rc);
	return 0;
}

static int cast_close_frame(struct tdm_cast *c, int sync, uint64_t now)
{
	int rc = tdm_zio_close_frame(c->zio, sync);

	if (rc < 0)
		return cast_fail(c, rc);
	c->last_close_us = now;
	return 0;
}

int tdm_cast_output(struct tdm_cast *c, const void *p, size_t n)
{
	int rc = cast_usable(c);

	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	if (p == NULL)
		return TDM_ERR_INVAL;
	return stream_add(c, &c->out, p, n, cast_now_us(c));
}

int tdm_cast_input(struct tdm_cast *c, const void *p, size_t n)
{
	int rc = cast_usable(c);

	if (rc < 0)
		return rc;
	if (n == 0)
		return 0;
	if (p == NULL)
		return TDM_ERR_INVAL;
	rc = stream_flush(c, &c->out, 0);
	if (rc < 0)
		return rc;
	rc = stream_add(c, &c->in, p, n, cast_now_us(c));
	if (rc < 0)
		return rc;
	/* Input is not batched: each chunk is its own event. */
	return stream_flush(c, &c->in, 0);
}

int tdm_cast_resize(struct tdm_cast *c, unsigned cols, unsigned rows)
{
	char text[32];
	uint8_t digits[12];
	unsigned v[2] = { cols, rows };
	size_t len = 0, nd;
	int i, rc;

	rc = cast_usable(c);
	if (rc < 0)
		return rc;
	for (i = 0; i < 2; i++) {
		nd = 0;
		do {
			digits[nd++] = (uint8_t)('0' + v[i] % 10);
			v[i] /= 10;
		} while (v[i] > 0);
		while (nd > 0)
			text[len++] = (char)digits[--nd];
		if (i == 0)
			text[len++] = 'x';
	}
	text[len] = '\0';
	rc = stream_flush(c, &c->out, 0);
	if (rc < 0)
		return rc;
	return cast_text_event(c, 'r', text, cast_now_us(c));
}

/* Writes both streams out, their carried tails as bad bytes. */
static int cast_flush_all(struct tdm_cast *c)
{
	int rc = stream_flush(c, &c->out, 1);

	if (rc < 0)
		return rc;
	return stream_flush(c, &c->in, 1);
}

int tdm_cast_marker(struct tdm_cast *c, const char *label)
{
	uint64_t now;
	int rc;

	rc = cast_usable(c);
	if (rc < 0)
		return rc;
	if (label == NULL)
		return TDM_ERR_INVAL;
	rc = cast_flush_all(c);
	if (rc < 0)
		return rc;
	now = cast_now_us(c);
	rc = cast_text_event(c, 'm', label, now);
	if (rc < 0)
		return rc;
	/* Write-ahead: the decision is on disk before anything acts on it. */
	return cast_close_frame(c, 1, now);
}

/* When a carried tail is left alone this long, it is bad bytes. */
static int stream_tail_stale(const struct cast_stream *s, uint64_t now,
			     uint64_t flush_us)
{
	return !s->open && s->raw.len > 0 && now - s->carry_us >= flush_us;
}

int tdm_cast_tick(struct tdm_cast *c)
{
	uint64_t now;
	int rc;

	rc = cast_usable(c);
	if (rc < 0)
		return rc;
	now = cast_now_us(c);
	if (now - c->last_close_us < c->flush_us)
		return 0;
	rc = stream_flush(c, &c->out, 0);
	if (rc < 0)
		return rc;
	if (stream_tail_stale(&c->out, now, c->flush_us)) {
		rc = stream_flush(c, &c->out, 1);
		if (rc < 0)
			return rc;
	}
	if (stream_tail_stale(&c->in, now, c->flush_us)) {
		rc = stream_flush(c, &c->in, 1);
		if (rc < 0)
			return rc;
	}
	if (tdm_zio_pending(c->zio) == 0)
		return 0;
	return cast_close_frame(c, 0, now);
}

static uint64_t tail_deadline(const struct tdm_cast *c,
			      const struct cast_stream *s)
{
	uint64_t from = s->carry_us;

	if (s->open || s->raw.len == 0)
		return UINT64_MAX;
	if (from < c->last_close_us)
		from = c->last_close_us;
	return from > UINT64_MAX - c->flush_us ? UINT64_MAX - 1 :
						 from + c->flush_us;
}

int tdm_cast_next_tick_ms(const struct tdm_cast *c)
{
	uint64_t deadline = UINT64_MAX, d, now, ms;

	if (c->broken != 0 || c->closed)
		return -1;
	if (c->out.open || tdm_zio_pending(c->zio) > 0) {
		d = c->last_close_us;
		deadline = d > UINT64_MAX - c->flush_us ? UINT64_MAX - 1 :
							  d + c->flush_us;
	}
	d = tail_deadline(c, &c->out);
	if (d < deadline)
		deadline = d;
	d = tail_deadline(c, &c->in);
	if (d < deadline)
		deadline = d;
	if (deadline == UINT64_MAX)
		return -1;
	now = cast_now_us(c);
	if (deadline <= now)
		return 0;
	ms = (deadline - now + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int tdm_cast_flush(struct tdm_cast *c)
{
	int rc = cast_usable(c);

	if (rc == 0)
		rc = cast_flush_all(c);
	if (rc == 0)
		rc = cast_close_frame(c, 1, cast_now_us(c));
	return rc;
}

int tdm_cast_close(struct tdm_cast *c)
{
	int rc, saved;

	rc = cast_usable(c);
	if (rc == 0)
		rc = cast_flush_all(c);
	if (rc == 0)
		rc = cast_close_frame(c, 1, cast_now_us(c));
	if (c->own_fd && c->fd >= 0) {
		saved = errno;
		if (close(c->fd) < 0 && rc == 0)
			rc = cast_fail(c, TDM_ERR_IO);
		else
			errno = saved;
		c->fd = -1;
	}
	c->closed = 1;
	return rc;
}

void tdm_cast_free(struct tdm_cast *c)
{
	if (c == NULL)
		return;
	if (c->own_fd && c->fd >= 0)
		close(c->fd);
	tdm_zio_free(c->zio);
	tdm_buf_free(&c->out.raw);
	tdm_buf_free(&c->in.raw);
	tdm_buf_free(&c->line);
	tdm_buf_free(&c->header_frame);
	free(c);
}

int tdm_cast_errno(const struct tdm_cast *c)
{
	return tdm_zio_errno(c->zio);
}

double tdm_cast_elapsed(const struct tdm_cast *c)
{
	return (double)cast_now_us(c) / 1e6;
}

uint64_t tdm_cast_last_event_us(const struct tdm_cast *c)
{
	return c->last_event_us;
}

struct tdm_zio *tdm_cast_zio(struct tdm_cast *c)
{
	return c->zio;
}

int tdm_cast_set_frame_hook(struct tdm_cast *c, tdm_zio_frame_fn fn, void *ctx)
{
	int rc;

	rc = cast_usable(c);
	if (rc < 0)
		return rc;
	/* The chain must see every frame: only right after the header. */
	if (tdm_zio_written(c->zio) != c->header_frame.len ||
	    tdm_zio_pending(c->zio) > 0 || c->out.raw.len > 0 ||
	    c->in.raw.len > 0)
		return TDM_ERR_INVAL;
	if (fn != NULL) {
		rc = fn(ctx, c->header_frame.data, c->header_frame.len);
		if (rc < 0)
			return rc;
	}
	tdm_zio_set_frame_hook(c->zio, fn, ctx);
	return 0;
}

/* ---- header and creation ----------------------------------------------- */

static int session_id_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
			     (s[i] >= 'a' && s[i] <= 'f') ||
			     (s[i] >= 'A' && s[i] <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

static int text_ok(const char *s, int may_be_null)
{
	if (s == NULL)
		return may_be_null;
	return utf8_valid(s);
}

static int header_check(const struct tdm_cast_header *h)
{
	size_t i;

	if (h->session == NULL || !session_id_valid(h->session))
		return TDM_ERR_INVAL;
	/* The title is ENGINEER@TARGET: neither may be empty. */
	if (h->engineer == NULL || h->engineer[0] == '\0' ||
	    h->target == NULL || h->target[0] == '\0')
		return TDM_ERR_INVAL;
	if (!text_ok(h->engineer, 0) || !text_ok(h->target, 0) ||
	    !text_ok(h->address, 0) || !text_ok(h->bastion, 0) ||
	    !text_ok(h->version, 0) || !text_ok(h->term, 1) ||
	    !text_ok(h->command, 1) || !text_ok(h->pubkey, 1))
		return TDM_ERR_INVAL;
	if (h->nattrs > 0 && h->attrs == NULL)
		return TDM_ERR_INVAL;
	for (i = 0; i < h->nattrs; i++) {
		if (!text_ok(h->attrs[i].key, 0) ||
		    !text_ok(h->attrs[i].value, 0))
			return TDM_ERR_INVAL;
	}
	return 0;
}

static int put_str(struct tdm_buf *b, const char *s)
{
	int rc;

	if (s == NULL)
		return tdm_buf_puts(b, "null");
	rc = tdm_buf_putc(b, '"');
	if (rc == 0)
		rc = tdm_buf_put_json_str(b, s, strlen(s));
	if (rc == 0)
		rc = tdm_buf_putc(b, '"');
	return rc;
}

/* Appends `"key":` then the string (or null) and a separator. */
static int put_field(struct tdm_buf *b, const char *key, const char *s,
		     const char *sep)
{
	int rc = tdm_buf_printf(b, "\"%s\":", key);

	if (rc == 0)
		rc = put_str(b, s);
	if (rc == 0)
		rc = tdm_buf_puts(b, sep);
	return rc;
}

static int header_json(struct tdm_buf *b, const struct tdm_cast_header *h)
{
	size_t i;
	int rc;

	rc = tdm_buf_printf(b,
			    "{\"version\":2,\"width\":%u,\"height\":%u,"
			    "\"timestamp\":%lld,\"title\":\"",
			    h->width, h->height, (long long)h->timestamp);
	if (rc == 0)
		rc = tdm_buf_put_json_str(b, h->engineer, strlen(h->engineer));
	if (rc == 0)
		rc = tdm_buf_putc(b, '@');
	if (rc == 0)
		rc = tdm_buf_put_json_str(b, h->target, strlen(h->target));
	if (rc == 0)
		rc = tdm_buf_puts(b, "\",\"env\":{");
	if (rc == 0 && h->term != NULL)
		rc = put_field(b, "TERM", h->term, "");
	if (rc == 0)
		rc = tdm_buf_puts(b, "},\"tandem\":{");
	if (rc == 0)
		rc = put_field(b, "session", h->session, ",");
	if (rc == 0)
		rc = put_field(b, "engineer", h->engineer, ",");
	if (rc == 0)
		rc = put_field(b, "target", h->target, ",");
	if (rc == 0)
		rc = put_field(b, "address", h->address, ",");
	if (rc == 0)
		rc = put_field(b, "bastion", h->bastion, ",");
	if (rc == 0)
		rc = tdm_buf_puts(b, "\"attrs\":{");
	for (i = 0; rc == 0 && i < h->nattrs; i++) {
		if (i > 0)
			rc = tdm_buf_putc(b, ',');
		if (rc == 0)
			rc = put_str(b, h->attrs[i].key);
		if (rc == 0)
			rc = tdm_buf_putc(b, ':');
		if (rc == 0)
			rc = put_str(b, h->attrs[i].value);
	}
	if (rc == 0)
		rc = tdm_buf_puts(b, "},");
	if (rc == 0)
		rc = put_field(b, "command", h->command, ",");
	if (rc == 0)
		rc = put_field(b, "version", h->version, ",");
	if (rc == 0)
		rc = put_field(b, "pubkey", h->pubkey, "}}\n");
	return rc;
}

/* Keeps the header frame so a frame hook set after open still sees it. */
static int keep_header_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct tdm_cast *c = ctx;

	tdm_buf_reset(&c->header_frame);
	return tdm_buf_put(&c->header_frame, frame, len);
}

int tdm_cast_open_fd(int fd, const struct tdm_cast_header *h,
		     unsigned long flush_ms, struct tdm_cast **out)
{
	struct tdm_cast *c;
	int rc;

	if (fd < 0 || h == NULL || out == NULL)
		return TDM_ERR_INVAL;
	rc = header_check(h);
	if (rc < 0)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TDM_ERR_NOMEM;
	c->fd = fd;
	c->out.code = 'o';
	c->in.code = 'i';
	tdm_buf_init(&c->out.raw, 0);
	tdm_buf_init(&c->in.raw, 0);
	tdm_buf_init(&c->line, 0);
	tdm_buf_init(&c->header_frame, 0);
	c->flush_us = flush_ms > UINT64_MAX / 1000 ? UINT64_MAX :
						     (uint64_t)flush_ms * 1000;
	if (clock_gettime(CLOCK_MONOTONIC, &c->start) < 0) {
		rc = TDM_ERR_IO;
		goto err;
	}
	rc = tdm_zio_open(fd, CAST_LEVEL, &c->zio);
	if (rc < 0)
		goto err;
	rc = header_json(&c->line, h);
	if (rc < 0)
		goto err;
	tdm_zio_set_frame_hook(c->zio, keep_header_frame, c);
	rc = tdm_zio_append(c->zio, c->line.data, c->line.len);
	if (rc == 0)
		rc = tdm_zio_close_frame(c->zio, 1);
	tdm_zio_set_frame_hook(c->zio, NULL, NULL);
	if (rc < 0)
		goto err;
	*out = c;
	return 0;

err:
	tdm_cast_free(c);
	return rc;
}

static int errno_to_err(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return TDM_ERR_NOTFOUND;
	case EACCES:
	case EPERM:
		return TDM_ERR_DENIED;
	case ENOMEM:
		return TDM_ERR_NOMEM;
	}
	return TDM_ERR_IO;
}

/*
 * Opens directory name under dfd, making it 02750 when missing.  mkdir
 * ignores the setgid bit and applies the umask, so the mode is set again
 * on what was made; only when it differs, because chmod by a user outside
 * the directory's group would clear a setgid bit inherited from the parent.
 */
static int day_dir_open(int dfd, const char *name, int *out)
{
	struct stat st;
	int made = 0, fd;

	if (mkdirat(dfd, name, CAST_DIR_MODE) == 0)
		made = 1;
	else if (errno != EEXIST)
		return errno_to_err(errno);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno_to_err(errno);
	if (made) {
		if (fstat(fd, &st) < 0 ||
		    ((st.st_mode & 07777) != CAST_DIR_MODE &&
		     fchmod(fd, CAST_DIR_MODE) < 0) ||
		    fsync(dfd) < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return errno_to_err(e);
		}
	}
	*out = fd;
	return 0;
}

int tdm_cast_create(const char *dir, const struct tdm_cast_header *h,
		    unsigned long flush_ms, struct tdm_cast **out,
		    char *path_out, size_t path_size)
{
	char part[3][16], file[64];
	struct tdm_cast *c = NULL;
	struct tdm_buf path;
	struct tm tm;
	int dfd = -1, nfd = -1, fd = -1, made = 0, rc, i, saved;

	if (dir == NULL || h == NULL || out == NULL)
		return TDM_ERR_INVAL;
	rc = header_check(h);
	if (rc < 0)
		return rc;
	if (h->timestamp < 0 || gmtime_r(&h->timestamp, &tm) == NULL ||
	    tm.tm_year > 9999 - 1900)
		return TDM_ERR_INVAL;
	snprintf(part[0], sizeof(part[0]), "%04d", tm.tm_year + 1900);
	snprintf(part[1], sizeof(part[1]), "%02d", tm.tm_mon + 1);
	snprintf(part[2], sizeof(part[2]), "%02d", tm.tm_mday);
	snprintf(file, sizeof(file), "%s.cast.zst", h->session);
	tdm_buf_init(&path, 0);
	rc = tdm_buf_printf(&path, "%s/%s/%s/%s/%s", dir, part[0], part[1],
			    part[2], file);
	if (rc < 0)
		goto out;
	if (path_out != NULL && path.len >= path_size) {
		rc = TDM_ERR_RANGE;
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = errno_to_err(errno);
		goto out;
	}
	for (i = 0; i < 3; i++) {
		rc = day_dir_open(dfd, part[i], &nfd);
		if (rc < 0)
			goto out;
		close(dfd);
		dfd = nfd;
	}
	/* Never an existing file: a session id is used once. */
	fd = openat(dfd, file,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    CAST_FILE_MODE);
	if (fd < 0) {
		rc = errno_to_err(errno);
		goto out;
	}
	made = 1;
	/* The umask must not decide who can read a recording. */
	if (fchmod(fd, CAST_FILE_MODE) < 0 || fsync(dfd) < 0) {
		rc = errno_to_err(errno);
		goto out;
	}
	rc = tdm_cast_open_fd(fd, h, flush_ms, &c);
	if (rc < 0)
		goto out;
	c->own_fd = 1;
	fd = -1;
	if (path_out != NULL)
		memcpy(path_out, path.data, path.len + 1);
	*out = c;

out:
	saved = errno;
	/* A recording that could not get its header is not left behind. */
	if (rc < 0 && made)
		unlinkat(dfd, file, 0);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	tdm_buf_free(&path);
	errno = saved;
	return rc;
}
