/*
 * tandem-recorder: the forced command of the bastion's `tandem` account.
 *
 * It reads TARGET [COMMAND] from SSH_ORIGINAL_COMMAND, checks the policy,
 * opens the recording, connects to the target and relays.  Nothing reaches
 * the target unrecorded; any failure before the relay ends the session with
 * exit 255 and one line saying why.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "err.h"
#include "escorts.h"
#include "gate.h"
#include "log.h"
#include "policy.h"
#include "probe.h"
#include "relay.h"
#include "sandbox.h"
#include "session.h"
#include "target.h"
#include "version.h"
#include "visible.h"

#define EXIT_TANDEM 255

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tandem-recorder --engineer NAME [--config FILE]\n"
		"\n"
		"The forced command of the bastion's tandem account: it opens\n"
		"the session named in SSH_ORIGINAL_COMMAND (TARGET [COMMAND])\n"
		"to a target the policy grants, and records every byte.\n"
		"With no target it lists the targets the engineer may open.\n"
		"\n"
		"  --engineer NAME  the engineer, as named in the policy\n"
		"  --config FILE    policy file (default %s)\n"
		"  --help           this text\n"
		"  --version        the version\n"
		"\n"
		"Exit status: the remote command's; 255 when tandem refused\n"
		"or failed, with the reason on stderr.\n",
		TDM_POLICY_DEFAULT_PATH);
}

void session_say(struct session *s, const char *fmt, ...)
{
	char text[1100];
	size_t len, room = sizeof(text) - 8 - 2; /* "tandem: ", "\r\n" */
	va_list ap;
	int n;

	memcpy(text, "tandem: ", 8);
	va_start(ap, fmt);
	n = vsnprintf(text + 8, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len = 8 + ((size_t)n < room ? (size_t)n : room - 1);
	/* The relay's raw mode may still be on: no \n becomes \r\n. */
	if (s->restore_termios)
		text[len++] = '\r';
	text[len++] = '\n';
	/* Behind the output still queued for them, never beside it. */
	session_to_engineer_err(s, text, len);
}

/* Splits "TARGET [COMMAND]"; the command keeps its exact bytes. */
static int split_original(const char *orig, char *target, size_t size,
			  const char **command)
{
	const char *p = orig, *end;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	end = p;
	while (*end != '\0' && *end != ' ' && *end != '\t')
		end++;
	n = (size_t)(end - p);
	if (n >= size)
		return TDM_ERR_RANGE;
	memcpy(target, p, n);
	target[n] = '\0';
	while (*end == ' ' || *end == '\t')
		end++;
	*command = *end != '\0' ? end : NULL;
	return 0;
}

/* What the logs show of text an engineer chose: nothing hidden, and no
 * newline that would start a line of its own in a log file. */
static void shown_of(const char *text, char *out, size_t size)
{
	struct tdm_buf b;

	tdm_buf_init(&b, 0);
	if (tdm_visible((const uint8_t *)text, strlen(text), &b) < 0 ||
	    b.data == NULL)
		snprintf(out, size, "%s", text[0] != '\0' ? "?" : "");
	else
		snprintf(out, size, "%s", (char *)b.data);
	tdm_buf_free(&b);
}

static bool is_file_transfer(const char *target, const char *command)
{
	const char *base = strrchr(target, '/');

	base = base != NULL ? base + 1 : target;
	if (strcmp(base, "sftp-server") == 0 ||
	    strcmp(base, "internal-sftp") == 0 || strcmp(base, "sftp") == 0)
		return true;
	if (strcmp(base, "scp") == 0 || strcmp(base, "rsync") == 0)
		return command != NULL && command[0] == '-';
	return false;
}

static void list_targets(const struct tdm_policy *p,
			 const struct tdm_person *who)
{
	size_t i, n = 0;

	for (i = 0; i < p->ntargets; i++) {
		if (!tdm_policy_grants(who, p->targets[i].name))
			continue;
		if (n++ == 0)
			printf("Targets %s may open "
			       "(ssh -t tandem@BASTION TARGET [COMMAND]):\n",
			       who->name);
		printf("  %s\n", p->targets[i].name);
	}
	if (n == 0)
		printf("The policy grants %s no targets; ask an admin.\n",
		       who->name);
}

