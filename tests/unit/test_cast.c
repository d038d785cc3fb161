/*
 * test_cast.c: the recording writer (cast.c) and its zstd frames (zio.c).
 *
 * Every test writes a real file, decompresses it with libzstd and reads each
 * line back with jansson, so what is checked is what an investigator's
 * tools would see.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zstd.h>

#include "buf.h"
#include "cast.h"
#include "err.h"
#include "zio.h"

#define SESSION "123e4567-e89b-12d3-a456-426614174000"
/* 2024-11-24 09:20:00 UTC */
#define START 1732440000

static struct tdm_attr sample_attrs[] = {
	{ "country", "US" },
	{ "clearance", "secret" },
};

static struct tdm_cast_header sample_header(void)
{
	struct tdm_cast_header h = {
		.width = 120,
		.height = 40,
		.timestamp = START,
		.term = "xterm-256color",
		.session = SESSION,
		.engineer = "alice",
		.target = "db01",
		.address = "10.0.0.5",
		.bastion = "bastion1",
		.attrs = sample_attrs,
		.nattrs = 2,
		.command = NULL,
		.pubkey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey tandem@b1",
		.version = "0.1.0",
	};
	return h;
}

/* ---- fixtures: a temporary directory per test -------------------------- */

struct fixture {
	char dir[64];
	char file[96];
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/tdm_cast_XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->file, sizeof(f->file), "%s/rec.cast.zst", f->dir);
	f->fd = open(f->file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->fd >= 0)
		close(f->fd);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- reading a recording back ------------------------------------------ */

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	r = pread(fd, p, (size_t)st.st_size, 0);
	assert_int_equal(r, st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/*
 * Decompresses a zstd stream (skippable frames are skipped).  Returns 0
 * when it ends on a frame boundary, 1 when it stops inside a frame.
 */
static int unzstd(const uint8_t *src, size_t n, struct tdm_buf *out)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer in = { src, n, 0 };
	ZSTD_outBuffer o;
	size_t ret = 0;

	assert_non_null(d);
	tdm_buf_init(out, 0);
	while (in.pos < in.size) {
		assert_int_equal(tdm_buf_reserve(out, 1 << 16), 0);
		o.dst = out->data + out->len;
		o.size = 1 << 16;
		o.pos = 0;
		ret = ZSTD_decompressStream(d, &o, &in);
		assert_false(ZSTD_isError(ret));
		out->len += o.pos;
	}
	/* Drain what is still buffered inside the decoder. */
	while (ret != 0) {
		assert_int_equal(tdm_buf_reserve(out, 1 << 16), 0);
		o.dst = out->data + out->len;
		o.size = 1 << 16;
		o.pos = 0;
		ret = ZSTD_decompressStream(d, &o, &in);
		assert_false(ZSTD_isError(ret));
		out->len += o.pos;
		if (o.pos == 0)
			break;
	}
	out->data[out->len] = '\0';
	ZSTD_freeDStream(d);
	return ret != 0;
}

struct frame_span {
	size_t off, len;
	int skippable;
};

/* Splits a file into its frames; returns how many are whole. */
static size_t split_frames(const uint8_t *p, size_t n, struct frame_span *fs,
			   size_t max)
{
	size_t off = 0, k = 0, len;
	uint32_t magic;

	while (off < n && k < max) {
		len = ZSTD_findFrameCompressedSize(p + off, n - off);
		if (ZSTD_isError(len))
			break;
		memcpy(&magic, p + off, 4);
		fs[k].off = off;
		fs[k].len = len;
		fs[k].skippable = (magic & 0xfffffff0u) == 0x184d2a50u;
		k++;
		off += len;
	}
	return k;
}

static size_t count_frames(const char *path)
{
	struct frame_span fs[64];
	uint8_t *p;
	size_t n, k;

	p = read_all(path, &n);
	k = split_frames(p, n, fs, 64);
	free(p);
	return k;
}

struct event {
	json_t *json;
	double time;
	char code;
	const char *data;
	size_t len;
};

struct recording {
	struct tdm_buf text;
	json_t *header;
	struct event *ev;
	size_t nev;
};

/* Every line must parse, as asciicast v2 with valid UTF-8 data. */
static void parse_text(struct recording *r)
{
	char *line = (char *)r->text.data, *nl;
	json_error_t err;
	json_t *j;
	size_t cap = 0;

	r->header = NULL;
	r->ev = NULL;
	r->nev = 0;
	while (*line != '\0') {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		j = json_loadb(line, (size_t)(nl - line), JSON_ALLOW_NUL, &err);
		if (j == NULL)
			fail_msg("bad line: %s: %.*s", err.text,
				 (int)(nl - line), line);
		if (r->header == NULL) {
			assert_true(json_is_object(j));
			r->header = j;
		} else {
			struct event *e;

			assert_true(json_is_array(j));
			assert_int_equal(json_array_size(j), 3);
			if (r->nev == cap) {
				cap = cap ? cap * 2 : 64;
				r->ev = realloc(r->ev, cap * sizeof(*r->ev));
				assert_non_null(r->ev);
			}
			e = &r->ev[r->nev++];
			e->json = j;
			assert_true(json_is_real(json_array_get(j, 0)));
			e->time = json_real_value(json_array_get(j, 0));
			assert_int_equal(
				json_string_length(json_array_get(j, 1)), 1);
			e->code = json_string_value(json_array_get(j, 1))[0];
			e->data = json_string_value(json_array_get(j, 2));
			assert_non_null(e->data);
			e->len = json_string_length(json_array_get(j, 2));
			/* "[S.UUUUUU, ": seconds with exactly six decimals. */
			{
				const char *dot = strchr(line, '.');

				assert_non_null(dot);
				assert_true(dot < nl);
				assert_memory_equal(dot + 7, ", \"", 3);
			}
		}
		line = nl + 1;
	}
	assert_non_null(r->header);
}

static void load_bytes(struct recording *r, const uint8_t *p, size_t n)
{
	assert_int_equal(unzstd(p, n, &r->text), 0);
	parse_text(r);
}

