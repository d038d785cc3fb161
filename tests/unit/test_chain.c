/*
 * test_chain.c: the hash chain, the seal and the verifier (chain.c,
 * sign.c, castread.c, trust.c).
 *
 * Recordings are made with the real writer and a key made by the real
 * ssh-keygen, then altered the ways an attacker or a crash would alter
 * them, and read back with the reader tandem-replay uses.  The seal is
 * also handed to `ssh-keygen -Y verify`, which must accept it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zstd.h>

#include "base64.h"
#include "buf.h"
#include "cast.h"
#include "castread.h"
#include "chain.h"
#include "err.h"
#include "sign.h"
#include "trust.h"
#include "zio.h"

#include <openssl/evp.h>

#define SESSION_A "123e4567-e89b-12d3-a456-426614174000"
#define SESSION_B "123e4567-e89b-12d3-a456-426614174001"

static char dir[64];
static char key_a[96], key_b[96], key_pass[96], key_ecdsa[96];

/* ---- fixtures ---------------------------------------------------------- */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int make_keys(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/tdm_chain_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(key_a, sizeof(key_a), "%s/a", dir);
	snprintf(key_b, sizeof(key_b), "%s/b", dir);
	snprintf(key_pass, sizeof(key_pass), "%s/pass", dir);
	snprintf(key_ecdsa, sizeof(key_ecdsa), "%s/ecdsa", dir);
	if (run("ssh-keygen -q -t ed25519 -N '' -C tandem@bastion1 -f %s",
		key_a) != 0 ||
	    run("ssh-keygen -q -t ed25519 -N '' -C intruder -f %s", key_b) !=
		    0 ||
	    run("ssh-keygen -q -t ed25519 -N secret -f %s", key_pass) != 0 ||
	    run("ssh-keygen -q -t ecdsa -N '' -f %s", key_ecdsa) != 0)
		return -1;
	return 0;
}

static int remove_keys(void **state)
{
	(void)state;
	return run("rm -rf %s", dir) == 0 ? 0 : -1;
}

/* A recording in memory: what the writer put in a memfd. */
struct rec {
	uint8_t *p;
	size_t n;
};

static void rec_free(struct rec *r)
{
	free(r->p);
	r->p = NULL;
	r->n = 0;
}

static struct rec read_fd(int fd)
{
	struct rec r = { 0 };
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size >= 0 && st.st_size < (1 << 30));
	r.n = (size_t)st.st_size & ((1u << 30) - 1);
	r.p = malloc(r.n + 1);
	assert_non_null(r.p);
	assert_int_equal(pread(fd, r.p, r.n, 0), (ssize_t)r.n);
	return r;
}

static struct tdm_cast_header header_for(const char *session,
					 const char *pubkey)
{
	struct tdm_cast_header h = {
		.width = 80,
		.height = 24,
		.timestamp = 1732440000,
		.term = "xterm-256color",
		.session = session,
		.engineer = "alice",
		.target = "db01",
		.address = "10.0.0.5",
		.bastion = "bastion1",
		.pubkey = pubkey,
		.version = "0.1.0",
	};
	return h;
}

#define DECISION                                                      \
	"approved #1 by bob: rm -rf /tmp/x\t{\"event\":\"decision\"," \
	"\"seq\":1,\"decision\":\"approved\",\"escort\":\"bob\","     \
	"\"reason\":null,\"risks\":[],\"command\":\"rm -rf /tmp/x\"," \
	"\"command_b64\":\"cm0gLXJmIC90bXAveA==\"}"

/*
 * Writes a recording with `events` rounds of output, input and a
 * decision, chained, signed by key (sealed unless seal is 0).
 */
static struct rec make_rec(const char *key, const char *session, int events,
			   int seal)
{
	struct tdm_signer *s = NULL;
	struct tdm_cast *c = NULL;
	struct tdm_chain *ch = NULL;
	struct tdm_cast_header h;
	struct rec r;
	int fd, i;

	assert_int_equal(tdm_signer_load(key, &s), 0);
	fd = memfd_create("rec", MFD_CLOEXEC);
	assert_true(fd >= 0);
	h = header_for(session, tdm_signer_pubkey(s));
	assert_int_equal(tdm_cast_open_fd(fd, &h, 1000, &c), 0);
	assert_int_equal(tdm_chain_attach(c, s, &ch), 0);
	for (i = 0; i < events; i++) {
		assert_int_equal(tdm_cast_output(c, "hello \xff world\r\n", 15),
				 0);
		assert_int_equal(tdm_cast_marker(c, DECISION), 0);
		assert_int_equal(tdm_cast_input(c, "ls\r", 3), 0);
		assert_int_equal(tdm_cast_marker(c, "escort left: bob"), 0);
	}
	if (seal)
		assert_int_equal(tdm_chain_seal(ch, c), 0);
	assert_int_equal(tdm_cast_close(c), 0);
	tdm_chain_free(ch);
	tdm_cast_free(c);
	tdm_signer_free(s);
	r = read_fd(fd);
	close(fd);
	return r;
}