static void read_terminal(struct session *s)
{
	const char *term = getenv("TERM");
	struct winsize ws;
	size_t i;

	s->tty = isatty(STDIN_FILENO) == 1;
	s->cols = 80;
	s->rows = 24;
	snprintf(s->term, sizeof(s->term), "xterm");
	if (!s->tty)
		return;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		s->cols = ws.ws_col;
		s->rows = ws.ws_row;
	}
	if (term == NULL || strlen(term) >= sizeof(s->term))
		return;
	for (i = 0; term[i] != '\0'; i++)
		if (!(term[i] >= 'a' && term[i] <= 'z') &&
		    !(term[i] >= 'A' && term[i] <= 'Z') &&
		    !(term[i] >= '0' && term[i] <= '9') &&
		    strchr("-_.+", term[i]) == NULL)
			return;
	if (i > 0)
		snprintf(s->term, sizeof(s->term), "%s", term);
}

/*
 * The command as text: valid UTF-8, each byte that is not part of a
 * character as U+FFFD.  The header and the start event hold text; the
 * exact bytes are in the pending and decision events (command_b64).
 */
static char *command_text(const char *command)
{
	struct tdm_buf b;
	size_t i = 0, n = strlen(command), l;
	uint32_t cp;
	char *out = NULL;
	int rc = 0;

	tdm_buf_init(&b, 0);
	while (i < n && rc == 0) {
		l = tdm_utf8_decode((const uint8_t *)command + i, n - i, &cp);
		if (l == 0) {
			rc = tdm_buf_puts(&b, "\xef\xbf\xbd");
			i++;
		} else {
			rc = tdm_buf_put(&b, command + i, l);
			i += l;
		}
	}
	if (rc == 0)
		out = strdup(b.data != NULL ? (char *)b.data : "");
	tdm_buf_free(&b);
	return out;
}

static int open_recording(struct session *s, const char *command)
{
	struct tdm_cast_header h = {
		.width = s->cols,
		.height = s->rows,
		.timestamp = s->started,
		.term = s->term,
		.session = s->id,
		.engineer = s->engineer->name,
		.target = s->target->name,
		.address = s->target->address,
		.bastion = s->bastion,
		.attrs = s->engineer->attrs,
		.nattrs = s->engineer->nattrs,
		.command = command,
		.pubkey = tdm_signer_pubkey(s->signer),
		.version = TDM_VERSION,
	};

	return tdm_cast_create(s->policy->recordings, &h,
			       s->policy->flush_interval_ms, &s->cast,
			       s->rec_path, sizeof(s->rec_path));
}

static void banner(struct session *s)
{
	char text[512];
	int n;

	if (!s->tty)
		return;
	n = snprintf(text, sizeof(text),
		     "\x1b[1m[tandem]\x1b[0m session %s to %s is recorded; "
		     "each command waits for an escort's approval.\r\n"
		     "\x1b[1m[tandem]\x1b[0m no escort attached\r\n",
		     s->id, s->target->name);
	if (n > 0)
		session_to_engineer(s, text, (size_t)n);
}

static int end_status(const struct session *s, int rc)
{
	if (rc < 0 || s->killed || s->frozen)
		return EXIT_TANDEM;
	if (s->stop || s->channel == NULL)
		return EXIT_TANDEM;
	return s->have_status ? s->exit_status : EXIT_TANDEM;
}

/*
 * Everything the session needs is open: from here on the recorder can
 * read, write and poll what it has, and nothing else.
 */
static int enter_sandbox(char *why, size_t why_size)
{
	/* The policy file, the key files and the recording's directories
	 * were closed as they were read; the identity key is freed. */
	if (tdm_sandbox_enter(&tdm_sandbox_recorder) < 0) {
		snprintf(why, why_size,
			 "cannot enter the sandbox (%s); the "
			 "session does not run unconfined",
			 strerror(errno));
		return TDM_ERR_IO;
	}
	return 0;
}

