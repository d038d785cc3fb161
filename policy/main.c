/*
 * main.c: tandem-policy — checks the policy file, shows what an escort
 * would see for a command, and renders the authorized_keys lines of the
 * two service accounts from it.
 *
 * Options and output only; the parsing and rendering live in
 * common/policy.c.  It never writes any file: the admin redirects the
 * authorized_keys output where it belongs.
 */
#include "buf.h"
#include "err.h"
#include "policy.h"
#include "risk.h"
#include "visible.h"

#include <jansson.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "tandem-policy"
#define EXIT_POLICY 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: " PROG " [--config FILE] check [FILE]\n"
	"       " PROG " [--config FILE] explain --target T [--json] -- "
	"COMMAND\n"
	"       " PROG " [--config FILE] authorized-keys engineers|escorts\n"
	"       " PROG " --help\n"
	"\n"
	"Checks the tandem policy file, shows what an escort would see for a\n"
	"command, and renders authorized_keys from it.\n"
	"\n"
	"commands:\n"
	"  check [FILE]    check FILE (default: the --config file); print\n"
	"                  \"FILE: ok (N engineers, N escorts, N targets, N "
	"rules)\"\n"
	"                  or every error as \"FILE:LINE: message\"\n"
	"  explain --target T [--json] -- COMMAND\n"
	"                  what an escort supervising T would see for\n"
	"                  COMMAND (several words are joined by spaces):\n"
	"                  the command with invisible and control characters\n"
	"                  shown as escapes, and the verdict of the policy's\n"
	"                  rules and the built-in ones: deny (refused before\n"
	"                  any escort sees it), flag (each risk with its level\n"
	"                  and a plain sentence) or none; --json prints one\n"
	"                  object {command, visible, verdict, risks}\n"
	"  authorized-keys engineers|escorts\n"
	"                  print one authorized_keys line per key, forcing\n"
	"                  tandem-recorder --engineer NAME (for the tandem\n"
	"                  account) or tandem-escort --escort NAME (for the\n"
	"                  escort account)\n"
	"\n"
	"options:\n"
	"  --config FILE   policy file (default " TDM_POLICY_DEFAULT_PATH ")\n"
	"  --help          show this help\n"
	"\n"
	"exit status: 0 ok, 1 the policy has errors or cannot be read (or\n"
	"explain names a target it does not have), 2 usage error\n";

/* Prints "tandem-policy: PROBLEM; FIX (see tandem-policy --help)". */
static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", PROG);
	return EXIT_USAGE;
}

/* Loads path, or prints every problem and returns NULL. */
static struct tdm_policy *load(const char *path)
{
	struct tdm_policy *p = NULL;
	struct tdm_diag diag = { 0 };
	size_t i;
	int rc;

	rc = tdm_policy_load(path, &p, &diag);
	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	if (rc < 0 && diag.n == 0)
		fprintf(stderr,
			"%s: %s: cannot load: %s — free memory and run "
			"again\n",
			PROG, path, tdm_strerror(rc));
	tdm_diag_free(&diag);
	return rc < 0 ? NULL : p;
}

static int cmd_check(const char *path)
{
	struct tdm_policy *p = load(path);

	if (p == NULL)
		return EXIT_POLICY;
	printf("%s: ok (%zu engineers, %zu escorts, %zu targets, %zu "
	       "rules)\n",
	       path, p->nengineers, p->nescorts, p->ntargets, p->nrules);
	tdm_policy_free(p);
	return fflush(stdout) == 0 ? 0 : EXIT_POLICY;
}

/* Compiles the rules of p, or prints every problem and returns NULL. */
static struct tdm_rules *compile_rules(const struct tdm_policy *p)
{
	struct tdm_rules *rs = NULL;
	struct tdm_diag diag = { 0 };
	size_t i;
	int rc;

	rc = tdm_rules_compile(p, &rs, &diag);
	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.msgs[i]);
	if (rc < 0 && diag.n == 0)
		fprintf(stderr,
			"%s: cannot compile the rules: %s — free "
			"memory and run again\n",
			PROG, tdm_strerror(rc));
	tdm_diag_free(&diag);
	return rc < 0 ? NULL : rs;
}

static const char *verdict_word(const struct tdm_verdict *v)
{
	if (v->deny)
		return "deny";
	return v->n > 0 ? "flag" : "none";
}