/* Verifies bytes with the reader; returns the verdict, fills *out. */
static enum tdm_verdict verify_bytes(const uint8_t *p, size_t n,
				     struct tdm_verify *out)
{
	struct tdm_castread *r;
	struct tdm_verify v;
	int fd = memfd_create("verify", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (n > 0)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(tdm_castread_open(fd, "test.cast.zst", &r), 0);
	tdm_castread_verify(r, &v);
	tdm_castread_free(r);
	close(fd);
	if (out != NULL)
		*out = v;
	return v.verdict;
}

/* Keeps link k of p[0, n) as a second reading would (0: not met). */
static int kept_link_of(const uint8_t *p, size_t n, uint64_t k,
			uint8_t out[TDM_LINK_SIZE])
{
	struct tdm_castread *r;
	struct tdm_verify v;
	int fd = memfd_create("again", MFD_CLOEXEC), rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(tdm_castread_open(fd, "again.cast.zst", &r), 0);
	tdm_castread_keep_link(r, k);
	tdm_castread_verify(r, &v);
	rc = tdm_castread_kept_link(r, out);
	tdm_castread_free(r);
	close(fd);
	return rc;
}

/* ---- frames, as an attacker would cut them ------------------------------- */

struct span {
	size_t off, len;
	uint32_t magic;
};

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Cuts a well-formed file into frames (test-side, independent walker). */
static size_t split(const struct rec *r, struct span *f, size_t max)
{
	size_t i = 0, n = 0, pos, hd;
	uint8_t fhd;
	uint32_t bh;

	while (i < r->n && n < max) {
		f[n].off = i;
		f[n].magic = le32_at(r->p + i);
		if ((f[n].magic & 0xFFFFFFF0u) == 0x184D2A50u) {
			f[n].len = 8 + le32_at(r->p + i + 4);
		} else {
			static const size_t did[4] = { 0, 1, 2, 4 };
			static const size_t fcs[4] = { 0, 2, 4, 8 };

			fhd = r->p[i + 4];
			hd = 5 + ((fhd & 0x20) ? 0u : 1u) + did[fhd & 3];
			hd += (fhd >> 6) == 0 && (fhd & 0x20) ? 1u :
								fcs[fhd >> 6];
			pos = hd;
			do {
				bh = (uint32_t)r->p[i + pos] |
				     (uint32_t)r->p[i + pos + 1] << 8 |
				     (uint32_t)r->p[i + pos + 2] << 16;
				pos += 3 + (((bh >> 1) & 3) == 1 ? 1 : bh >> 3);
			} while (!(bh & 1));
			if (fhd & 4)
				pos += 4;
			f[n].len = pos;
		}
		i += f[n].len;
		n++;
	}
	assert_int_equal(i, r->n);
	return n;
}

/* Builds a file from frames of a (and b), in the order given. */
static struct rec assemble(const struct rec *a, const struct span *fa,
			   const size_t *order, size_t count)
{
	struct rec out = { 0 };
	size_t i, k;

	for (i = 0; i < count; i++)
		out.n += fa[order[i]].len;
	out.p = malloc(out.n + 1);
	assert_non_null(out.p);
	for (i = 0, k = 0; i < count; i++) {
		memcpy(out.p + k, a->p + fa[order[i]].off, fa[order[i]].len);
		k += fa[order[i]].len;
	}
	return out;
}

/* ---- the signing key ------------------------------------------------------ */

static void test_signer_reads_ssh_keygen_key(void **state)
{
	struct tdm_signer *s;
	char pub_path[128], line[512];
	FILE *f;

	(void)state;
	assert_int_equal(tdm_signer_load(key_a, &s), 0);
	snprintf(pub_path, sizeof(pub_path), "%s.pub", key_a);
	f = fopen(pub_path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	/* The header carries exactly the line ssh-keygen wrote. */
	assert_string_equal(tdm_signer_pubkey(s), line);
	tdm_signer_free(s);
}

static void test_signer_refuses_passphrase_key_and_says_fix(void **state)
{
	struct tdm_signer *s = NULL;
	char why[512] = "";

	(void)state;
	assert_int_equal(tdm_signer_load_why(key_pass, &s, why, sizeof(why)),
			 TDM_ERR_INVAL);
	assert_null(s);
	assert_non_null(strstr(why, key_pass));
	assert_non_null(strstr(why, "passphrase"));
	assert_non_null(strstr(why, "ssh-keygen -p -N ''"));
}

static void test_signer_refuses_other_key_types(void **state)
{
	struct tdm_signer *s = NULL;
	char why[512] = "";

	(void)state;
	assert_int_equal(tdm_signer_load_why(key_ecdsa, &s, why, sizeof(why)),
			 TDM_ERR_INVAL);
	assert_non_null(strstr(why, "not an ed25519 key"));
}

static void test_signer_refuses_missing_and_garbage_files(void **state)
{
	struct tdm_signer *s = NULL;
	char why[512] = "", path[128];

	(void)state;
	assert_int_equal(tdm_signer_load_why("/nonexistent/key", &s, why,
					     sizeof(why)),
			 TDM_ERR_NOTFOUND);
	assert_non_null(strstr(why, "/nonexistent/key"));
	snprintf(path, sizeof(path), "%s.pub", key_a);
	assert_int_equal(tdm_signer_load_why(path, &s, why, sizeof(why)),
			 TDM_ERR_INVAL);
	assert_non_null(strstr(why, "not a private key file"));
	assert_null(s);
}

static void test_signer_refuses_a_key_others_can_read(void **state)
{
	struct tdm_signer *s = NULL;
	char why[512] = "", path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s.open", key_a);
	assert_int_equal(run("cp %s %s && chmod 644 %s", key_a, path, path), 0);
	assert_int_equal(tdm_signer_load_why(path, &s, why, sizeof(why)),
			 TDM_ERR_DENIED);
	assert_null(s);
	assert_non_null(strstr(why, "open to others (mode 0644)"));
	assert_non_null(strstr(why, "chmod 600"));
	/* Readable by the reader's own group, as tandem:tandem 0640: used. */
	assert_int_equal(run("chmod 640 %s", path), 0);
	assert_int_equal(tdm_signer_load_why(path, &s, why, sizeof(why)), 0);
	tdm_signer_free(s);
	s = NULL;
	/* By another group (the escorts', say): its members could seal.
	 * (Only root may give a file away; make check runs as root.) */
	if (geteuid() != 0)
		print_message("not root: group check not run\n");
	else if (getegid() != 65534 &&
		 run("chgrp 65534 %s 2>/dev/null", path) == 0) {
		assert_int_equal(tdm_signer_load_why(path, &s, why,
						     sizeof(why)),
				 TDM_ERR_DENIED);
		assert_null(s);
		assert_non_null(strstr(why, "readable by group 65534"));
	}
	unlink(path);
}

/* ---- sealed recordings ------------------------------------------------------ */

static void test_sealed_recording_verifies(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1);
	struct tdm_verify v;
	uint8_t pub[TDM_ED25519_PUB];
	struct tdm_signer *s;

	(void)state;
	assert_int_equal(verify_bytes(r.p, r.n, &v), TDM_VERDICT_SEALED);
	/* Header link, then one per data frame: 1 + 3 * 2 markers. */
	assert_int_equal(v.links, 7);
	assert_int_equal(v.good_bytes + 8 + TDM_SEAL_SIZE, r.n);
	assert_int_equal(tdm_signer_load(key_a, &s), 0);
	assert_int_equal(tdm_pubkey_parse(tdm_signer_pubkey(s), pub, NULL), 0);
	assert_memory_equal(v.signer, pub, sizeof(pub));
	tdm_signer_free(s);
	rec_free(&r);
}

static void test_zstd_skips_links_and_seal(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 1);
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer in = { NULL, 0, 0 };
	ZSTD_outBuffer ob;
	size_t cap = 1u << 20, got, ret;
	uint8_t *out = malloc(cap + 1);