static int run_session(struct session *s)
{
	struct tdm_buf shown;
	char why[1024], *text = NULL;
	uuid_t uu;
	int rc, status = EXIT_TANDEM;
	bool ended_normally = false; /* the target closed the session */

	uuid_generate_random(uu);
	uuid_unparse_lower(uu, s->id);
	s->started = time(NULL);
	s->listen_fd = -1;
	if (gethostname(s->bastion, sizeof(s->bastion) - 1) < 0)
		snprintf(s->bastion, sizeof(s->bastion), "bastion");
	read_terminal(s);
	tdm_buf_init(&s->to_target, 0);
	tdm_buf_init(&s->to_engineer[0], 0);
	tdm_buf_init(&s->to_engineer[1], 0);
	gate_init(s);
	relay_callbacks_init(s);
	if (escorts_start_reaper(s) < 0) {
		session_say(s, "cannot start the session's socket reaper: %s",
			    strerror(errno));
		goto early_out;
	}
	/* No session runs without a seal to make at its end. */
	if (tdm_signer_load_why(s->policy->signing_key, &s->signer, why,
				sizeof(why)) < 0) {
		session_say(s, "%s", why);
		tdm_log(LOG_ERR, "engineer %s target %s refused: %s",
			s->engineer->name, s->target->name, why);
		goto early_out;
	}

	if (s->command != NULL) {
		text = command_text(s->command);
		if (text == NULL) {
			session_say(s, "out of memory");
			goto early_out;
		}
	}
	errno = 0;
	rc = open_recording(s, text);
	if (rc == 0) {
		rc = tdm_chain_attach(s->cast, s->signer, &s->chain);
		if (rc < 0) {
			tdm_cast_free(s->cast);
			s->cast = NULL;
		}
	}
	if (rc < 0) {
		session_say(s,
			    "cannot create a recording in %s: %s; no "
			    "session runs unrecorded (ask an admin to check "
			    "that directory)",
			    s->policy->recordings,
			    errno != 0 ? strerror(errno) : tdm_strerror(rc));
		tdm_log(LOG_ERR,
			"engineer %s target %s refused: cannot "
			"create recording in %s",
			s->engineer->name, s->target->name,
			s->policy->recordings);
		goto early_out;
	}
	/* The readable label shows the command with nothing hidden: a raw
	 * TAB there would be taken for the start of the details. */
	tdm_buf_init(&shown, 0);
	if (s->command != NULL && tdm_visible((const uint8_t *)s->command,
					      strlen(s->command), &shown) < 0)
		tdm_buf_reset(&shown);
	rc = session_mark(s, LOG_NOTICE,
			  json_pack("{s:s,s:s,s:s,s:s,s:i,s:s?,s:b}", "event",
				    "start", "engineer", s->engineer->name,
				    "target", s->target->name, "address",
				    s->target->address, "port",
				    (int)s->target->port, "command", text,
				    "tty", s->tty),
			  "session start: %s@%s (%s:%u)%s%s", s->engineer->name,
			  s->target->name, s->target->address, s->target->port,
			  s->command ? " command: " : "",
			  shown.data ? (char *)shown.data : "");
	tdm_buf_free(&shown);
	if (rc < 0)
		goto write_failed;

	/* The escorts' socket last: a socket that nothing accepts on while
	 * the target is reached (up to its timeout) would hold every escort
	 * console that tries it. */
	rc = escorts_prepare(s, why, sizeof(why));
	if (rc == 0)
		rc = target_connect(s, why, sizeof(why));
	if (rc == 0 && s->command == NULL)
		rc = target_open(s, why, sizeof(why));
	if (rc == 0)
		rc = escorts_open(s, why, sizeof(why));
	if (rc < 0) {
		session_say(s, "%s", why);
		snprintf(s->end_why, sizeof(s->end_why), "refused");
		if (session_mark(s, LOG_WARNING,
				 json_pack("{s:s,s:s}", "event", "refused",
					   "why", why),
				 "refused: %s", why) < 0)
			goto write_failed;
		goto end;
	}
	probe_arm();
	/* jansson seeds its hashing from /dev/urandom on first use. */
	json_object_seed(0);
	rc = enter_sandbox(why, sizeof(why));
	if (rc < 0) {
		session_say(s, "%s", why);
		snprintf(s->end_why, sizeof(s->end_why), "refused");
		if (session_mark(s, LOG_ERR,
				 json_pack("{s:s,s:s}", "event", "refused",
					   "why", why),
				 "refused: %s", why) < 0)
			goto write_failed;
		goto end;
	}
	/* Raw first, so that the banner's line ends arrive as written. */
	session_raw(s);
	banner(s);
	rc = relay_run(s);
	if (s->frozen) {
		session_say(s,
			    "the recording cannot be written (%s); the "
			    "session is frozen and ends here",
			    strerror(tdm_cast_errno(s->cast) ?
					     tdm_cast_errno(s->cast) :
					     EIO));
		tdm_log(LOG_ERR,
			"session %s: recording failed, session "
			"frozen",
			s->id);
		escorts_send_ended(s, EXIT_TANDEM, "frozen");
		goto out;
	}
	if (rc < 0)
		session_say(s, "the connection to target %s failed: %s",
			    s->target->name, ssh_get_error(s->ssh));
	status = end_status(s, rc);
	ended_normally = rc >= 0 && !s->stop;
	if (s->end_why[0] == '\0')
		snprintf(s->end_why, sizeof(s->end_why), "%s",
			 rc < 0 ? "error" : "target closed");
end:
	escorts_send_ended(s, status, s->end_why);
	if (escorts_mark_skipped(s) < 0)
		goto write_failed;
	if (session_mark(s, LOG_NOTICE,
			 json_pack("{s:s,s:i,s:s,s:I,s:I}", "event", "end",
				   "status", status, "why", s->end_why,
				   "bytes_out", (json_int_t)s->bytes_out,
				   "bytes_in", (json_int_t)s->bytes_in),
			 "session end: %s, exit %d, %llu bytes out, %llu "
			 "bytes in",
			 s->end_why, status, s->bytes_out, s->bytes_in) < 0)
		goto write_failed;
	if (tdm_chain_seal(s->chain, s->cast) < 0 ||
	    tdm_cast_close(s->cast) < 0)
		goto write_failed;
out:
	escorts_close(s);
	target_close(s);
	/* The chain only after the cast: closing a cast calls the chain. */
	tdm_cast_free(s->cast);
	s->cast = NULL;
	tdm_chain_free(s->chain);
	s->chain = NULL;
early_out:
	free(text);
	tdm_signer_free(s->signer);
	s->signer = NULL;
	if (s->reaper_fd >= 0)
		close(s->reaper_fd);
	s->reaper_fd = -1;
	gate_free(s);
	tdm_buf_free(&s->to_target);
	/* Last, with the recording sealed and the target gone: output the
	 * engineer's ssh has not taken yet.  A session that ended normally
	 * waits for them as long as they are there; any other gives up after
	 * a while without progress. */
	session_finish_engineer(s, ended_normally ? 0 : SESSION_LAST_OUTPUT_MS);
	tdm_buf_free(&s->to_engineer[0]);
	tdm_buf_free(&s->to_engineer[1]);
	return status;
write_failed:
	session_say(s,
		    "the recording cannot be written (%s); the session "
		    "ends here",
		    strerror(tdm_cast_errno(s->cast) ? tdm_cast_errno(s->cast) :
						       EIO));
	status = EXIT_TANDEM;
	ended_normally = false;
	goto out;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "engineer", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = TDM_POLICY_DEFAULT_PATH, *name = NULL;
	const char *orig, *command = NULL;
	struct tdm_policy *policy = NULL;
	struct tdm_diag diag = { 0 };
	struct tdm_rules *rules = NULL;
	struct session s;
	char target[256], target_log[1024];
	size_t i;
	int diag_rc;
	int c, status = EXIT_TANDEM;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			name = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tandem-recorder %s\n", TDM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (name == NULL || optind != argc) {
		fprintf(stderr,
			"tandem-recorder: %s; it is the forced "
			"command of the tandem account, rendered by "
			"`tandem-policy authorized-keys engineers`\n",
			name == NULL ? "--engineer NAME is required" :
				       "unexpected argument");
		usage(stderr);
		return 2;
	}
	tdm_log_open("tandem-recorder");
	memset(&s, 0, sizeof(s));
	/* A gone engineer or a file-size limit must be an error we handle
	 * (freeze, record the end), not a signal that kills us mid-frame. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	if (tdm_policy_load(config, &policy, &diag) < 0) {
		for (i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		fprintf(stderr,
			"tandem: the policy has errors, so no "
			"session can start; an admin must fix %s "
			"(tandem-policy check)\n",
			config);
		tdm_log(LOG_ERR, "policy %s invalid; engineer %s refused",
			config, name);
		goto out;
	}
	s.policy = policy;
	diag_rc = tdm_rules_compile(policy, &rules, &diag);
	if (diag_rc < 0) {
		for (i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.msgs[i]);
		fprintf(stderr,
			"tandem: the command rules cannot be compiled "
			"(%s), so no session can start; an admin must fix %s "
			"(tandem-policy check)\n",
			tdm_strerror(diag_rc), config);
		tdm_log(LOG_ERR,
			"policy %s rules invalid; engineer %s "
			"refused",
			config, name);
		goto out;
	}
	s.rules = rules;
	s.engineer = tdm_policy_engineer(policy, name);
	if (s.engineer == NULL) {
		fprintf(stderr,
			"tandem: engineer %s is not in %s; ask an "
			"admin to add them\n",
			name, config);
		goto out;
	}

	orig = getenv("SSH_ORIGINAL_COMMAND");
	if (orig == NULL)
		orig = "";
	if (strlen(orig) > SESSION_MAX_COMMAND ||
	    split_original(orig, target, sizeof(target), &command) < 0) {
		fprintf(stderr,
			"tandem: the command is longer than %u "
			"bytes; shorten it\n",
			SESSION_MAX_COMMAND);
		goto out;
	}
	shown_of(target, target_log, sizeof(target_log));
	if (target[0] == '\0') {
		list_targets(policy, s.engineer);
		status = 0;
		goto out;
	}
	if (is_file_transfer(target, command)) {
		fprintf(stderr,
			"tandem: file transfer (scp, sftp, rsync) is "
			"not permitted through the bastion; run the commands "
			"that move data in a session, where an escort "
			"approves them\n");
		tdm_log(LOG_WARNING,
			"engineer %s refused: file transfer "
			"attempt (%s)",
			name, target_log);
		goto out;
	}
	s.target = tdm_policy_target(policy, target);
	if (s.target == NULL || !tdm_policy_grants(s.engineer, target)) {
		fprintf(stderr,
			"tandem: %s target %s; run `ssh "
			"tandem@BASTION` with no target for the list of "
			"yours\n",
			s.target == NULL ? "there is no" :
					   "the policy does not grant you",
			target);
		tdm_log(LOG_WARNING, "engineer %s refused: target %s %s", name,
			target_log,
			s.target == NULL ? "unknown" : "not granted");
		goto out;
	}
	{
		const struct tdm_require *miss = NULL;

		if (!tdm_policy_meets(s.target, TDM_REQ_ENGINEER, s.engineer,
				      &miss)) {
			fprintf(stderr,
				"tandem: target %s requires engineers "
				"with %s=%s; ask an admin\n",
				target, miss ? miss->attr.key : "?",
				miss ? miss->attr.value : "?");
			tdm_log(LOG_WARNING,
				"engineer %s refused: target %s "
				"requirement not met",
				name, target_log);
			goto out;
		}
	}
	if (command != NULL) {
		s.command = strdup(command);
		if (s.command == NULL)
			goto out;
	} else if (!isatty(STDIN_FILENO)) {
		/* A shell fed from a pipe would run lines nobody approved:
		 * without a terminal, the command itself must be given. */
		fprintf(stderr,
			"tandem: no terminal and no command; give the "
			"command (ssh tandem@BASTION %s COMMAND) or ask for a "
			"terminal (ssh -t tandem@BASTION %s)\n",
			target, target);
		tdm_log(LOG_WARNING,
			"engineer %s refused: shell on %s "
			"without a terminal",
			name, target_log);
		goto out;
	}
	status = run_session(&s);
out:
	free(s.command);
	tdm_rules_free(rules);
	tdm_policy_free(policy);
	tdm_diag_free(&diag);
	return status;
}