static int print_json(const char *cmd, const struct tdm_buf *vis,
		      const struct tdm_verdict *v)
{
	json_t *o;
	char *text;
	int rc;

	/* Exactly the pinned shape (SPEC.md). */
	o = json_pack("{s:s,s:s%,s:s,s:o}", "command", cmd, "visible",
		      (const char *)vis->data, vis->len, "verdict",
		      verdict_word(v), "risks", tdm_verdict_risks(v));
	if (o == NULL)
		return TDM_ERR_NOMEM;
	/* ASCII only: a bidi control in the command must not act here. */
	text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return TDM_ERR_NOMEM;
	rc = printf("%s\n", text) < 0 ? TDM_ERR_IO : 0;
	free(text);
	return rc;
}

static void print_human(const struct tdm_target *t, const struct tdm_buf *vis,
			const struct tdm_verdict *v)
{
	size_t i;

	printf("target:  %s (%s@%s port %u)\n", t->name,
	       t->user ? t->user : "?", t->address ? t->address : "?",
	       (unsigned)t->port);
	printf("command: %s\n", (const char *)vis->data);
	if (v->deny)
		printf("verdict: deny — refused before any escort sees it: "
		       "%s\n",
		       v->deny_why);
	else if (v->n > 0)
		printf("verdict: flag — the escort sees %s with the command\n",
		       v->n == 1 ? "this risk" : "these risks");
	else
		printf("verdict: none — no rule knows a risk in it; the "
		       "escort still decides\n");
	for (i = 0; i < v->n; i++)
		printf("  %-8s  %s\n", tdm_level_name(v->risks[i].level),
		       v->risks[i].why);
}

static int cmd_explain(const char *config, int argc, char **argv)
{
	static const struct option options[] = {
		{ "target", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target_name = NULL;
	const struct tdm_target *target;
	struct tdm_policy *p = NULL;
	struct tdm_rules *rs = NULL;
	struct tdm_verdict v;
	struct tdm_buf cmd, vis;
	bool json = false;
	int opt, i, status = EXIT_POLICY, rc;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			target_name = optarg;
			break;
		case 'j':
			json = true;
			break;
		case ':':
			return usage_error("%s needs a value; write --target "
					   "NAME",
					   argv[optind - 1]);
		default:
			return usage_error("unknown explain option \"%s\"; use "
					   "--target, --json, then -- COMMAND",
					   argv[optind - 1]);
		}
	}
	if (target_name == NULL)
		return usage_error("explain needs --target NAME: the rules "
				   "an escort sees depend on the target");
	if (optind == argc)
		return usage_error("explain needs the command after --, e.g. "
				   "explain --target %s -- 'rm -rf /tmp/x'",
				   target_name);
	tdm_buf_init(&cmd, 0);
	tdm_buf_init(&vis, 0);
	for (i = optind; i < argc; i++) {
		if (i > optind)
			tdm_buf_putc(&cmd, ' ');
		tdm_buf_puts(&cmd, argv[i]);
	}
	if (tdm_buf_putc(&cmd, '\0') < 0)
		goto nomem;
	cmd.len--;
	p = load(config);
	if (p == NULL)
		goto out;
	target = tdm_policy_target(p, target_name);
	if (target == NULL) {
		fprintf(stderr,
			"%s: %s has no target \"%s\"; name one of its "
			"target sections\n",
			PROG, config, target_name);
		goto out;
	}
	rs = compile_rules(p);
	if (rs == NULL)
		goto out;
	rc = tdm_rules_judge(rs, cmd.data, cmd.len, &v);
	if (rc < 0 || tdm_visible(cmd.data, cmd.len, &vis) < 0 ||
	    tdm_buf_putc(&vis, '\0') < 0)
		goto nomem;
	vis.len--;
	if (json)
		rc = print_json((const char *)cmd.data, &vis, &v);
	else
		print_human(target, &vis, &v);
	if (rc < 0 || fflush(stdout) != 0) {
		fprintf(stderr,
			"%s: cannot write the output: %s — check "
			"where it is redirected\n",
			PROG, strerror(errno));
		goto out;
	}
	status = 0;
	goto out;
nomem:
	fprintf(stderr, "%s: out of memory; free memory and run again\n", PROG);
out:
	tdm_rules_free(rs);
	tdm_policy_free(p);
	tdm_buf_free(&cmd);
	tdm_buf_free(&vis);
	return status;
}

/* Directory of the running binary, so forced commands name its siblings. */
static char *own_dir(void)
{
	char *path, *slash;
	ssize_t n;
	size_t cap = 256;

	for (;;) {
		path = malloc(cap);
		if (path == NULL)
			return NULL;
		n = readlink("/proc/self/exe", path, cap);
		if (n < 0) {
			free(path);
			return NULL;
		}
		if ((size_t)n < cap)
			break;
		free(path);
		if (cap > 65536) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		cap *= 2;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL) {
		free(path);
		errno = ENOENT;
		return NULL;
	}
	*(slash == path ? slash + 1 : slash) = '\0';
	return path;
}