	(void)state;
	/* Plain zstd sees an asciicast file and nothing of the chain. */
	assert_non_null(out);
	in.src = r.p;
	in.size = r.n;
	ob.dst = out;
	ob.size = cap;
	ob.pos = 0;
	while (in.pos < in.size) {
		ret = ZSTD_decompressStream(d, &ob, &in);
		assert_false(ZSTD_isError(ret));
	}
	ZSTD_freeDCtx(d);
	got = ob.pos;
	out[got] = '\0';
	assert_true(strncmp((char *)out, "{\"version\":2,", 13) == 0);
	assert_non_null(strstr((char *)out, "\"m\", \"escort left: bob\"]\n"));
	free(out);
	rec_free(&r);
}

static void test_every_frame_is_followed_by_its_link(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1);
	struct span f[64];
	size_t n = split(&r, f, 64), i;

	(void)state;
	assert_int_equal(f[0].magic, 0xFD2FB528u);
	for (i = 0; i + 1 < n; i += 2) {
		assert_int_equal(f[i].magic, 0xFD2FB528u);
		assert_int_equal(f[i + 1].magic, TDM_CHAIN_LINK_MAGIC);
		assert_int_equal(f[i + 1].len, TDM_LINK_FRAME);
	}
	assert_int_equal(f[n - 1].magic, TDM_CHAIN_SEAL_MAGIC);
	assert_int_equal(f[n - 1].len, 8 + TDM_SEAL_SIZE);
	rec_free(&r);
}