static void load(struct recording *r, const char *path)
{
	uint8_t *p;
	size_t n;

	p = read_all(path, &n);
	load_bytes(r, p, n);
	free(p);
}

static void recording_free(struct recording *r)
{
	size_t i;

	for (i = 0; i < r->nev; i++)
		json_decref(r->ev[i].json);
	free(r->ev);
	json_decref(r->header);
	tdm_buf_free(&r->text);
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void b64decode(const char *s, size_t n, struct tdm_buf *out)
{
	uint32_t acc = 0;
	int bits = 0, v;
	size_t i;

	assert_int_equal(n % 4, 0);
	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			assert_true(i >= n - 2);
			continue;
		}
		v = b64val(s[i]);
		assert_true(v >= 0);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			assert_int_equal(
				tdm_buf_putc(out, (uint8_t)(acc >> bits)), 0);
		}
	}
}

/*
 * The exact bytes of one stream: each o/i event's text, or the bytes of the
 * x event that follows it.  x events must only ever follow o/i events.
 */
static void reconstruct(const struct recording *r, char code,
			struct tdm_buf *out)
{
	size_t i;

	tdm_buf_init(out, 0);
	for (i = 0; i < r->nev; i++) {
		const struct event *e = &r->ev[i];

		if (e->code == 'x') {
			assert_true(i > 0);
			assert_true(r->ev[i - 1].code == 'o' ||
				    r->ev[i - 1].code == 'i');
			assert_true(r->ev[i - 1].time == e->time);
		}
		if (e->code != code)
			continue;
		if (i + 1 < r->nev && r->ev[i + 1].code == 'x')
			b64decode(r->ev[i + 1].data, r->ev[i + 1].len, out);
		else
			assert_int_equal(tdm_buf_put(out, e->data, e->len), 0);
	}
}

static size_t count_code(const struct recording *r, char code)
{
	size_t i, k = 0;

	for (i = 0; i < r->nev; i++)
		k += r->ev[i].code == code;
	return k;
}

static void assert_times_ordered(const struct recording *r)
{
	size_t i;

	for (i = 1; i < r->nev; i++)
		assert_true(r->ev[i - 1].time <= r->ev[i].time);
}

static struct tdm_cast *open_cast(struct fixture *f, unsigned long flush_ms)
{
	struct tdm_cast_header h = sample_header();
	struct tdm_cast *c = NULL;

	assert_int_equal(tdm_cast_open_fd(f->fd, &h, flush_ms, &c), 0);
	assert_non_null(c);
	return c;
}

static void close_cast(struct tdm_cast *c)
{
	assert_int_equal(tdm_cast_close(c), 0);
	tdm_cast_free(c);
}

/* A small deterministic generator: tests must not depend on luck. */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

/* ---- header ------------------------------------------------------------ */

static void test_header_has_every_pinned_field(void **state)
{
	struct fixture *f = *state;
	struct recording r;
	json_t *t, *a;

	close_cast(open_cast(f, 1000));
	load(&r, f->file);
	assert_int_equal(
		json_integer_value(json_object_get(r.header, "version")), 2);
	assert_int_equal(json_integer_value(json_object_get(r.header, "width")),
			 120);
	assert_int_equal(
		json_integer_value(json_object_get(r.header, "height")), 40);
	assert_int_equal(
		json_integer_value(json_object_get(r.header, "timestamp")),
		START);
	assert_string_equal(
		json_string_value(json_object_get(r.header, "title")),
		"alice@db01");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(r.header, "env"), "TERM")),
			    "xterm-256color");
	t = json_object_get(r.header, "tandem");
	assert_true(json_is_object(t));
	assert_string_equal(json_string_value(json_object_get(t, "session")),
			    SESSION);
	assert_string_equal(json_string_value(json_object_get(t, "engineer")),
			    "alice");
	assert_string_equal(json_string_value(json_object_get(t, "target")),
			    "db01");
	assert_string_equal(json_string_value(json_object_get(t, "address")),
			    "10.0.0.5");
	assert_string_equal(json_string_value(json_object_get(t, "bastion")),
			    "bastion1");
	assert_string_equal(json_string_value(json_object_get(t, "version")),
			    "0.1.0");
	assert_true(json_is_null(json_object_get(t, "command")));
	assert_string_equal(json_string_value(json_object_get(t, "pubkey")),
			    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey "
			    "tandem@b1");
	a = json_object_get(t, "attrs");
	assert_true(json_is_object(a));
	assert_int_equal(json_object_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(a, "country")),
			    "US");
	assert_string_equal(json_string_value(json_object_get(a, "clearance")),
			    "secret");
	assert_int_equal(r.nev, 0);
	recording_free(&r);
}

static void test_header_optional_fields_and_escaping(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast_header h = sample_header();
	struct tdm_cast *c = NULL;
	struct recording r;
	json_t *t;

	h.term = NULL;
	h.pubkey = NULL;
	h.attrs = NULL;
	h.nattrs = 0;
	h.command = "cat > \"f\"\n\tx\\y";
	assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c), 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(json_object_size(json_object_get(r.header, "env")), 0);
	t = json_object_get(r.header, "tandem");
	assert_string_equal(json_string_value(json_object_get(t, "command")),
			    "cat > \"f\"\n\tx\\y");
	assert_true(json_is_null(json_object_get(t, "pubkey")));
	assert_int_equal(json_object_size(json_object_get(t, "attrs")), 0);
	recording_free(&r);
}

