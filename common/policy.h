/*
 * policy.h: the policy file (/etc/tandem/policy.conf) as data.
 *
 * The loader reads the pinned shape in SPEC.md: global directives, then
 * `engineer`, `escort` and `target` sections, and `deny` / `flag` rules.
 * It never stops at the first mistake: every error is collected as
 * "FILE:LINE: message" so `tandem-policy check` can list them all, and a
 * policy with any error is never handed to a caller.
 */
#ifndef TDM_POLICY_H
#define TDM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct tdm_attr {
	char *key;
	char *value;
};

/* An engineer or an escort. */
struct tdm_person {
	char *name;
	char **keys; /* "TYPE BASE64 [COMMENT]" as written */
	size_t nkeys;
	struct tdm_attr *attrs;
	size_t nattrs;
	char **targets; /* names or fnmatch(3) patterns such as web-* */
	size_t ntargets;
	int line;
};

enum tdm_req_who { TDM_REQ_ESCORT, TDM_REQ_ENGINEER };

struct tdm_require {
	enum tdm_req_who who;
	struct tdm_attr attr; /* one K=V per struct; a line may make several */
	int line;
};

struct tdm_target {
	char *name;
	char *address;
	unsigned port; /* default 22 */
	char *user;
	char *host_key; /* "TYPE BASE64 [COMMENT]" */
	char *identity; /* path of the bastion-held private key */
	struct tdm_require *requires;
	size_t nrequires;
	char **interactive;
	size_t ninteractive;
	unsigned long raw_limit_ms; /* default 10m */
	int line;
};

enum tdm_rule_kind { TDM_RULE_DENY, TDM_RULE_FLAG };
enum tdm_level {
	TDM_LEVEL_LOW,
	TDM_LEVEL_MEDIUM,
	TDM_LEVEL_HIGH,
	TDM_LEVEL_CRITICAL
};

/* Kept as written here; the policy-rules work gives them meaning. */
struct tdm_rule {
	enum tdm_rule_kind kind;
	enum tdm_level level; /* TDM_LEVEL_CRITICAL for deny */
	char *pattern;	      /* POSIX ERE */
	char *why;
	int line;
};

struct tdm_policy {
	char *path;
	char *recordings;		   /* /var/lib/tandem/recordings */
	char *sessions;			   /* /run/tandem/sessions */
	char *signing_key;		   /* /etc/tandem/signing_ed25519 */
	char *escort_user;		   /* escort */
	unsigned long approval_timeout_ms; /* 5m */
	unsigned long idle_timeout_ms;	   /* 15m */
	unsigned long flush_interval_ms;   /* 1s */
	bool builtin_rules; /* `builtin-rules on|off`, default on */
	struct tdm_person *engineers;
	size_t nengineers;
	struct tdm_person *escorts;
	size_t nescorts;
	struct tdm_target *targets;
	size_t ntargets;
	struct tdm_rule *rules;
	size_t nrules;
};

/* Error messages gathered while loading, each "FILE:LINE: message". */
struct tdm_diag {
	char **msgs;
	size_t n;
};

/* Appends one message; TDM_ERR_NOMEM when it cannot. */
int tdm_diag_printf(struct tdm_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tdm_diag_free(struct tdm_diag *d);

#define TDM_POLICY_DEFAULT_PATH "/etc/tandem/policy.conf"
/* A policy file larger than this is refused as a mistake. */
#define TDM_POLICY_MAX_BYTES (4u << 20)

/*
 * Reads and parses FILE.  On success *out is a policy to free with
 * tdm_policy_free and diag is empty.  On failure (any error in the file, or
 * the file cannot be read) returns a negative TDM_ERR_* and diag holds one
 * message per problem; *out is untouched.
 */
int tdm_policy_load(const char *path, struct tdm_policy **out,
		    struct tdm_diag *diag);
/* The same on text already in memory; name is used in messages. */
int tdm_policy_parse(const char *text, size_t len, const char *name,
		     struct tdm_policy **out, struct tdm_diag *diag);
void tdm_policy_free(struct tdm_policy *p);

const struct tdm_person *tdm_policy_engineer(const struct tdm_policy *p,
					     const char *name);
const struct tdm_person *tdm_policy_escort(const struct tdm_policy *p,
					   const char *name);
const struct tdm_target *tdm_policy_target(const struct tdm_policy *p,
					   const char *name);
/* True when one of the person's target names or patterns matches. */
bool tdm_policy_grants(const struct tdm_person *who, const char *target);
/*
 * True when the person has every attribute the target requires of that
 * role.  If missing is not NULL it is set to the first unmet requirement.
 */
bool tdm_policy_meets(const struct tdm_target *t, enum tdm_req_who role,
		      const struct tdm_person *who,
		      const struct tdm_require **missing);
/* Value of attribute key, or NULL. */
const char *tdm_person_attr(const struct tdm_person *who, const char *key);

/*
 * Parses a duration: a whole number followed by ms, s, m, h or d ("5m",
 * "1s", "250ms"); a bare number is seconds.  Returns 0 or TDM_ERR_INVAL.
 */
int tdm_duration_parse(const char *s, unsigned long *ms);
/* The longest sessions directory: "DIR/" + a 36-byte session id + ".sock"
 * fits the 108 bytes of a socket address. */
#define TDM_SESSIONS_PATH_MAX 65u
/* The longest duration a policy may give: a year. */
#define TDM_DURATION_MAX_MS (365ul * 24 * 60 * 60 * 1000)

struct tdm_buf;
/*
 * Appends to out one authorized_keys line per key of every engineer (role
 * TDM_REQ_ENGINEER, forced command BINDIR/tandem-recorder --engineer NAME)
 * or escort (TDM_REQ_ESCORT, BINDIR/tandem-escort --escort NAME):
 *   restrict,pty,command="BINDIR/PROG [--config CONFIG] --FLAG NAME" KEY
 * config NULL leaves --config out.  Returns TDM_ERR_INVAL, out untouched,
 * when bindir, config, a name or a key would need quoting in that line.
 */
int tdm_policy_authorized_keys(const struct tdm_policy *p,
			       enum tdm_req_who role, const char *bindir,
			       const char *config, struct tdm_buf *out);

#endif