static void test_nothing_is_written_after_the_seal(void **state)
{
	struct tdm_signer *s;
	struct tdm_cast *c;
	struct tdm_chain *ch;
	struct tdm_cast_header h;
	struct rec r;
	int fd;

	(void)state;
	assert_int_equal(tdm_signer_load(key_a, &s), 0);
	fd = memfd_create("rec", MFD_CLOEXEC);
	h = header_for(SESSION_A, tdm_signer_pubkey(s));
	assert_int_equal(tdm_cast_open_fd(fd, &h, 1000, &c), 0);
	assert_int_equal(tdm_chain_attach(c, s, &ch), 0);
	assert_int_equal(tdm_cast_output(c, "x", 1), 0);
	assert_int_equal(tdm_chain_seal(ch, c), 0);
	/* The event is taken, but its frame can never be written. */
	tdm_cast_output(c, "late", 4);
	assert_true(tdm_cast_close(c) < 0);
	tdm_chain_free(ch);
	tdm_cast_free(c);
	tdm_signer_free(s);
	r = read_fd(fd);
	close(fd);
	assert_int_equal(verify_bytes(r.p, r.n, NULL), TDM_VERDICT_SEALED);
	rec_free(&r);
}

/* ---- what verify must catch ---------------------------------------------------- */

static void test_every_flipped_bit_is_tampered(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 1);
	struct tdm_verify v;
	size_t i;
	int bit;

	(void)state;
	for (i = 0; i < r.n; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			r.p[i] ^= (uint8_t)(1u << bit);
			if (verify_bytes(r.p, r.n, &v) != TDM_VERDICT_TAMPERED)
				fail_msg("bit %d of byte %zu flipped: %s", bit,
					 i, v.why);
			r.p[i] ^= (uint8_t)(1u << bit);
		}
	}
	rec_free(&r);
}

static void test_flipped_byte_names_its_frame(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1);
	struct span f[64];
	struct tdm_verify v;
	size_t n = split(&r, f, 64);

	(void)state;
	assert_true(n > 6);
	r.p[f[4].off + f[4].len / 2] ^= 0x20;
	assert_int_equal(verify_bytes(r.p, r.n, &v), TDM_VERDICT_TAMPERED);
	assert_int_equal(v.bad_frame, 4);
	assert_int_equal(v.bad_offset, f[4].off);
	assert_non_null(strstr(v.why, "frame 4"));
	/* Good up to the link before it. */
	assert_int_equal(v.links, 2);
	rec_free(&r);
}

static void test_deleted_frames_are_tampered(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1), t;
	struct span f[64];
	size_t order[64], n = split(&r, f, 64), del, len, i, k;

	(void)state;
	/* Any one frame, or a data frame with its link. */
	for (len = 1; len <= 2; len++) {
		for (del = 0; del + len <= n - 1; del++) {
			for (i = 0, k = 0; i < n; i++)
				if (i < del || i >= del + len)
					order[k++] = i;
			t = assemble(&r, f, order, k);
			if (verify_bytes(t.p, t.n, NULL) !=
			    TDM_VERDICT_TAMPERED)
				fail_msg("frames %zu..%zu deleted", del,
					 del + len - 1);
			rec_free(&t);
		}
	}
	rec_free(&r);
}