static void test_header_rejects_bad_strings(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast_header h;
	struct tdm_cast *c = NULL;
	static const char *bad_sessions[] = {
		"",
		"not-a-uuid",
		"123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"123e4567/e89b-12d3-a456-426614174000",
		"../../../../../../etc/passwd-00000000000",
		"123e4567-e89b-12d3-a456-42661417400g",
	};
	size_t i;

	for (i = 0; i < sizeof(bad_sessions) / sizeof(bad_sessions[0]); i++) {
		h = sample_header();
		h.session = bad_sessions[i];
		assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c),
				 TDM_ERR_INVAL);
		assert_int_equal(tdm_cast_create(f->dir, &h, 1000, &c, NULL, 0),
				 TDM_ERR_INVAL);
	}
	h = sample_header();
	h.engineer = "al\xffice";
	assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c), TDM_ERR_INVAL);
	h = sample_header();
	h.target = "";
	assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c), TDM_ERR_INVAL);
	h = sample_header();
	h.command = "\xed\xa0\x80"; /* a surrogate */
	assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c), TDM_ERR_INVAL);
	h = sample_header();
	h.bastion = NULL;
	assert_int_equal(tdm_cast_open_fd(f->fd, &h, 1000, &c), TDM_ERR_INVAL);
	assert_null(c);
	/* Nothing was written by any refused open. */
	{
		struct stat st;

		assert_int_equal(fstat(f->fd, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
}

/* ---- events ------------------------------------------------------------ */

static void test_events_o_i_r_m_in_order(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;

	assert_int_equal(tdm_cast_output(c, "$ ", 2), 0);
	assert_int_equal(tdm_cast_input(c, "ls\r", 3), 0);
	assert_int_equal(tdm_cast_resize(c, 100, 40), 0);
	assert_int_equal(tdm_cast_output(c, "a.txt\r\n", 7), 0);
	assert_int_equal(tdm_cast_marker(c, "approved #3 by bob: ls"), 0);
	assert_true(tdm_cast_elapsed(c) >= 0.0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 5);
	assert_int_equal(r.ev[0].code, 'o');
	assert_string_equal(r.ev[0].data, "$ ");
	assert_int_equal(r.ev[1].code, 'i');
	assert_string_equal(r.ev[1].data, "ls\r");
	assert_int_equal(r.ev[2].code, 'r');
	assert_string_equal(r.ev[2].data, "100x40");
	assert_int_equal(r.ev[3].code, 'o');
	assert_string_equal(r.ev[3].data, "a.txt\r\n");
	assert_int_equal(r.ev[4].code, 'm');
	assert_string_equal(r.ev[4].data, "approved #3 by bob: ls");
	assert_times_ordered(&r);
	assert_true(r.ev[0].time >= 0.0 && r.ev[4].time < 60.0);
	recording_free(&r);
}

static void test_consecutive_output_is_one_event(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;
	int i;

	for (i = 0; i < 100; i++)
		assert_int_equal(tdm_cast_output(c, "line\r\n", 6), 0);
	assert_int_equal(tdm_cast_input(c, "q", 1), 0);
	assert_int_equal(tdm_cast_output(c, "bye", 3), 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 3);
	assert_int_equal(r.ev[0].code, 'o');
	assert_int_equal(r.ev[0].len, 600);
	assert_int_equal(r.ev[1].code, 'i');
	assert_int_equal(r.ev[2].code, 'o');
	assert_string_equal(r.ev[2].data, "bye");
	recording_free(&r);
}

static void test_batch_is_cut_at_limit(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	size_t n = 3 * TDM_CAST_BATCH + 1000, i;
	struct recording r;
	struct tdm_buf all;
	uint8_t *text = malloc(n);

	assert_non_null(text);
	for (i = 0; i < n; i++)
		text[i] = (uint8_t)('a' + i % 26);
	/* One big write and many small ones are cut the same way. */
	assert_int_equal(tdm_cast_output(c, text, n), 0);
	for (i = 0; i < n; i += 1000)
		assert_int_equal(tdm_cast_output(c, text + i,
						 n - i < 1000 ? n - i : 1000),
				 0);
	close_cast(c);
	load(&r, f->file);
	/* Consecutive writes share batches: 2n bytes make seven. */
	assert_int_equal(r.nev, 7);
	for (i = 0; i < r.nev; i++) {
		assert_int_equal(r.ev[i].code, 'o');
		assert_true(r.ev[i].len <= TDM_CAST_BATCH);
	}
	reconstruct(&r, 'o', &all);
	assert_int_equal(all.len, 2 * n);
	assert_memory_equal(all.data, text, n);
	assert_memory_equal(all.data + n, text, n);
	tdm_buf_free(&all);
	recording_free(&r);
	free(text);
}

static void test_control_chars_and_quotes_are_escaped(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	static const char out[] = "\"q\" \\ \x01\x1b[31mred\x1b[0m\t\r\n"
				  "\x7f\b\f\x1f\xc3\xa9\xe2\x82\xac";
	static const char want[] = "\"\\\"q\\\" \\\\ \\u0001\\u001b[31mred"
				   "\\u001b[0m\\t\\r\\n\\u007f\\b\\f\\u001f"
				   "\xc3\xa9\xe2\x82\xac";
	struct recording r;
	const char *line;

	assert_int_equal(tdm_cast_output(c, out, sizeof(out) - 1), 0);
	assert_int_equal(tdm_cast_output(c, "\0z", 2), 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 1);
	assert_int_equal(r.ev[0].len, sizeof(out) - 1 + 2);
	assert_memory_equal(r.ev[0].data, out, sizeof(out) - 1);
	assert_memory_equal(r.ev[0].data + sizeof(out) - 1, "\0z", 2);
	assert_int_equal(count_code(&r, 'x'), 0);
	/* The exact text of the line, not only what a parser accepts. */
	line = strstr((char *)r.text.data, "\"o\", ");
	assert_non_null(line);
	line += 5;
	assert_memory_equal(line, want, sizeof(want) - 1);
	assert_memory_equal(line + sizeof(want) - 1, "\\u0000z\"]\n", 10);
	recording_free(&r);
}

static void test_marker_label_is_repaired_text(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;

	assert_int_equal(tdm_cast_marker(c, NULL), TDM_ERR_INVAL);
	assert_int_equal(tdm_cast_marker(c, "denied #4 by bob: \"rm\"\t\xff"),
			 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 1);
	assert_int_equal(r.ev[0].code, 'm');
	assert_string_equal(r.ev[0].data,
			    "denied #4 by bob: \"rm\"\t\xef\xbf\xbd");
	recording_free(&r);
}

/* ---- UTF-8 ------------------------------------------------------------- */

static void test_invalid_utf8_gets_fffd_and_exact_x(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;
	struct tdm_buf x;

	/* clang-format off */
	assert_int_equal(tdm_cast_output(c, "ab\xff" "cd\xe2\x82", 7), 0);
	/* clang-format on */
	assert_int_equal(tdm_cast_input(c, "\x80", 1), 0);
	close_cast(c);
	load(&r, f->file);
	/* o (tail carried), x, i, x, then the tail flushed at close */
	assert_int_equal(r.nev, 6);
	assert_int_equal(r.ev[0].code, 'o');
	/* clang-format off */
	assert_string_equal(r.ev[0].data, "ab\xef\xbf\xbd" "cd");
	/* clang-format on */
	assert_int_equal(r.ev[1].code, 'x');
	assert_true(r.ev[1].time == r.ev[0].time);
	assert_string_equal(r.ev[1].data, "YWL/Y2Q=");
	assert_int_equal(r.ev[2].code, 'i');
	assert_string_equal(r.ev[2].data, "\xef\xbf\xbd");
	assert_int_equal(r.ev[3].code, 'x');
	assert_string_equal(r.ev[3].data, "gA==");
	assert_int_equal(r.ev[4].code, 'o');
	assert_string_equal(r.ev[4].data, "\xef\xbf\xbd");
	assert_int_equal(r.ev[5].code, 'x');
	tdm_buf_init(&x, 0);
	b64decode(r.ev[5].data, r.ev[5].len, &x);
	assert_int_equal(x.len, 2);
	assert_memory_equal(x.data, "\xe2\x82", 2);
	tdm_buf_free(&x);
	recording_free(&r);
}

/* Each case: bytes and the text a strict decoder must make of them. */
static void test_overlong_surrogate_and_out_of_range_rejected(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong */
		{ "\xc1\xbf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf0\x8f\xbf\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				      "\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				      "\xef\xbf\xbd" },
		{ "\xf5\x80", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xff", "\xef\xbf\xbd" },
		{ "\xe2\x82z", "\xef\xbf\xbdz" }, /* maximal subpart */
		{ "\xf0\x9f\x98z", "\xef\xbf\xbdz" },
	};
	static const char *valid[] = {
		"\xc2\x80",	    "\xdf\xbf",		"\xe0\xa0\x80",
		"\xed\x9f\xbf",	    "\xee\x80\x80",	"\xef\xbf\xbf",
		"\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80",
	};
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;
	size_t i, ncases = sizeof(cases) / sizeof(cases[0]);

	/* A resize between chunks ends the batch: one event per case. */
	for (i = 0; i < ncases; i++) {
		assert_int_equal(tdm_cast_output(c, cases[i].in,
						 strlen(cases[i].in)),
				 0);
		assert_int_equal(tdm_cast_resize(c, 80, 24), 0);
	}
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		assert_int_equal(tdm_cast_output(c, valid[i], strlen(valid[i])),
				 0);
		assert_int_equal(tdm_cast_resize(c, 80, 24), 0);
	}
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev,
			 3 * ncases + 2 * (sizeof(valid) / sizeof(valid[0])));
	for (i = 0; i < ncases; i++) {
		const struct event *o = &r.ev[3 * i], *x = &r.ev[3 * i + 1];
		struct tdm_buf raw;

		assert_int_equal(o->code, 'o');
		assert_string_equal(o->data, cases[i].want);
		assert_int_equal(x->code, 'x');
		tdm_buf_init(&raw, 0);
		b64decode(x->data, x->len, &raw);
		assert_int_equal(raw.len, strlen(cases[i].in));
		assert_memory_equal(raw.data, cases[i].in, raw.len);
		tdm_buf_free(&raw);
		assert_int_equal(r.ev[3 * i + 2].code, 'r');
	}
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const struct event *o = &r.ev[3 * ncases + 2 * i];

		assert_int_equal(o->code, 'o');
		assert_string_equal(o->data, valid[i]);
	}
	recording_free(&r);
}

