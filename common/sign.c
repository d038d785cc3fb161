/*
 * sign.c: the bastion's ed25519 signing key and SSHSIG signatures.
 *
 * Reads openssh-key-v1 itself (unencrypted ed25519 only) and signs with
 * OpenSSL.  This file must never leave a copy of the private key behind:
 * every buffer that held key bytes is wiped before it is freed, on every
 * path, and only the EVP key (which OpenSSL clears when freed) is kept.
 */
#include "sign.h"
#include "base64.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_FILE_MAX (64u * 1024u)
#define KEY_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define KEY_END "-----END OPENSSH PRIVATE KEY-----"
#define KEY_MAGIC "openssh-key-v1"
#define SIG_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define SIG_END "-----END SSH SIGNATURE-----"
#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_VERSION 1
#define ED25519_NAME "ssh-ed25519"
#define ED25519_SIG 64
#define ED25519_SEED 32

struct tdm_signer {
	EVP_PKEY *pkey;
	uint8_t pub[TDM_ED25519_PUB];
	char *publine;
};

/* ---- SSH wire format (RFC 4251 strings and integers) ------------------- */

/* A read cursor over bytes; every read is checked against what is left. */
struct wire {
	const uint8_t *p;
	size_t n;
};

static int wire_u32(struct wire *w, uint32_t *v)
{
	if (w->n < 4)
		return TDM_ERR_TRUNCATED;
	*v = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 |
	     (uint32_t)w->p[2] << 8 | w->p[3];
	w->p += 4;
	w->n -= 4;
	return 0;
}

static int wire_string(struct wire *w, const uint8_t **s, size_t *len)
{
	uint32_t n;
	int rc = wire_u32(w, &n);

	if (rc < 0)
		return rc;
	if (n > w->n)
		return TDM_ERR_TRUNCATED;
	*s = w->p;
	*len = n;
	w->p += n;
	w->n -= n;
	return 0;
}

static int wire_string_is(struct wire *w, const char *want)
{
	const uint8_t *s;
	size_t len;

	if (wire_string(w, &s, &len) < 0)
		return 0;
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

static int put_u32(struct tdm_buf *b, uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
			  (uint8_t)(v >> 8), (uint8_t)v };

	return tdm_buf_put(b, be, 4);
}

static int put_string(struct tdm_buf *b, const void *p, size_t n)
{
	int rc;

	if (n > UINT32_MAX)
		return TDM_ERR_RANGE;
	rc = put_u32(b, (uint32_t)n);
	if (rc == 0)
		rc = tdm_buf_put(b, p, n);
	return rc;
}

static int put_cstring(struct tdm_buf *b, const char *s)
{
	return put_string(b, s, strlen(s));
}

/* string "ssh-ed25519", string key: the public key blob. */
static int put_pub_blob(struct tdm_buf *b, const uint8_t pub[32])
{
	int rc = put_cstring(b, ED25519_NAME);

	if (rc == 0)
		rc = put_string(b, pub, TDM_ED25519_PUB);
	return rc;
}

/* ---- public keys -------------------------------------------------------- */

int tdm_pubkey_format(const uint8_t pub[TDM_ED25519_PUB], struct tdm_buf *out)
{
	struct tdm_buf blob;
	int rc;

	tdm_buf_init(&blob, 0);
	rc = put_pub_blob(&blob, pub);
	if (rc == 0)
		rc = tdm_buf_puts(out, ED25519_NAME " ");
	if (rc == 0)
		rc = tdm_b64_encode(out, blob.data, blob.len);
	tdm_buf_free(&blob);
	return rc;
}

static int pub_from_blob(const uint8_t *p, size_t n,
			 uint8_t pub[TDM_ED25519_PUB])
{
	struct wire w = { p, n };
	const uint8_t *k;
	size_t klen;

	if (!wire_string_is(&w, ED25519_NAME))
		return TDM_ERR_INVAL;
	if (wire_string(&w, &k, &klen) < 0 || klen != TDM_ED25519_PUB ||
	    w.n != 0)
		return TDM_ERR_INVAL;
	memcpy(pub, k, TDM_ED25519_PUB);
	return 0;
}