static void test_swapped_frames_are_tampered(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1), t;
	struct span f[64];
	size_t order[64], n = split(&r, f, 64), a, b, i;

	(void)state;
	for (a = 0; a < n; a++) {
		for (b = a + 1; b < n; b++) {
			for (i = 0; i < n; i++)
				order[i] = i;
			order[a] = b;
			order[b] = a;
			t = assemble(&r, f, order, n);
			if (verify_bytes(t.p, t.n, NULL) !=
			    TDM_VERDICT_TAMPERED)
				fail_msg("frames %zu and %zu swapped", a, b);
			rec_free(&t);
		}
	}
	/* And a data frame moved together with its link. */
	for (i = 0; i < n; i++)
		order[i] = i;
	order[2] = 4;
	order[3] = 5;
	order[4] = 2;
	order[5] = 3;
	t = assemble(&r, f, order, n);
	assert_int_equal(verify_bytes(t.p, t.n, NULL), TDM_VERDICT_TAMPERED);
	rec_free(&t);
	rec_free(&r);
}

static void test_spliced_frames_are_tampered(void **state)
{
	struct rec a = make_rec(key_a, SESSION_A, 3, 1);
	struct rec b = make_rec(key_a, SESSION_B, 3, 1);
	struct span fa[64], fb[64];
	size_t na = split(&a, fa, 64), nb = split(&b, fb, 64), i, k, len;
	struct rec t;

	(void)state;
	assert_int_equal(na, nb);
	/* Frame i (and its link) of b in place of a's, same size or not. */
	for (i = 0; i < na; i++) {
		for (len = 1; len <= 2 && i + len <= na; len++) {
			t.n = 0;
			t.p = malloc(a.n + b.n);
			assert_non_null(t.p);
			for (k = 0; k < na; k++) {
				const struct rec *src =
					k >= i && k < i + len ? &b : &a;
				const struct span *sf = src == &b ? fb : fa;

				memcpy(t.p + t.n, src->p + sf[k].off,
				       sf[k].len);
				t.n += sf[k].len;
			}
			/* Frames made at the same microsecond with the same
			 * events are the same bytes: nothing was changed. */
			if (t.n == a.n && memcmp(t.p, a.p, a.n) == 0) {
				rec_free(&t);
				continue;
			}
			if (verify_bytes(t.p, t.n, NULL) !=
			    TDM_VERDICT_TAMPERED)
				fail_msg("frames %zu..%zu spliced", i,
					 i + len - 1);
			rec_free(&t);
		}
	}
	rec_free(&a);
	rec_free(&b);
}

static void test_appended_frames_are_tampered(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 1), t;
	struct span f[64];
	size_t order[65], n = split(&r, f, 64), i;

	(void)state;
	for (i = 0; i < n; i++)
		order[i] = i;
	order[n] = 2;
	t = assemble(&r, f, order, n + 1);
	assert_int_equal(verify_bytes(t.p, t.n, NULL), TDM_VERDICT_TAMPERED);
	rec_free(&t);
	rec_free(&r);
}

static void test_truncation_is_unsealed_with_the_good_time(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 3, 1);
	struct span f[64];
	struct tdm_verify v, full;
	size_t n = split(&r, f, 64), len, i;
	uint64_t last = 0;

	(void)state;
	assert_int_equal(verify_bytes(r.p, r.n, &full), TDM_VERDICT_SEALED);
	for (len = 0; len < r.n; len++) {
		if (verify_bytes(r.p, len, &v) != TDM_VERDICT_UNSEALED)
			fail_msg("cut to %zu bytes: %s", len, v.why);
		/* The good time only grows as more of the file is kept. */
		assert_true(v.good_us >= last);
		assert_true(v.good_us <= full.good_us);
		last = v.good_us;
	}
	/* Cut right after link k: good exactly to that link. */
	for (i = 1; i < n; i += 2) {
		verify_bytes(r.p, f[i].off + f[i].len, &v);
		assert_int_equal(v.links, (i + 1) / 2);
		assert_int_equal(v.good_bytes, f[i].off + f[i].len);
		assert_non_null(strstr(v.why, "intact up to"));
	}
	rec_free(&r);
}

static void test_missing_seal_is_unsealed(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 0);
	struct tdm_verify v;

	(void)state;
	assert_int_equal(verify_bytes(r.p, r.n, &v), TDM_VERDICT_UNSEALED);
	assert_int_equal(v.good_bytes, r.n);
	assert_non_null(strstr(v.why, "no seal"));
	rec_free(&r);
}