static void test_split_multibyte_makes_no_x(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	uint8_t *fill = malloc(TDM_CAST_BATCH);
	struct recording r;
	struct tdm_buf o;

	assert_non_null(fill);
	memset(fill, 'a', TDM_CAST_BATCH);
	/* Across a batch cut: the euro sign's first byte ends the batch. */
	fill[TDM_CAST_BATCH - 1] = 0xe2;
	assert_int_equal(tdm_cast_output(c, fill, TDM_CAST_BATCH), 0);
	assert_int_equal(tdm_cast_output(c, "\x82\xac", 2), 0);
	/* Across another event: output and input keep separate tails. */
	assert_int_equal(tdm_cast_output(c, "x\xf0\x9f", 3), 0);
	assert_int_equal(tdm_cast_input(c, "\xc3", 1), 0);
	assert_int_equal(tdm_cast_resize(c, 90, 30), 0);
	assert_int_equal(tdm_cast_input(c, "\xa9", 1), 0);
	assert_int_equal(tdm_cast_output(c, "\x98\x80y", 3), 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(count_code(&r, 'x'), 0);
	reconstruct(&r, 'o', &o);
	assert_int_equal(o.len, TDM_CAST_BATCH + 2 + 6);
	assert_memory_equal(o.data + TDM_CAST_BATCH - 1, "\xe2\x82\xac", 3);
	assert_memory_equal(o.data + TDM_CAST_BATCH + 2, "x\xf0\x9f\x98\x80y",
			    6);
	tdm_buf_free(&o);
	reconstruct(&r, 'i', &o);
	assert_int_equal(o.len, 2);
	assert_memory_equal(o.data, "\xc3\xa9", 2);
	tdm_buf_free(&o);
	assert_times_ordered(&r);
	recording_free(&r);
	free(fill);
}

static void test_marker_flushes_carried_tail_as_bad(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	struct recording r;

	assert_int_equal(tdm_cast_output(c, "ok\xe2\x82", 4), 0);
	assert_int_equal(tdm_cast_marker(c, "approved #1 by bob: ls"), 0);
	assert_int_equal(tdm_cast_output(c, "\xac", 1), 0);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 5);
	assert_int_equal(r.ev[0].code, 'o');
	assert_string_equal(r.ev[0].data, "ok\xef\xbf\xbd");
	assert_int_equal(r.ev[1].code, 'x');
	assert_string_equal(r.ev[1].data, "b2vigg==");
	assert_int_equal(r.ev[2].code, 'm');
	assert_int_equal(r.ev[3].code, 'o');
	assert_string_equal(r.ev[3].data, "\xef\xbf\xbd");
	assert_int_equal(r.ev[4].code, 'x');
	assert_string_equal(r.ev[4].data, "rA==");
	recording_free(&r);
}