int tdm_pubkey_parse(const char *line, uint8_t pub[TDM_ED25519_PUB],
		     const char **end)
{
	struct tdm_buf blob;
	const char *b64;
	size_t n;
	int rc;

	if (line == NULL)
		return TDM_ERR_INVAL;
	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(ED25519_NAME);
	if (strncmp(line, ED25519_NAME, n) != 0 ||
	    (line[n] != ' ' && line[n] != '\t'))
		return TDM_ERR_INVAL;
	b64 = line + n;
	while (*b64 == ' ' || *b64 == '\t')
		b64++;
	n = strcspn(b64, " \t\r\n");
	if (n == 0 || n > 256)
		return TDM_ERR_INVAL;
	tdm_buf_init(&blob, 0);
	rc = tdm_b64_decode(&blob, b64, n);
	if (rc == 0)
		rc = pub_from_blob(blob.data, blob.len, pub);
	tdm_buf_free(&blob);
	if (rc == 0 && end != NULL)
		*end = b64 + n;
	return rc;
}

void tdm_pubkey_fingerprint(const uint8_t pub[TDM_ED25519_PUB],
			    char out[TDM_FINGERPRINT_SIZE])
{
	uint8_t md[32];
	struct tdm_buf blob, b64;
	size_t n;

	snprintf(out, TDM_FINGERPRINT_SIZE, "SHA256:?");
	tdm_buf_init(&blob, 0);
	tdm_buf_init(&b64, 0);
	if (put_pub_blob(&blob, pub) == 0 &&
	    EVP_Digest(blob.data, blob.len, md, NULL, EVP_sha256(), NULL) &&
	    tdm_b64_encode(&b64, md, sizeof(md)) == 0) {
		/* ssh-keygen prints it without the padding. */
		n = b64.len;
		while (n > 0 && b64.data[n - 1] == '=')
			n--;
		snprintf(out, TDM_FINGERPRINT_SIZE, "SHA256:%.*s", (int)n,
			 (const char *)b64.data);
	}
	tdm_buf_free(&blob);
	tdm_buf_free(&b64);
}

/* ---- the private key file ----------------------------------------------- */