/* Zeros after a recording: what a crash leaves, unless it was sealed. */
static void test_a_tail_of_zeros_is_a_crash_before_the_seal_only(void **state)
{
	struct rec r;
	struct tdm_verify v;
	uint8_t *p;
	int sealed;

	(void)state;
	for (sealed = 0; sealed <= 1; sealed++) {
		r = make_rec(key_a, SESSION_A, 2, sealed);
		p = calloc(1, r.n + 4096);
		assert_non_null(p);
		memcpy(p, r.p, r.n);
		if (!sealed) {
			assert_int_equal(verify_bytes(p, r.n + 4096, &v),
					 TDM_VERDICT_UNSEALED);
			/* With something after them, they were put there. */
			p[r.n + 4000] = 1;
		} else {
			/* The seal is the last write: no crash follows it. */
			assert_int_equal(verify_bytes(p, r.n + 1, &v),
					 TDM_VERDICT_TAMPERED);
			assert_non_null(strstr(v.why, "after the seal"));
		}
		assert_int_equal(verify_bytes(p, r.n + 4096, &v),
				 TDM_VERDICT_TAMPERED);
		free(p);
		rec_free(&r);
	}
}

static void test_a_second_reading_shows_what_the_first_verified(void **state)
{
	/* tandem-replay verifies first, then decodes in a second reading;
	 * the link where the first's chain ended binds the two. */
	struct rec a = make_rec(key_a, SESSION_A, 3, 1);
	struct rec b = make_rec(key_b, SESSION_B, 3, 1);
	struct tdm_verify first;
	uint8_t link[TDM_LINK_SIZE];

	(void)state;
	assert_int_equal(verify_bytes(a.p, a.n, &first), TDM_VERDICT_SEALED);
	assert_true(first.links > 1);
	/* The same bytes again: the same link. */
	assert_int_equal(kept_link_of(a.p, a.n, first.links, link), 0);
	assert_memory_equal(link, first.good_link, TDM_LINK_SIZE);
	/* Another recording put in its place: another link. */
	assert_int_equal(kept_link_of(b.p, b.n, first.links, link), 0);
	assert_memory_not_equal(link, first.good_link, TDM_LINK_SIZE);
	/* Cut short in between: the link is never met. */
	assert_int_equal(kept_link_of(a.p, a.n / 2, first.links, link), -1);
	rec_free(&a);
	rec_free(&b);
}

static void test_seal_by_a_key_the_header_does_not_name(void **state)
{
	struct rec a = make_rec(key_a, SESSION_A, 2, 1);
	struct rec b = make_rec(key_b, SESSION_A, 2, 1);
	struct span fa[64], fb[64];
	size_t na = split(&a, fa, 64), nb = split(&b, fb, 64);
	struct tdm_verify v;
	struct rec t;

	(void)state;
	/* a's chain with the seal b's key made over b's chain. */
	t.n = fa[na - 1].off + fb[nb - 1].len;
	t.p = malloc(t.n);
	assert_non_null(t.p);
	memcpy(t.p, a.p, fa[na - 1].off);
	memcpy(t.p + fa[na - 1].off, b.p + fb[nb - 1].off, fb[nb - 1].len);
	assert_int_equal(verify_bytes(t.p, t.n, &v), TDM_VERDICT_TAMPERED);
	rec_free(&t);
	rec_free(&a);
	rec_free(&b);
}