static void test_random_mib_round_trips_exactly(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	size_t n = 1 << 20, off, k, in_len = 0;
	uint8_t *out = malloc(n), *in = malloc(n);
	struct recording r;
	struct tdm_buf got;

	assert_non_null(out);
	assert_non_null(in);
	fill_random(out, n);
	fill_random(in, n);
	for (off = 0; off < n; off += k) {
		k = 1 + rng() % 9000;
		if (k > n - off)
			k = n - off;
		assert_int_equal(tdm_cast_output(c, out + off, k), 0);
		switch (rng() % 16) {
		case 0: {
			size_t m = 1 + rng() % 300;

			if (m > n - in_len)
				m = n - in_len;
			assert_int_equal(tdm_cast_input(c, in + in_len, m), 0);
			in_len += m;
			break;
		}
		case 1:
			assert_int_equal(tdm_cast_resize(c, 80, 24), 0);
			break;
		case 2:
			assert_int_equal(tdm_cast_marker(c, "m"), 0);
			break;
		case 3:
			assert_int_equal(tdm_cast_tick(c), 0);
			break;
		}
	}
	close_cast(c);
	load(&r, f->file);
	assert_true(count_code(&r, 'x') > 0);
	assert_times_ordered(&r);
	reconstruct(&r, 'o', &got);
	assert_int_equal(got.len, n);
	assert_memory_equal(got.data, out, n);
	tdm_buf_free(&got);
	reconstruct(&r, 'i', &got);
	assert_int_equal(got.len, in_len);
	assert_memory_equal(got.data, in, in_len);
	tdm_buf_free(&got);
	recording_free(&r);
	free(out);
	free(in);
}

/* ---- frames ------------------------------------------------------------ */

static void test_every_marker_ends_a_frame(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 60000);
	struct frame_span fs[16];
	uint8_t *p;
	size_t n, k, i;

	assert_int_equal(count_frames(f->file), 1); /* the header */
	assert_int_equal(tdm_cast_output(c, "one", 3), 0);
	assert_int_equal(count_frames(f->file), 1);
	assert_int_equal(tdm_cast_marker(c, "first"), 0);
	assert_int_equal(count_frames(f->file), 2);
	assert_int_equal(tdm_cast_output(c, "two", 3), 0);
	assert_int_equal(tdm_cast_input(c, "x", 1), 0);
	assert_int_equal(tdm_cast_marker(c, "second"), 0);
	assert_int_equal(count_frames(f->file), 3);
	assert_int_equal(tdm_zio_pending(tdm_cast_zio(c)), 0);
	assert_int_equal(tdm_cast_next_tick_ms(c), -1);
	close_cast(c);
	/* Nothing was pending at close: no empty frame. */
	p = read_all(f->file, &n);
	k = split_frames(p, n, fs, 16);
	assert_int_equal(k, 3);
	assert_int_equal(fs[2].off + fs[2].len, n);
	/* Each frame decompresses alone into whole lines. */
	for (i = 0; i < k; i++) {
		struct tdm_buf text;

		assert_int_equal(unzstd(p + fs[i].off, fs[i].len, &text), 0);
		assert_true(text.len > 0);
		assert_int_equal(text.data[text.len - 1], '\n');
		if (i == 1)
			assert_non_null(strstr((char *)text.data,
					       "\"m\", \"first\"]\n"));
		if (i == 2)
			assert_non_null(strstr((char *)text.data,
					       "\"m\", \"second\"]\n"));
		tdm_buf_free(&text);
	}
	free(p);
}

static void test_tick_closes_frame_after_interval(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 200);
	struct timespec pause = { 0, 250 * 1000 * 1000 };
	int ms;

	assert_int_equal(tdm_cast_next_tick_ms(c), -1);
	assert_int_equal(tdm_cast_output(c, "early", 5), 0);
	ms = tdm_cast_next_tick_ms(c);
	assert_true(ms > 0 && ms <= 200);
	assert_int_equal(tdm_cast_tick(c), 0);
	assert_int_equal(count_frames(f->file), 1);
	nanosleep(&pause, NULL);
	assert_int_equal(tdm_cast_next_tick_ms(c), 0);
	assert_int_equal(tdm_cast_tick(c), 0);
	assert_int_equal(count_frames(f->file), 2);
	assert_int_equal(tdm_cast_next_tick_ms(c), -1);
	/* Nothing pending: a tick writes nothing. */
	nanosleep(&pause, NULL);
	assert_int_equal(tdm_cast_tick(c), 0);
	assert_int_equal(count_frames(f->file), 2);
	close_cast(c);
}