int tdm_key_file_private(const char *what, const char *path,
			 const struct stat *st, char *why, size_t why_size)
{
	/* Whoever else can read it can act as the bastion; as ssh does, a
	 * key others may read or change is not used. */
	if ((st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0) {
		tdm_say(why, why_size,
			"%s %s is open to others (mode %04o); chmod 600 it, "
			"or 640 with the tandem account's group",
			what, path, (unsigned)(st->st_mode & 07777));
		return TDM_ERR_DENIED;
	}
	if ((st->st_mode & S_IRGRP) != 0 && st->st_gid != getegid()) {
		tdm_say(why, why_size,
			"%s %s is readable by group %u, not the tandem "
			"account's own (%u): its members could act as the "
			"bastion; chmod 600 it, or chgrp it to %u",
			what, path, (unsigned)st->st_gid, (unsigned)getegid(),
			(unsigned)getegid());
		return TDM_ERR_DENIED;
	}
	return 0;
}

/* Reads the whole file (at most KEY_FILE_MAX bytes) into b, and its mode. */
static int read_key_file(const char *path, struct tdm_buf *b,
			 struct stat *st_out, char *why, size_t why_size)
{
	struct stat st;
	ssize_t got;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		tdm_say(why, why_size,
			"cannot open signing key %s: %s (check "
			"signing-key in the policy and the file's owner and "
			"mode)",
			path, strerror(errno));
		return errno == ENOENT ? TDM_ERR_NOTFOUND : TDM_ERR_IO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		tdm_say(why, why_size,
			"signing key %s is not a regular file "
			"(make one with ssh-keygen -t ed25519 -N '' -f %s)",
			path, path);
		rc = TDM_ERR_INVAL;
		goto out;
	}
	*st_out = st;
	for (;;) {
		rc = tdm_buf_reserve(b, 4096);
		if (rc < 0)
			goto out;
		got = read(fd, b->data + b->len, 4096);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			tdm_say(why, why_size, "cannot read signing key %s: %s",
				path, strerror(errno));
			rc = TDM_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		b->len += (size_t)got;
		b->data[b->len] = '\0';
		if (b->len > KEY_FILE_MAX) {
			tdm_say(why, why_size,
				"signing key %s is larger than any "
				"ed25519 key file; point signing-key at the file "
				"ssh-keygen -t ed25519 -N '' made",
				path);
			rc = TDM_ERR_RANGE;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* The base64 between the armor lines, decoded into blob. */
static int unarmor_key(const char *path, const struct tdm_buf *text,
		       struct tdm_buf *blob, char *why, size_t why_size)
{
	const char *s = (const char *)text->data, *begin, *end;

	if (memchr(text->data, '\0', text->len) != NULL ||
	    (begin = strstr(s, KEY_BEGIN)) == NULL) {
		if (strstr(s, "-----BEGIN ") != NULL)
			tdm_say(why, why_size,
				"signing key %s is not in OpenSSH "
				"format; convert it with ssh-keygen -p -N '' -f "
				"%s, or make a new one with ssh-keygen -t ed25519 "
				"-N '' -f %s",
				path, path, path);
		else
			tdm_say(why, why_size,
				"signing key %s is not a private "
				"key file; make one with ssh-keygen -t ed25519 -N "
				"'' -f %s",
				path, path);
		return TDM_ERR_INVAL;
	}
	begin += strlen(KEY_BEGIN);
	end = strstr(begin, KEY_END);
	if (end == NULL) {
		tdm_say(why, why_size,
			"signing key %s is cut off (no \"%s\" "
			"line); restore it from the original",
			path, KEY_END);
		return TDM_ERR_TRUNCATED;
	}
	if (tdm_b64_decode(blob, begin, (size_t)(end - begin)) < 0) {
		tdm_say(why, why_size,
			"signing key %s is damaged (bad base64); "
			"restore it or make a new one with ssh-keygen -t ed25519 "
			"-N '' -f %s",
			path, path);
		return TDM_ERR_INVAL;
	}
	return 0;
}

static int signer_from_seed(const uint8_t seed[ED25519_SEED],
			    const uint8_t pub[TDM_ED25519_PUB],
			    const char *comment, size_t comment_len,
			    struct tdm_signer **out)
{
	struct tdm_signer *s;
	struct tdm_buf line;
	uint8_t derived[TDM_ED25519_PUB];
	size_t dlen = sizeof(derived), i;
	int rc = TDM_ERR_CRYPTO;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TDM_ERR_NOMEM;
	tdm_buf_init(&line, 0);
	s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					       ED25519_SEED);
	if (s->pkey == NULL)
		goto err;
	/* The file's public half must be the one the seed makes. */
	if (EVP_PKEY_get_raw_public_key(s->pkey, derived, &dlen) != 1 ||
	    dlen != sizeof(derived) ||
	    CRYPTO_memcmp(derived, pub, sizeof(derived)) != 0) {
		rc = TDM_ERR_INVAL;
		goto err;
	}
	memcpy(s->pub, pub, TDM_ED25519_PUB);
	rc = tdm_pubkey_format(pub, &line);
	/* A comment goes on the line only if it cannot break the header. */
	for (i = 0; rc == 0 && i < comment_len; i++)
		if (comment[i] < 0x21 || comment[i] > 0x7e)
			break;
	if (rc == 0 && comment_len > 0 && i == comment_len) {
		rc = tdm_buf_putc(&line, ' ');
		if (rc == 0)
			rc = tdm_buf_put(&line, comment, comment_len);
	}
	if (rc < 0)
		goto err;
	s->publine = (char *)line.data;
	*out = s;
	return 0;
err:
	tdm_buf_free(&line);
	tdm_signer_free(s);
	return rc;
}

/*
 * openssh-key-v1 (OpenSSH PROTOCOL.key): magic, cipher "none", kdf
 * "none", kdf options, one key, its public blob, then the private section:
 * two equal check integers, "ssh-ed25519", public key, 64 bytes of seed
 * and public key, comment, padding 1, 2, 3...
 */
static int parse_key_blob(const char *path, const uint8_t *p, size_t n,
			  struct tdm_signer **out, char *why, size_t why_size)
{
	struct wire w = { p, n }, priv;
	const uint8_t *s, *pubk, *sk, *comment;
	size_t len, pklen, sklen, clen, i;
	uint8_t pub[TDM_ED25519_PUB];
	uint32_t nkeys, check1, check2;
	int rc;

	if (n < sizeof(KEY_MAGIC) ||
	    memcmp(p, KEY_MAGIC, sizeof(KEY_MAGIC)) != 0)
		goto damaged;
	w.p += sizeof(KEY_MAGIC);
	w.n -= sizeof(KEY_MAGIC);
	if (wire_string(&w, &s, &len) < 0)
		goto damaged;
	if (len != 4 || memcmp(s, "none", 4) != 0) {
		tdm_say(why, why_size,
			"signing key %s is protected by a "
			"passphrase; the recorder runs unattended and needs it "
			"unencrypted: ssh-keygen -p -N '' -f %s (keep the file "
			"mode 0640 root:tandem)",
			path, path);
		return TDM_ERR_INVAL;
	}
	if (!wire_string_is(&w, "none") || wire_string(&w, &s, &len) < 0 ||
	    wire_u32(&w, &nkeys) < 0)
		goto damaged;
	if (nkeys != 1) {
		tdm_say(why, why_size,
			"signing key %s holds %u keys; tandem "
			"needs a file with one ed25519 key (ssh-keygen -t ed25519 "
			"-N '' -f FILE)",
			path, nkeys);
		return TDM_ERR_INVAL;
	}
	if (wire_string(&w, &s, &len) < 0)
		goto damaged;
	if (pub_from_blob(s, len, pub) < 0) {
		tdm_say(why, why_size,
			"signing key %s is not an ed25519 key; "
			"tandem signs with ed25519: make one with ssh-keygen -t "
			"ed25519 -N '' -f %s",
			path, path);
		return TDM_ERR_INVAL;
	}
	if (wire_string(&w, &s, &len) < 0 || w.n != 0)
		goto damaged;
	priv.p = s;
	priv.n = len;
	if (wire_u32(&priv, &check1) < 0 || wire_u32(&priv, &check2) < 0 ||
	    check1 != check2 || !wire_string_is(&priv, ED25519_NAME) ||
	    wire_string(&priv, &pubk, &pklen) < 0 || pklen != TDM_ED25519_PUB ||
	    CRYPTO_memcmp(pubk, pub, TDM_ED25519_PUB) != 0 ||
	    wire_string(&priv, &sk, &sklen) < 0 ||
	    sklen != ED25519_SEED + TDM_ED25519_PUB ||
	    CRYPTO_memcmp(sk + ED25519_SEED, pub, TDM_ED25519_PUB) != 0 ||
	    wire_string(&priv, &comment, &clen) < 0)
		goto damaged;
	for (i = 0; i < priv.n; i++)
		if (priv.p[i] != (uint8_t)(i + 1))
			goto damaged;
	rc = signer_from_seed(sk, pub, (const char *)comment, clen, out);
	if (rc == TDM_ERR_INVAL)
		goto damaged;
	if (rc < 0)
		tdm_say(why, why_size, "cannot use signing key %s: %s", path,
			tdm_strerror(rc));
	return rc;
damaged:
	tdm_say(why, why_size,
		"signing key %s is damaged or not an ed25519 "
		"key from ssh-keygen; restore it or make a new one with "
		"ssh-keygen -t ed25519 -N '' -f %s",
		path, path);
	return TDM_ERR_INVAL;
}

int tdm_signer_load_why(const char *path, struct tdm_signer **out, char *why,
			size_t why_size)
{
	static const char probe[] = "tandem signing key check";
	struct tdm_signer *s = NULL;
	struct tdm_buf text, blob, sig;
	uint8_t pub[TDM_ED25519_PUB];
	struct stat st;
	int rc;

	if (path == NULL || out == NULL)
		return TDM_ERR_INVAL;
	tdm_buf_init(&text, 0);
	tdm_buf_init(&blob, 0);
	tdm_buf_init(&sig, 0);
	rc = read_key_file(path, &text, &st, why, why_size);
	if (rc == 0)
		rc = unarmor_key(path, &text, &blob, why, why_size);
	if (rc == 0)
		rc = parse_key_blob(path, blob.data, blob.len, &s, why,
				    why_size);
	/* Whoever else can read it can seal a forged recording. */
	if (rc == 0)
		rc = tdm_key_file_private("signing key", path, &st, why,
					  why_size);
	if (rc != 0 || s == NULL) {
		tdm_signer_free(s);
		rc = rc < 0 ? rc : TDM_ERR_INVAL;
		goto out;
	}
	/* One signature now, checked: the key works, and OpenSSL has
	 * loaded everything it needs before any sandbox starts. */
	rc = tdm_signer_sign(s, TDM_SIGN_NAMESPACE, probe, sizeof(probe) - 1,
			     &sig);
	if (rc == 0)
		rc = tdm_sshsig_verify(sig.data, sig.len, TDM_SIGN_NAMESPACE,
				       probe, sizeof(probe) - 1, pub);
	if (rc == 0 && memcmp(pub, s->pub, sizeof(pub)) != 0)
		rc = TDM_ERR_CRYPTO;
	if (rc < 0) {
		tdm_say(why, why_size,
			"signing key %s does not sign correctly "
			"(%s); make a new one with ssh-keygen -t ed25519 -N '' -f "
			"%s",
			path, tdm_strerror(rc), path);
		tdm_signer_free(s);
		goto out;
	}
	*out = s;
out:
	tdm_buf_wipe(&text);
	tdm_buf_wipe(&blob);
	tdm_buf_free(&sig);
	return rc;
}

int tdm_signer_load(const char *path, struct tdm_signer **out)
{
	return tdm_signer_load_why(path, out, NULL, 0);
}

const char *tdm_signer_pubkey(const struct tdm_signer *s)
{
	return s->publine;
}

void tdm_signer_free(struct tdm_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s->publine);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* ---- SSHSIG ------------------------------------------------------------- */

/* The bytes an SSHSIG signature covers (PROTOCOL.sshsig). */
static int sshsig_signed_data(const char *namespace_, const void *msg,
			      size_t len, struct tdm_buf *out)
{
	uint8_t md[64];
	int rc;

	if (!EVP_Digest(msg, len, md, NULL, EVP_sha512(), NULL))
		return TDM_ERR_CRYPTO;
	rc = tdm_buf_put(out, SSHSIG_MAGIC, 6);
	if (rc == 0)
		rc = put_cstring(out, namespace_);
	if (rc == 0)
		rc = put_cstring(out, "");
	if (rc == 0)
		rc = put_cstring(out, "sha512");
	if (rc == 0)
		rc = put_string(out, md, sizeof(md));
	return rc;
}

int tdm_signer_sign(const struct tdm_signer *s, const char *namespace_,
		    const void *msg, size_t len, struct tdm_buf *out)
{
	struct tdm_buf tbs, sigblob;
	EVP_MD_CTX *md = NULL;
	uint8_t sig[ED25519_SIG];
	size_t siglen = sizeof(sig), start = out->len;
	int rc;

	if (s == NULL || namespace_ == NULL || namespace_[0] == '\0' ||
	    (msg == NULL && len > 0))
		return TDM_ERR_INVAL;
	tdm_buf_init(&tbs, 0);
	tdm_buf_init(&sigblob, 0);
	rc = sshsig_signed_data(namespace_, msg, len, &tbs);
	if (rc < 0)
		goto out;
	rc = TDM_ERR_CRYPTO;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, s->pkey) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, tbs.data, tbs.len) != 1 ||
	    siglen != sizeof(sig))
		goto out;
	rc = put_cstring(&sigblob, ED25519_NAME);
	if (rc == 0)
		rc = put_string(&sigblob, sig, sizeof(sig));
	if (rc == 0)
		rc = tdm_buf_put(out, SSHSIG_MAGIC, 6);
	if (rc == 0)
		rc = put_u32(out, SSHSIG_VERSION);
	if (rc == 0) {
		struct tdm_buf pubblob;

		tdm_buf_init(&pubblob, 0);
		rc = put_pub_blob(&pubblob, s->pub);
		if (rc == 0)
			rc = put_string(out, pubblob.data, pubblob.len);
		tdm_buf_free(&pubblob);
	}
	if (rc == 0)
		rc = put_cstring(out, namespace_);
	if (rc == 0)
		rc = put_cstring(out, "");
	if (rc == 0)
		rc = put_cstring(out, "sha512");
	if (rc == 0)
		rc = put_string(out, sigblob.data, sigblob.len);