static void test_resigned_recording_is_caught_by_the_pinned_key(void **state)
{
	/* The intruder rewrites everything and names their own key. */
	struct rec forged = make_rec(key_b, SESSION_A, 2, 1);
	struct tdm_trust *trust = NULL, *signers = NULL;
	struct tdm_verify v;
	char path[128], why[256];
	FILE *f;

	(void)state;
	/* Alone, a consistent forgery looks sealed: hence pinning. */
	assert_int_equal(verify_bytes(forged.p, forged.n, &v),
			 TDM_VERDICT_SEALED);
	snprintf(path, sizeof(path), "%s.pub", key_a);
	assert_int_equal(tdm_trust_add_keys(&trust, path, why, sizeof(why)), 0);
	assert_int_equal(tdm_trust_check(trust, v.signer, "bastion1", 0), 0);

	snprintf(path, sizeof(path), "%s/allowed_signers", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# bastions\nbastion* namespaces=\"tandem-recording\" ");
	fclose(f);
	assert_int_equal(run("cat %s.pub >> %s", key_a, path), 0);
	assert_int_equal(tdm_trust_add_allowed_signers(&signers, path, why,
						       sizeof(why)),
			 0);
	assert_int_equal(tdm_trust_check(signers, v.signer, "bastion1", 0), 0);
	rec_free(&forged);

	/* The genuine recording passes both pins; another bastion not. */
	forged = make_rec(key_a, SESSION_A, 2, 1);
	assert_int_equal(verify_bytes(forged.p, forged.n, &v),
			 TDM_VERDICT_SEALED);
	assert_int_equal(tdm_trust_check(trust, v.signer, "bastion1", 0), 1);
	assert_int_equal(tdm_trust_check(signers, v.signer, "bastion1", 0), 1);
	assert_int_equal(tdm_trust_check(signers, v.signer, "web1", 0), 0);
	tdm_trust_free(trust);
	tdm_trust_free(signers);
	rec_free(&forged);
}

static void
test_allowed_signers_validity_bounds_the_sessions_a_key_seals(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 1);
	struct tdm_trust *signers = NULL;
	struct tdm_verify v;
	char path[128], why[256];
	FILE *f;

	(void)state;
	assert_int_equal(verify_bytes(r.p, r.n, &v), TDM_VERDICT_SEALED);
	snprintf(path, sizeof(path), "%s/allowed_validity", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* In use from 2024-01-01 until the rotation on 2025-06-01 12:00. */
	fprintf(f, "bastion1 valid-after=\"20240101Z\",valid-before="
		   "\"202506011200Z\" ");
	fclose(f);
	assert_int_equal(run("cat %s.pub >> %s", key_a, path), 0);
	assert_int_equal(tdm_trust_add_allowed_signers(&signers, path, why,
						       sizeof(why)),
			 0);
	/* 2023-12-31 23:59:59, 2024-01-01, 2025-06-01 11:59:59, 12:00. */
	assert_int_equal(
		tdm_trust_check(signers, v.signer, "bastion1", 1704067199), 0);
	assert_int_equal(
		tdm_trust_check(signers, v.signer, "bastion1", 1704067200), 1);
	assert_int_equal(
		tdm_trust_check(signers, v.signer, "bastion1", 1748779199), 1);
	assert_int_equal(
		tdm_trust_check(signers, v.signer, "bastion1", 1748779200), 0);
	tdm_trust_free(signers);
	signers = NULL;
	/* A time ssh-keygen would not read is an error naming the line. */
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# rotated\nbastion1 valid-before=\"2025-06-01\" ");
	fclose(f);
	assert_int_equal(run("cat %s.pub >> %s", key_a, path), 0);
	assert_int_equal(tdm_trust_add_allowed_signers(&signers, path, why,
						       sizeof(why)),
			 -1);
	assert_non_null(strstr(why, ":2: valid-after or valid-before"));
	tdm_trust_free(signers);
	rec_free(&r);
}

static void test_ssh_keygen_accepts_the_seal(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 2, 1);
	struct tdm_verify v;
	struct tdm_buf armor;
	char path[128];
	FILE *f;
	int rc;

	(void)state;
	assert_int_equal(verify_bytes(r.p, r.n, &v), TDM_VERDICT_SEALED);
	tdm_buf_init(&armor, 0);
	assert_int_equal(tdm_sshsig_armor(v.seal, v.seal_len, &armor), 0);
	snprintf(path, sizeof(path), "%s/sig", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite(armor.data, 1, armor.len, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/msg", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(v.last_link, f);
	fclose(f);
	assert_int_equal(run("echo \"bastion1 $(cat %s.pub)\" > %s/allowed",
			     key_a, dir),
			 0);
	rc = run("ssh-keygen -Y verify -f %s/allowed -I bastion1 -n "
		 "tandem-recording -s %s/sig < %s/msg >/dev/null 2>&1",
		 dir, dir, dir);
	assert_int_equal(rc, 0);
	/* And refuses it for another message. */
	rc = run("printf x | ssh-keygen -Y verify -f %s/allowed -I bastion1 "
		 "-n tandem-recording -s %s/sig >/dev/null 2>&1",
		 dir, dir);
	assert_int_not_equal(rc, 0);
	tdm_buf_free(&armor);
	rec_free(&r);
}

/* ---- reading back ----------------------------------------------------------------- */

static void test_reader_gives_exact_bytes_and_header(void **state)
{
	struct rec r = make_rec(key_a, SESSION_A, 1, 1);
	const struct tdm_rec_header *h;
	struct tdm_castread *cr;
	struct tdm_event ev;
	int fd = memfd_create("read", MFD_CLOEXEC), outputs = 0;

	(void)state;
	assert_int_equal(write(fd, r.p, r.n), (ssize_t)r.n);
	assert_int_equal(tdm_castread_open(fd, "t", &cr), 0);
	h = tdm_castread_header(cr);
	assert_non_null(h);
	assert_string_equal(h->session, SESSION_A);
	assert_string_equal(h->engineer, "alice");
	assert_string_equal(h->bastion, "bastion1");
	while (tdm_castread_next(cr, &ev) == 1) {
		if (ev.code != 'o')
			continue;
		outputs++;
		assert_true(ev.exact);
		assert_int_equal(ev.len, 15);
		assert_memory_equal(ev.bytes, "hello \xff world\r\n", 15);
	}
	assert_int_equal(outputs, 1);
	assert_int_equal(tdm_castread_problems(cr), 0);
	tdm_castread_free(cr);
	close(fd);
	rec_free(&r);
}

static void test_link_arithmetic_matches_the_document(void **state)
{
	/* docs/recording.md: link_0 = SHA-256(seed || B || le64 0 || le64 0)
	 * with seed = SHA-256("tandem-recording chain v1"). */
	struct tdm_link_hash h;
	uint8_t link[TDM_LINK_SIZE], seed[32], buf[32 + 3 + 16] = { 0 };
	unsigned int len;

	(void)state;
	assert_int_equal(tdm_link_hash_init(&h), 0);
	assert_int_equal(tdm_link_hash_begin(&h, NULL), 0);
	assert_int_equal(tdm_link_hash_update(&h, "abc", 3), 0);
	assert_int_equal(tdm_link_hash_end(&h, 0, 0, link), 0);
	tdm_link_hash_free(&h);
	EVP_Digest(TDM_CHAIN_SEED, strlen(TDM_CHAIN_SEED), seed, &len,
		   EVP_sha256(), NULL);
	memcpy(buf, seed, 32);
	memcpy(buf + 32, "abc", 3);
	EVP_Digest(buf, sizeof(buf), seed, &len, EVP_sha256(), NULL);
	assert_memory_equal(link, seed, TDM_LINK_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signer_reads_ssh_keygen_key),
		cmocka_unit_test(
			test_signer_refuses_passphrase_key_and_says_fix),
		cmocka_unit_test(test_signer_refuses_other_key_types),
		cmocka_unit_test(test_signer_refuses_missing_and_garbage_files),
		cmocka_unit_test(test_signer_refuses_a_key_others_can_read),
		cmocka_unit_test(
			test_allowed_signers_validity_bounds_the_sessions_a_key_seals),
		cmocka_unit_test(test_sealed_recording_verifies),
		cmocka_unit_test(test_zstd_skips_links_and_seal),
		cmocka_unit_test(test_every_frame_is_followed_by_its_link),
		cmocka_unit_test(test_nothing_is_written_after_the_seal),
		cmocka_unit_test(test_every_flipped_bit_is_tampered),
		cmocka_unit_test(test_flipped_byte_names_its_frame),
		cmocka_unit_test(test_deleted_frames_are_tampered),
		cmocka_unit_test(test_swapped_frames_are_tampered),
		cmocka_unit_test(test_spliced_frames_are_tampered),
		cmocka_unit_test(test_appended_frames_are_tampered),
		cmocka_unit_test(
			test_truncation_is_unsealed_with_the_good_time),
		cmocka_unit_test(test_missing_seal_is_unsealed),
		cmocka_unit_test(
			test_a_tail_of_zeros_is_a_crash_before_the_seal_only),
		cmocka_unit_test(
			test_a_second_reading_shows_what_the_first_verified),
		cmocka_unit_test(test_seal_by_a_key_the_header_does_not_name),
		cmocka_unit_test(
			test_resigned_recording_is_caught_by_the_pinned_key),
		cmocka_unit_test(test_ssh_keygen_accepts_the_seal),
		cmocka_unit_test(test_reader_gives_exact_bytes_and_header),
		cmocka_unit_test(test_link_arithmetic_matches_the_document),
	};

	return cmocka_run_group_tests(tests, make_keys, remove_keys);
}