static void test_tick_writes_stale_tail_as_bad(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 100);
	struct timespec pause = { 0, 150 * 1000 * 1000 };
	struct recording r;

	assert_int_equal(tdm_cast_output(c, "\xe2\x82", 2), 0);
	nanosleep(&pause, NULL);
	/* A tail left alone a whole interval is not waiting for more. */
	assert_int_equal(tdm_cast_next_tick_ms(c), 0);
	assert_int_equal(tdm_cast_tick(c), 0);
	assert_int_equal(count_frames(f->file), 2);
	assert_int_equal(tdm_cast_next_tick_ms(c), -1);
	close_cast(c);
	load(&r, f->file);
	assert_int_equal(r.nev, 2);
	assert_string_equal(r.ev[0].data, "\xef\xbf\xbd");
	assert_string_equal(r.ev[1].data, "4oI=");
	recording_free(&r);
}

static void test_truncated_file_keeps_whole_frames(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 60000);
	struct frame_span fs[16];
	struct recording r;
	struct tdm_buf text;
	uint64_t cut;
	uint8_t *p;
	size_t n;

	assert_int_equal(tdm_cast_output(c, "before", 6), 0);
	assert_int_equal(tdm_cast_marker(c, "approved #1 by bob: ls"), 0);
	cut = tdm_zio_written(tdm_cast_zio(c));
	assert_int_equal(tdm_cast_output(c, "after the decision", 18), 0);
	close_cast(c);
	/* A crash mid-write: half of the last frame reached the disk. */
	p = read_all(f->file, &n);
	assert_true(n > cut + 4);
	assert_int_equal(split_frames(p, n - 4, fs, 16), 2);
	assert_int_equal(unzstd(p, n - 4, &text), 1);
	tdm_buf_free(&text);
	/* Cut after the last whole frame: a clean, complete stream. */
	assert_int_equal(ftruncate(f->fd, (off_t)cut), 0);
	free(p);
	p = read_all(f->file, &n);
	assert_int_equal(n, cut);
	load_bytes(&r, p, n);
	assert_int_equal(r.nev, 2);
	assert_string_equal(r.ev[0].data, "before");
	assert_int_equal(r.ev[1].code, 'm');
	recording_free(&r);
	free(p);
}

static int hook_collect(void *ctx, const uint8_t *frame, size_t len)
{
	return tdm_buf_put(ctx, frame, len);
}

static void test_frame_hook_sees_every_frame_byte(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 60000);
	struct tdm_buf seen;
	uint8_t *p;
	size_t n;

	tdm_buf_init(&seen, 0);
	assert_int_equal(tdm_cast_set_frame_hook(c, hook_collect, &seen), 0);
	assert_int_equal(tdm_cast_output(c, "hello", 5), 0);
	assert_int_equal(tdm_cast_marker(c, "m1"), 0);
	/* Too late: a hook set now would miss frames. */
	assert_int_equal(tdm_cast_set_frame_hook(c, hook_collect, &seen),
			 TDM_ERR_INVAL);
	assert_int_equal(tdm_cast_input(c, "x", 1), 0);
	close_cast(c);
	p = read_all(f->file, &n);
	assert_int_equal(seen.len, n);
	assert_memory_equal(seen.data, p, n);
	free(p);
	tdm_buf_free(&seen);
}

/* ---- failures ---------------------------------------------------------- */

static void test_write_failure_is_sticky(void **state)
{
	struct tdm_cast_header h = sample_header();
	struct tdm_cast *c = NULL;
	int p[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(tdm_cast_open_fd(p[1], &h, 1000, &c), 0);
	/* The reader goes away: the next frame cannot be written. */
	close(p[0]);
	assert_int_equal(tdm_cast_output(c, "data", 4), 0);
	assert_int_equal(tdm_cast_marker(c, "approved #1 by bob: ls"),
			 TDM_ERR_IO);
	assert_int_equal(tdm_cast_errno(c), EPIPE);
	assert_int_equal(tdm_cast_output(c, "more", 4), TDM_ERR_IO);
	assert_int_equal(tdm_cast_input(c, "x", 1), TDM_ERR_IO);
	assert_int_equal(tdm_cast_resize(c, 1, 1), TDM_ERR_IO);
	assert_int_equal(tdm_cast_marker(c, "again"), TDM_ERR_IO);
	assert_int_equal(tdm_cast_tick(c), TDM_ERR_IO);
	assert_int_equal(tdm_cast_next_tick_ms(c), -1);
	assert_int_equal(tdm_zio_failed(tdm_cast_zio(c)), TDM_ERR_IO);
	assert_int_equal(tdm_cast_close(c), TDM_ERR_IO);
	tdm_cast_free(c);
	close(p[1]);
}

/*
 * A file-size limit makes write(2) stop part way through a frame, as a full
 * disk does: the torn frame must be cut off so the file still ends on a
 * whole frame.
 */
static void test_torn_frame_is_cut_off(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 60000);
	/* Less than a burst's frame is cut at, so it waits in the open
	 * frame and the marker's write is the one that tears. */
	size_t n = 64u << 10, len;
	struct rlimit old, lim;
	struct recording r;
	uint64_t whole;
	uint8_t *data = malloc(n), *p;

	assert_non_null(data);
	fill_random(data, n);
	assert_int_equal(tdm_cast_marker(c, "approved #1 by bob: ls"), 0);
	whole = tdm_zio_written(tdm_cast_zio(c));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)whole + 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(tdm_cast_output(c, data, n), 0);
	assert_int_equal(tdm_cast_marker(c, "approved #2 by bob: cat"),
			 TDM_ERR_IO);
	assert_int_equal(tdm_cast_errno(c), EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(tdm_cast_output(c, "x", 1), TDM_ERR_IO);
	assert_int_equal(tdm_cast_close(c), TDM_ERR_IO);
	tdm_cast_free(c);
	p = read_all(f->file, &len);
	assert_int_equal(len, whole);
	load_bytes(&r, p, len);
	assert_int_equal(r.nev, 1);
	assert_string_equal(r.ev[0].data, "approved #1 by bob: ls");
	recording_free(&r);
	free(p);
	free(data);
}

