/*
 * target.c: the bastion's side of the SSH connection to the target.
 *
 * It must never talk to a target whose host key differs from the pinned
 * one, never read ssh configuration, known_hosts or an agent of the account
 * it runs as, and never show the identity to anyone.
 */
#include "target.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "sign.h"

static int split_key(const char *line, char *type, size_t type_size,
		     const char **b64, size_t *b64_len)
{
	const char *sp = strchr(line, ' ');
	const char *end;
	size_t n;

	if (sp == NULL)
		return TDM_ERR_INVAL;
	n = (size_t)(sp - line);
	if (n == 0 || n >= type_size)
		return TDM_ERR_INVAL;
	memcpy(type, line, n);
	type[n] = '\0';
	while (*sp == ' ')
		sp++;
	end = sp;
	while (*end != '\0' && *end != ' ')
		end++;
	*b64 = sp;
	*b64_len = (size_t)(end - sp);
	return 0;
}

static int import_pinned(const char *line, ssh_key *out, char *type,
			 size_t type_size)
{
	char b64[8192];
	const char *p;
	size_t n;
	int rc;

	rc = split_key(line, type, type_size, &p, &n);
	if (rc < 0 || n >= sizeof(b64))
		return TDM_ERR_INVAL;
	memcpy(b64, p, n);
	b64[n] = '\0';
	if (ssh_pki_import_pubkey_base64(b64, ssh_key_type_from_name(type),
					 out) != SSH_OK)
		return TDM_ERR_INVAL;
	return 0;
}

static void fingerprint(ssh_key key, char *out, size_t size)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;

	snprintf(out, size, "(unknown)");
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
				   &hlen) != 0)
		return;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	if (fp != NULL) {
		snprintf(out, size, "%s", fp);
		ssh_string_free_char(fp);
	}
	ssh_clean_pubkey_hash(&hash);
}

/* Host key algorithms to offer so the target presents the pinned type. */
static const char *hostkey_algos(const char *type)
{
	if (strcmp(type, "ssh-rsa") == 0)
		return "rsa-sha2-512,rsa-sha2-256";
	return type;
}

static int check_host_key(struct session *s, char *why, size_t why_size)
{
	ssh_key pinned = NULL, shown = NULL;
	char type[64], fp_shown[128], fp_pinned[128];
	int rc = TDM_ERR_HOSTKEY;

	if (import_pinned(s->target->host_key, &pinned, type, sizeof(type)) <
	    0) {
		snprintf(why, why_size,
			 "the pinned host-key of target %s "
			 "cannot be read; fix it in %s",
			 s->target->name, s->policy->path);
		rc = TDM_ERR_INVAL;
		goto out;
	}
	if (ssh_get_server_publickey(s->ssh, &shown) != SSH_OK) {
		snprintf(why, why_size, "target %s sent no host key",
			 s->target->name);
		goto out;
	}
	if (ssh_key_cmp(shown, pinned, SSH_KEY_CMP_PUBLIC) != 0) {
		fingerprint(shown, fp_shown, sizeof(fp_shown));
		fingerprint(pinned, fp_pinned, sizeof(fp_pinned));
		snprintf(why, why_size,
			 "target %s presented host key %s, "
			 "but the policy pins %s; refusing (ask an admin to "
			 "check the target before changing host-key)",
			 s->target->name, fp_shown, fp_pinned);
		goto out;
	}
	rc = 0;
out:
	ssh_key_free(shown);
	ssh_key_free(pinned);
	return rc;
}

static int authenticate(struct session *s, char *why, size_t why_size)
{
	ssh_key identity = NULL;
	struct stat st;
	int rc;

	/* As ssh would: a key others may read lets them log in as the
	 * bastion, past every escort. */
	if (stat(s->target->identity, &st) == 0) {
		rc = tdm_key_file_private("identity", s->target->identity, &st,
					  why, why_size);
		if (rc < 0)
			return rc;
	}
	if (ssh_pki_import_privkey_file(s->target->identity, NULL, NULL, NULL,
					&identity) != SSH_OK) {
		snprintf(why, why_size,
			 "cannot read the identity %s of "
			 "target %s; check that it exists and that the tandem "
			 "account can read it",
			 s->target->identity, s->target->name);
		return TDM_ERR_IO;
	}
	rc = ssh_userauth_publickey(s->ssh, NULL, identity);
	/* The key lives only as long as authentication needs it. */
	ssh_key_free(identity);
	if (rc != SSH_AUTH_SUCCESS) {
		snprintf(why, why_size,
			 "target %s refused the bastion's "
			 "identity for user %s; install its public key in the "
			 "target's authorized_keys",
			 s->target->name, s->target->user);
		return TDM_ERR_DENIED;
	}
	return 0;
}

int target_open(struct session *s, char *why, size_t why_size)
{
	int rc;

	s->channel = ssh_channel_new(s->ssh);
	if (s->channel == NULL ||
	    ssh_set_channel_callbacks(s->channel, &s->chan_cb) != SSH_OK ||
	    ssh_channel_open_session(s->channel) != SSH_OK)
		goto fail;
	if (s->tty) {
		rc = ssh_channel_request_pty_size(s->channel, s->term,
						  (int)s->cols, (int)s->rows);
		if (rc != SSH_OK)
			goto fail;
	}
	if (s->command != NULL)
		rc = ssh_channel_request_exec(s->channel, s->command);
	else
		rc = ssh_channel_request_shell(s->channel);
	if (rc != SSH_OK)
		goto fail;
	return 0;
fail:
	snprintf(why, why_size, "target %s refused the session: %s",
		 s->target->name, ssh_get_error(s->ssh));
	return TDM_ERR_SSH;
}

int target_connect(struct session *s, char *why, size_t why_size)
{
	char type[64];
	const char *b64;
	size_t n;
	long timeout = 15;
	int port = (int)s->target->port;
	int no = 0;
	int rc;

	if (split_key(s->target->host_key, type, sizeof(type), &b64, &n) < 0) {
		snprintf(why, why_size,
			 "the pinned host-key of target %s "
			 "cannot be read; fix it in %s",
			 s->target->name, s->policy->path);
		return TDM_ERR_INVAL;
	}
	s->ssh = ssh_new();
	if (s->ssh == NULL) {
		snprintf(why, why_size, "out of memory");
		return TDM_ERR_NOMEM;
	}
	if (ssh_options_set(s->ssh, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_HOST, s->target->address) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_USER, s->target->user) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
			    "/dev/null") < 0 ||
	    ssh_options_set(s->ssh, SSH_OPTIONS_HOSTKEYS, hostkey_algos(type)) <
		    0) {
		snprintf(why, why_size,
			 "cannot set up the connection to "
			 "target %s: %s",
			 s->target->name, ssh_get_error(s->ssh));
		return TDM_ERR_SSH;
	}
	if (ssh_connect(s->ssh) != SSH_OK) {
		snprintf(why, why_size, "cannot reach target %s at %s:%u: %s",
			 s->target->name, s->target->address, s->target->port,
			 ssh_get_error(s->ssh));
		return TDM_ERR_SSH;
	}
	rc = check_host_key(s, why, why_size);
	if (rc < 0)
		return rc;
	return authenticate(s, why, why_size);
}

void target_close(struct session *s)
{
	if (s->channel != NULL) {
		ssh_channel_free(s->channel);
		s->channel = NULL;
	}
	if (s->ssh != NULL) {
		ssh_disconnect(s->ssh);
		ssh_free(s->ssh);
		s->ssh = NULL;
	}
}