out:
	if (rc < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	EVP_MD_CTX_free(md);
	tdm_buf_free(&tbs);
	tdm_buf_free(&sigblob);
	return rc;
}

int tdm_sshsig_verify(const uint8_t *blob, size_t len, const char *namespace_,
		      const void *msg, size_t msg_len,
		      uint8_t pub[TDM_ED25519_PUB])
{
	struct wire w = { blob, len }, sw;
	const uint8_t *pubblob, *sigblob, *sig;
	size_t publen, siglen_w, siglen;
	uint8_t key[TDM_ED25519_PUB];
	struct tdm_buf tbs;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	uint32_t version;
	int rc;

	if (blob == NULL || len < 6 || memcmp(blob, SSHSIG_MAGIC, 6) != 0)
		return TDM_ERR_INVAL;
	w.p += 6;
	w.n -= 6;
	if (wire_u32(&w, &version) < 0 || version != SSHSIG_VERSION ||
	    wire_string(&w, &pubblob, &publen) < 0 ||
	    pub_from_blob(pubblob, publen, key) < 0 ||
	    !wire_string_is(&w, namespace_) || !wire_string_is(&w, "") ||
	    !wire_string_is(&w, "sha512") ||
	    wire_string(&w, &sigblob, &siglen_w) < 0 || w.n != 0)
		return TDM_ERR_INVAL;
	sw.p = sigblob;
	sw.n = siglen_w;
	if (!wire_string_is(&sw, ED25519_NAME) ||
	    wire_string(&sw, &sig, &siglen) < 0 || siglen != ED25519_SIG ||
	    sw.n != 0)
		return TDM_ERR_INVAL;
	tdm_buf_init(&tbs, 0);
	rc = sshsig_signed_data(namespace_, msg, msg_len, &tbs);
	if (rc < 0)
		goto out;
	rc = TDM_ERR_CRYPTO;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key,
					   sizeof(key));
	md = EVP_MD_CTX_new();
	if (pkey == NULL || md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) != 1)
		goto out;
	if (EVP_DigestVerify(md, sig, siglen, tbs.data, tbs.len) != 1) {
		rc = TDM_ERR_DENIED;
		goto out;
	}
	memcpy(pub, key, sizeof(key));
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	tdm_buf_free(&tbs);
	return rc;
}

int tdm_sshsig_armor(const uint8_t *blob, size_t len, struct tdm_buf *out)
{
	struct tdm_buf b64;
	size_t i, n;
	int rc;

	tdm_buf_init(&b64, 0);
	rc = tdm_b64_encode(&b64, blob, len);
	if (rc == 0)
		rc = tdm_buf_puts(out, SIG_BEGIN "\n");
	/* ssh-keygen wraps at 70 columns. */
	for (i = 0; rc == 0 && i < b64.len; i += n) {
		n = b64.len - i < 70 ? b64.len - i : 70;
		rc = tdm_buf_put(out, b64.data + i, n);
		if (rc == 0)
			rc = tdm_buf_putc(out, '\n');
	}
	if (rc == 0)
		rc = tdm_buf_puts(out, SIG_END "\n");
	tdm_buf_free(&b64);
	return rc;
}