static void test_full_disk_fails_open_and_frames(void **state)
{
	struct tdm_cast_header h = sample_header();
	struct tdm_cast *c = NULL;
	struct tdm_zio *z = NULL;
	int fd;

	(void)state;
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		skip();
	/* The header frame is written at open: no recording, no session. */
	assert_int_equal(tdm_cast_open_fd(fd, &h, 1000, &c), TDM_ERR_IO);
	assert_null(c);
	assert_int_equal(tdm_zio_open(fd, 1, &z), 0);
	assert_int_equal(tdm_zio_append(z, "abc", 3), 0);
	assert_int_equal(tdm_zio_close_frame(z, 1), TDM_ERR_IO);
	assert_int_equal(tdm_zio_errno(z), ENOSPC);
	assert_int_equal(tdm_zio_append(z, "abc", 3), TDM_ERR_IO);
	assert_int_equal(tdm_zio_close_frame(z, 0), TDM_ERR_IO);
	assert_int_equal(tdm_zio_write_raw(z, "abc", 3, 0), TDM_ERR_IO);
	assert_int_equal(tdm_zio_written(z), 0);
	tdm_zio_free(z);
	close(fd);
}

static int hook_refuse(void *ctx, const uint8_t *frame, size_t len)
{
	(void)frame;
	(void)len;
	++*(int *)ctx;
	return TDM_ERR_NOMEM;
}

static void test_zio_hook_failure_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct tdm_zio *z = NULL;
	int calls = 0;

	assert_int_equal(tdm_zio_open(f->fd, 1, &z), 0);
	tdm_zio_set_frame_hook(z, hook_refuse, &calls);
	assert_int_equal(tdm_zio_append(z, "abc", 3), 0);
	assert_int_equal(tdm_zio_close_frame(z, 0), TDM_ERR_NOMEM);
	assert_int_equal(calls, 1);
	assert_int_equal(tdm_zio_append(z, "abc", 3), TDM_ERR_NOMEM);
	assert_int_equal(tdm_zio_written(z), 0);
	assert_int_equal(tdm_zio_errno(z), 0);
	tdm_zio_free(z);
	assert_int_equal(count_frames(f->file), 0);
}

static int hook_reenter(void *ctx, const uint8_t *frame, size_t len)
{
	(void)frame;
	(void)len;
	/* Writing from inside the hook would put bytes before the frame. */
	return tdm_zio_write_raw(ctx, "x", 1, 0) == TDM_ERR_INVAL ? 0 : -99;
}

static void test_zio_raw_frames_sit_between_frames(void **state)
{
	struct fixture *f = *state;
	static const uint8_t skip_frame[12] = {
		0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'l', 'i', 'n', 'k',
	};
	struct frame_span fs[8];
	struct tdm_zio *z = NULL;
	struct tdm_buf text;
	uint8_t *p;
	size_t n;

	assert_int_equal(tdm_zio_open(f->fd, 1, &z), 0);
	assert_int_equal(tdm_zio_open(f->fd, 99, &z), TDM_ERR_INVAL);
	tdm_zio_set_frame_hook(z, hook_reenter, z);
	assert_int_equal(tdm_zio_append(z, "abc", 3), 0);
	assert_int_equal(tdm_zio_pending(z), 3);
	/* The open frame is written first, then the raw bytes. */
	assert_int_equal(
		tdm_zio_write_raw(z, skip_frame, sizeof(skip_frame), 1), 0);
	assert_int_equal(tdm_zio_pending(z), 0);
	assert_int_equal(tdm_zio_append(z, "def", 3), 0);
	assert_int_equal(tdm_zio_close_frame(z, 1), 0);
	assert_int_equal(tdm_zio_close_frame(z, 1), 0); /* nothing open */
	assert_int_equal(tdm_zio_failed(z), 0);
	p = read_all(f->file, &n);
	assert_int_equal(tdm_zio_written(z), n);
	tdm_zio_free(z);
	assert_int_equal(split_frames(p, n, fs, 8), 3);
	assert_false(fs[0].skippable);
	assert_true(fs[1].skippable);
	assert_int_equal(fs[1].len, sizeof(skip_frame));
	assert_false(fs[2].skippable);
	assert_int_equal(unzstd(p, n, &text), 0);
	assert_int_equal(text.len, 6);
	assert_memory_equal(text.data, "abcdef", 6);
	/* Every frame carries a checksum. */
	assert_int_equal(p[4] & 0x04, 0x04);
	tdm_buf_free(&text);
	free(p);
}

static void test_zio_long_burst_is_cut_into_bounded_frames(void **state)
{
	struct fixture *f = *state;
	size_t n = 24u << 20, off, step = 64u << 10, k, i;
	uint8_t *data = malloc(n), *p;
	struct frame_span fs[16];
	struct tdm_zio *z = NULL;
	struct tdm_buf text;

	assert_non_null(data);
	fill_random(data, n);
	assert_int_equal(tdm_zio_open(f->fd, 1, &z), 0);
	for (off = 0; off < n; off += step)
		assert_int_equal(tdm_zio_append(z, data + off, step), 0);
	assert_true(tdm_zio_pending(z) < n);
	assert_int_equal(tdm_zio_close_frame(z, 0), 0);
	tdm_zio_free(z);
	p = read_all(f->file, &k);
	assert_int_equal(unzstd(p, k, &text), 0);
	assert_int_equal(text.len, n);
	assert_memory_equal(text.data, data, n);
	k = split_frames(p, k, fs, 16);
	assert_true(k >= 3);
	for (i = 0; i < k; i++)
		assert_true(fs[i].len <=
			    TDM_ZIO_FRAME_MAX + ZSTD_compressBound(step));
	tdm_buf_free(&text);
	free(p);
	free(data);
}

/* ---- tdm_cast_create --------------------------------------------------- */

static void assert_mode(const char *path, mode_t want, int is_dir)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(is_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode), 1);
	assert_int_equal(st.st_mode & 07777, want);
}