/*
 * The config as forced commands must name it: its real path, or NULL when
 * it is the default, which the programs read without --config.
 */
static int config_arg(const char *config, char **out)
{
	char *real, *def;

	real = realpath(config, NULL);
	if (real == NULL)
		return -1;
	def = realpath(TDM_POLICY_DEFAULT_PATH, NULL);
	if (strcmp(real, TDM_POLICY_DEFAULT_PATH) == 0 ||
	    (def != NULL && strcmp(real, def) == 0)) {
		free(real);
		real = NULL;
	}
	free(def);
	*out = real;
	return 0;
}

static int cmd_authorized_keys(const char *config, const char *who)
{
	enum tdm_req_who role;
	struct tdm_policy *p = NULL;
	struct tdm_buf out;
	char *bindir = NULL, *config_real = NULL;
	int rc, status = EXIT_POLICY;

	if (strcmp(who, "engineers") == 0)
		role = TDM_REQ_ENGINEER;
	else if (strcmp(who, "escorts") == 0)
		role = TDM_REQ_ESCORT;
	else
		return usage_error("unknown account kind \"%s\"; write "
				   "engineers or escorts",
				   who);
	tdm_buf_init(&out, 0);
	p = load(config);
	if (p == NULL)
		goto out;
	bindir = own_dir();
	if (bindir == NULL) {
		fprintf(stderr,
			"%s: cannot find the directory of this program:"
			" /proc/self/exe: %s — mount /proc and run again\n",
			PROG, strerror(errno));
		goto out;
	}
	if (config_arg(config, &config_real) < 0) {
		fprintf(stderr, "%s: %s: cannot resolve: %s — check the path\n",
			PROG, config, strerror(errno));
		goto out;
	}
	rc = tdm_policy_authorized_keys(p, role, bindir, config_real, &out);
	if (rc == TDM_ERR_INVAL) {
		fprintf(stderr,
			"%s: \"%s\" or \"%s\" would need quoting in "
			"an authorized_keys command; install tandem and the "
			"policy under paths of letters, digits and /._+,:@%%=-"
			"\n",
			PROG, bindir,
			config_real ? config_real : TDM_POLICY_DEFAULT_PATH);
		goto out;
	}
	if (rc < 0) {
		fprintf(stderr,
			"%s: cannot render authorized_keys: %s — free "
			"memory and run again\n",
			PROG, tdm_strerror(rc));
		goto out;
	}
	if (out.len > 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
		goto write_failed;
	if (fflush(stdout) != 0)
		goto write_failed;
	status = 0;
	goto out;
write_failed:
	fprintf(stderr,
		"%s: cannot write the output: %s — check where it "
		"is redirected\n",
		PROG, strerror(errno));
out:
	free(config_real);
	free(bindir);
	tdm_buf_free(&out);
	tdm_policy_free(p);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = TDM_POLICY_DEFAULT_PATH;
	const char *cmd;
	int opt, nargs;

	opterr = 0;
	/* "+": options after the command are the command's own. */
	while ((opt = getopt_long(argc, argv, "+:", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return fflush(stdout) == 0 ? 0 : EXIT_POLICY;
		case ':':
			return usage_error("%s needs a value; write --config "
					   "FILE",
					   argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_error("unknown option \"-%c\"; "
						   "use --config or --help",
						   optopt);
			return usage_error("unknown option \"%s\"; use "
					   "--config or --help",
					   argv[optind - 1]);
		}
	}
	if (optind == argc)
		return usage_error("no command given; use check, explain or "
				   "authorized-keys");
	cmd = argv[optind];
	nargs = argc - optind - 1;
	if (strcmp(cmd, "check") == 0) {
		if (nargs > 1)
			return usage_error("check takes at most one FILE, got "
					   "%d; check one file at a time",
					   nargs);
		return cmd_check(nargs == 1 ? argv[optind + 1] : config);
	}
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(config, argc - optind, argv + optind);
	if (strcmp(cmd, "authorized-keys") == 0) {
		if (nargs != 1)
			return usage_error("authorized-keys takes one of "
					   "engineers or escorts, got %d "
					   "values",
					   nargs);
		return cmd_authorized_keys(config, argv[optind + 1]);
	}
	return usage_error("unknown command \"%s\"; use check, explain or "
			   "authorized-keys",
			   cmd);
}