static void test_create_makes_dated_path_and_modes(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast_header h = sample_header();
	struct tdm_cast *c = NULL, *c2 = NULL;
	char path[256], want[256], sub[256];
	struct recording r;
	struct stat st;
	mode_t old;

	snprintf(want, sizeof(want), "%s/2024/11/24/%s.cast.zst", f->dir,
		 SESSION);
	/* Too small for the path: refused before anything is made. */
	assert_int_equal(tdm_cast_create(f->dir, &h, 1000, &c, path, 20),
			 TDM_ERR_RANGE);
	snprintf(sub, sizeof(sub), "%s/2024", f->dir);
	assert_int_equal(stat(sub, &st), -1);
	/* A strict umask must not change the modes. */
	old = umask(077);
	assert_int_equal(
		tdm_cast_create(f->dir, &h, 1000, &c, path, sizeof(path)), 0);
	umask(old);
	assert_string_equal(path, want);
	assert_mode(sub, 02750, 1);
	snprintf(sub, sizeof(sub), "%s/2024/11", f->dir);
	assert_mode(sub, 02750, 1);
	snprintf(sub, sizeof(sub), "%s/2024/11/24", f->dir);
	assert_mode(sub, 02750, 1);
	assert_mode(path, 0640, 0);
	/* Never an existing file: the same session id is refused. */
	assert_int_equal(tdm_cast_create(f->dir, &h, 1000, &c2, NULL, 0),
			 TDM_ERR_IO);
	assert_int_equal(errno, EEXIST);
	assert_null(c2);
	assert_int_equal(tdm_cast_output(c, "hi", 2), 0);
	close_cast(c);
	/* The file was not touched by the refused create. */
	load(&r, path);
	assert_int_equal(r.nev, 1);
	recording_free(&r);
	/* A second session the same day reuses the day directory. */
	h.session = "123e4567-e89b-12d3-a456-426614174001";
	assert_int_equal(tdm_cast_create(f->dir, &h, 1000, &c, NULL, 0), 0);
	close_cast(c);
	/* A missing recordings directory is reported as such. */
	snprintf(sub, sizeof(sub), "%s/nonexistent", f->dir);
	assert_int_equal(tdm_cast_create(sub, &h, 1000, &c, NULL, 0),
			 TDM_ERR_NOTFOUND);
}

/* ---- asciinema --------------------------------------------------------- */

/*
 * asciinema 2.2 `cat` opens /dev/tty, so it runs on a pseudo-terminal with
 * its stdout sent to a file; what it prints must be the output bytes.
 */
static void test_asciinema_cat_prints_exact_output(void **state)
{
	struct fixture *f = *state;
	struct tdm_cast *c = open_cast(f, 1000);
	static const char *chunks[] = {
		"\x1b[1;32malice@db01\x1b[0m:\x1b[1;34m~\x1b[0m$ ",
		"ls --color\r\n",
		"\x1b[0m\x1b[01;34mr\xc3\xa9sum\xc3\xa9s\x1b[0m  ",
		"\xe2\x9c\x93 done \xe2",
		"\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \"q\" \\ \t\r\n",
		"\xf0\x9f\x98\x80\x1b]0;title\x07\x1b[K\r\n",
	};
	char out_path[128], cmd[512];
	struct tdm_buf want;
	uint8_t buf[256], *got;
	size_t i, got_len;
	int master, status;
	pid_t pid;

	if (system("command -v asciinema >/dev/null 2>&1 && "
		   "command -v zstd >/dev/null 2>&1") != 0) {
		tdm_cast_free(c);
		skip();
	}
	tdm_buf_init(&want, 0);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		assert_int_equal(
			tdm_cast_output(c, chunks[i], strlen(chunks[i])), 0);
		assert_int_equal(tdm_buf_puts(&want, chunks[i]), 0);
		/* The tail of chunk 3 is carried across other events. */
		if (i == 1)
			assert_int_equal(tdm_cast_marker(c, "approved"), 0);
		if (i == 2)
			assert_int_equal(tdm_cast_input(c, "ls\r", 3), 0);
		if (i == 3)
			assert_int_equal(tdm_cast_resize(c, 100, 30), 0);
	}
	close_cast(c);
	snprintf(out_path, sizeof(out_path), "%s/cat.out", f->dir);
	snprintf(cmd, sizeof(cmd),
		 "zstd -qdc '%s' | asciinema cat - > '%s' 2>/dev/null", f->file,
		 out_path);
	pid = forkpty(&master, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Drain the terminal so the child never blocks on it. */
	while (read(master, buf, sizeof(buf)) > 0)
		;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(master);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	got = read_all(out_path, &got_len);
	assert_int_equal(got_len, want.len);
	assert_memory_equal(got, want.data, want.len);
	free(got);
	tdm_buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_header_has_every_pinned_field),
		T(test_header_optional_fields_and_escaping),
		T(test_header_rejects_bad_strings),
		T(test_events_o_i_r_m_in_order),
		T(test_consecutive_output_is_one_event),
		T(test_batch_is_cut_at_limit),
		T(test_control_chars_and_quotes_are_escaped),
		T(test_marker_label_is_repaired_text),
		T(test_invalid_utf8_gets_fffd_and_exact_x),
		T(test_overlong_surrogate_and_out_of_range_rejected),
		T(test_split_multibyte_makes_no_x),
		T(test_marker_flushes_carried_tail_as_bad),
		T(test_random_mib_round_trips_exactly),
		T(test_every_marker_ends_a_frame),
		T(test_tick_closes_frame_after_interval),
		T(test_tick_writes_stale_tail_as_bad),
		T(test_truncated_file_keeps_whole_frames),
		T(test_frame_hook_sees_every_frame_byte),
		T(test_write_failure_is_sticky),
		T(test_torn_frame_is_cut_off),
		T(test_full_disk_fails_open_and_frames),
		T(test_zio_hook_failure_writes_nothing),
		T(test_zio_raw_frames_sit_between_frames),
		T(test_zio_long_burst_is_cut_into_bounded_frames),
		T(test_create_makes_dated_path_and_modes),
		T(test_asciinema_cat_prints_exact_output),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
