/*
 * test_policy.c: the policy file loader (common/policy.c).
 *
 * Every error class has a test that pins its FILE:LINE, so a mistake that
 * stops being reported, or is reported at the wrong line, fails here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "policy.h"

/* Real keys, made with ssh-keygen for these tests. */
#define ALICE_KEY                                                              \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIJbdkaRyAAW6dVKRtdlNGBU8rRXbepoHgvqc9I1YmuWN" \
	" alice@tandem-test"
#define BOB_KEY                                                                \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIAdUXMMVaZifr2zCQOtCIQe6dKVpiNPUqPPbyw+16ASC" \
	" bob@tandem-test"
#define CAROL_KEY                                                              \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIIPuS7mtspY83LxeTyI5j4aAvjVvXZPpx7sf4dXXp/7X" \
	" carol@tandem-test"
#define DAVE_KEY                                                               \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIN34kniahcRJW88lgNkrfB3nHzJjmO8bERbGS5BU1U0E" \
	" dave@tandem-test"
#define DB01_KEY                                                               \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIGwHcFVKQedCuwAQWVvQUcSeWn6eGf7/lQs2/0GVB6h+" \
	" db01@tandem-test"
#define WEB01_KEY                                                              \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIML2YkVvbdUr3l6e4+QMdMuzvECGkPWWA5/J2BYyM/+j" \
	" web01@tandem-test"
#define ECDSA_KEY                                                  \
	"ecdsa-sha2-nistp256 "                                     \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLTi" \
	"QEOi5UOG0WTCF79vrZtMCyV3iI8zQSAwurqunu1CMhLpGcpTwYq7uCPN" \
	"QSh6e6mHYx73U/HmDvs6+rV4FJo="                             \
	" ecdsa@test"
/* The ed25519 blob of ALICE_KEY, declared as another type. */
#define ALICE_BLOB \
	"AAAAC3NzaC1lZDI1NTE5AAAAIJbdkaRyAAW6dVKRtdlNGBU8rRXbepoHgvqc9I1YmuWN"

/* A complete target: five lines. */
#define DB01                          \
	"target db01\n"               \
	"    address 10.0.0.5\n"      \
	"    user ops\n"              \
	"    host-key " DB01_KEY "\n" \
	"    identity /etc/tandem/keys/db01\n"

/* The SPEC example, with real keys and a second target for web-*. */
static const char spec_example[] =
	"# tandem policy\n" /* 1 */
	"recordings        /var/lib/tandem/recordings\n"
	"sessions          /run/tandem/sessions\n"
	"signing-key       /etc/tandem/signing_ed25519\n"
	"escort-user       escort    # Unix user of the escorts\n" /* 5 */
	"approval-timeout  5m\n"
	"idle-timeout      15m\n"
	"flush-interval    1s\n"
	"\n"
	"engineer alice\n" /* 10 */
	"    key      " ALICE_KEY "\n"
	"    attr     country=US clearance=secret\n"
	"    targets  db01 web-*\n"
	"\n"
	"escort bob\n" /* 15 */
	"    key      " BOB_KEY "\n"
	"    attr     citizen=US clearance=secret\n"
	"    targets  db01 web-*\n"
	"\n"
	"target db01\n" /* 20 */
	"    address      10.0.0.5\n"
	"    port         22\n"
	"    user         ops\n"
	"    host-key     " DB01_KEY "   # pinned\n"
	"    identity     /etc/tandem/keys/db01   # bastion-held\n" /* 25 */
	"    require      escort citizen=US\n"
	"    require      engineer clearance=secret\n"
	"    interactive  vim less top\n"
	"    raw-limit    10m\n"
	"\n" /* 30 */
	"target web-01\n"
	"    address      web01.example.net\n"
	"    port         2222\n"
	"    user         deploy\n"
	"    host-key     " WEB01_KEY "\n" /* 35 */
	"    identity     /etc/tandem/keys/web-01\n"
	"\n"
	"deny  \"(^|[;&|]|\\\\$\\\\()[[:space:]]*mkfs\"  "
	"\"formats a filesystem\"\n"
	"flag  high   \"rm[[:space:]]+-[a-zA-Z]*r\"    "
	"\"deletes files recursively\"\n"
	"flag  medium \"systemctl[[:space:]]+(stop|disable)\" "
	"\"stops a service\"\n";

static struct tdm_policy untouched;

static int parse_text(const char *text, struct tdm_policy **out,
		      struct tdm_diag *d)
{
	return tdm_policy_parse(text, strlen(text), "policy.conf", out, d);
}

static void print_diag(const struct tdm_diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		print_message("  %s\n", d->msgs[i]);
}

static struct tdm_policy *parse_ok(const char *text)
{
	struct tdm_policy *p = NULL;
	struct tdm_diag d = { 0 };
	int rc;

	rc = parse_text(text, &p, &d);
	if (rc != 0)
		print_diag(&d);
	assert_int_equal(rc, 0);
	assert_int_equal(d.n, 0);
	assert_non_null(p);
	return p;
}

/* text must fail with exactly these messages, each starting with want[i]. */
static void expect_errors(const char *text, size_t len, const char *const *want,
			  size_t n)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };
	size_t i;
	int rc;

	rc = tdm_policy_parse(text, len, "policy.conf", &p, &d);
	if (d.n != n)
		print_diag(&d);
	assert_int_equal(rc, TDM_ERR_INVAL);
	assert_ptr_equal(p, &untouched);
	assert_int_equal(d.n, n);
	for (i = 0; i < n; i++)
		if (strncmp(d.msgs[i], want[i], strlen(want[i])) != 0)
			fail_msg("error %zu is\n  %s\nwant it to start with\n"
				 "  %s",
				 i, d.msgs[i], want[i]);
	tdm_diag_free(&d);
}

#define EXPECT_ERRORS(text, ...)                                 \
	do {                                                     \
		const char *const want_[] = { __VA_ARGS__ };     \
		expect_errors(text, strlen(text), want_,         \
			      sizeof(want_) / sizeof(want_[0])); \
	} while (0)

/* ---- a valid policy ---------------------------------------------------- */

static void test_spec_example_loads_with_every_field(void **state)
{
	struct tdm_policy *p = parse_ok(spec_example);
	const struct tdm_person *alice, *bob;
	const struct tdm_target *db01, *web;

	(void)state;
	assert_string_equal(p->path, "policy.conf");
	assert_string_equal(p->recordings, "/var/lib/tandem/recordings");
	assert_string_equal(p->sessions, "/run/tandem/sessions");
	assert_string_equal(p->signing_key, "/etc/tandem/signing_ed25519");
	assert_string_equal(p->escort_user, "escort");
	assert_int_equal(p->approval_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(p->idle_timeout_ms, 15 * 60 * 1000);
	assert_int_equal(p->flush_interval_ms, 1000);
	assert_true(p->builtin_rules);
	assert_int_equal(p->nengineers, 1);
	assert_int_equal(p->nescorts, 1);
	assert_int_equal(p->ntargets, 2);
	assert_int_equal(p->nrules, 3);

	alice = tdm_policy_engineer(p, "alice");
	assert_non_null(alice);
	assert_int_equal(alice->line, 10);
	assert_int_equal(alice->nkeys, 1);
	assert_string_equal(alice->keys[0], ALICE_KEY);
	assert_int_equal(alice->nattrs, 2);
	assert_string_equal(tdm_person_attr(alice, "country"), "US");
	assert_string_equal(tdm_person_attr(alice, "clearance"), "secret");
	assert_int_equal(alice->ntargets, 2);
	assert_string_equal(alice->targets[0], "db01");
	assert_string_equal(alice->targets[1], "web-*");

	bob = tdm_policy_escort(p, "bob");
	assert_non_null(bob);
	assert_int_equal(bob->line, 15);
	assert_string_equal(bob->keys[0], BOB_KEY);
	assert_string_equal(tdm_person_attr(bob, "citizen"), "US");

	db01 = tdm_policy_target(p, "db01");
	assert_non_null(db01);
	assert_int_equal(db01->line, 20);
	assert_string_equal(db01->address, "10.0.0.5");
	assert_int_equal(db01->port, 22);
	assert_string_equal(db01->user, "ops");
	assert_string_equal(db01->host_key, DB01_KEY);
	assert_string_equal(db01->identity, "/etc/tandem/keys/db01");
	assert_int_equal(db01->nrequires, 2);
	assert_int_equal(db01->requires[0].who, TDM_REQ_ESCORT);
	assert_string_equal(db01->requires[0].attr.key, "citizen");
	assert_string_equal(db01->requires[0].attr.value, "US");
	assert_int_equal(db01->requires[0].line, 26);
	assert_int_equal(db01->requires[1].who, TDM_REQ_ENGINEER);
	assert_string_equal(db01->requires[1].attr.key, "clearance");
	assert_int_equal(db01->ninteractive, 3);
	assert_string_equal(db01->interactive[0], "vim");
	assert_string_equal(db01->interactive[2], "top");
	assert_int_equal(db01->raw_limit_ms, 10 * 60 * 1000);

	web = tdm_policy_target(p, "web-01");
	assert_non_null(web);
	assert_int_equal(web->port, 2222);
	assert_string_equal(web->address, "web01.example.net");

	assert_int_equal(p->rules[0].kind, TDM_RULE_DENY);
	assert_int_equal(p->rules[0].level, TDM_LEVEL_CRITICAL);
	assert_string_equal(p->rules[0].pattern,
			    "(^|[;&|]|\\$\\()[[:space:]]*mkfs");
	assert_string_equal(p->rules[0].why, "formats a filesystem");
	assert_int_equal(p->rules[0].line, 38);
	assert_int_equal(p->rules[1].kind, TDM_RULE_FLAG);
	assert_int_equal(p->rules[1].level, TDM_LEVEL_HIGH);
	assert_int_equal(p->rules[2].level, TDM_LEVEL_MEDIUM);
	assert_string_equal(p->rules[2].why, "stops a service");
	tdm_policy_free(p);
}

static void test_defaults_apply_when_globals_are_absent(void **state)
{
	struct tdm_policy *p = parse_ok(DB01);

	(void)state;
	assert_string_equal(p->recordings, "/var/lib/tandem/recordings");
	assert_string_equal(p->sessions, "/run/tandem/sessions");
	assert_string_equal(p->signing_key, "/etc/tandem/signing_ed25519");
	assert_string_equal(p->escort_user, "escort");
	assert_int_equal(p->approval_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(p->idle_timeout_ms, 15 * 60 * 1000);
	assert_int_equal(p->flush_interval_ms, 1000);
	assert_true(p->builtin_rules);
	tdm_policy_free(p);
}

static void test_target_defaults_to_port_22_and_raw_limit_10m(void **state)
{
	struct tdm_policy *p = parse_ok(DB01);
	const struct tdm_target *t = tdm_policy_target(p, "db01");

	(void)state;
	assert_non_null(t);
	assert_int_equal(t->port, 22);
	assert_int_equal(t->raw_limit_ms, 10 * 60 * 1000);
	assert_int_equal(t->nrequires, 0);
	assert_int_equal(t->ninteractive, 0);
	tdm_policy_free(p);
}

static void test_empty_policy_is_valid_and_empty(void **state)
{
	struct tdm_policy *p = parse_ok("# nothing yet\n\n   \n");

	(void)state;
	assert_int_equal(p->nengineers + p->nescorts + p->ntargets + p->nrules,
			 0);
	tdm_policy_free(p);
}

static void test_globals_override_defaults(void **state)
{
	struct tdm_policy *p = parse_ok("recordings /srv/rec\n"
					"sessions /run/t/s\n"
					"signing-key /etc/t/key\n"
					"escort-user watcher\n"
					"approval-timeout 90s\n"
					"idle-timeout 2h\n"
					"flush-interval 250ms\n"
					"builtin-rules off\n");

	(void)state;
	assert_string_equal(p->recordings, "/srv/rec");
	assert_string_equal(p->sessions, "/run/t/s");
	assert_string_equal(p->signing_key, "/etc/t/key");
	assert_string_equal(p->escort_user, "watcher");
	assert_int_equal(p->approval_timeout_ms, 90 * 1000);
	assert_int_equal(p->idle_timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(p->flush_interval_ms, 250);
	assert_false(p->builtin_rules);
	tdm_policy_free(p);
}

static void test_same_name_as_engineer_and_escort_is_allowed(void **state)
{
	struct tdm_policy *p = parse_ok(DB01 "engineer alice\n"
					     "    key " ALICE_KEY "\n"
					     "    targets db01\n"
					     "escort alice\n"
					     "    key " CAROL_KEY "\n"
					     "    targets db01\n");

	(void)state;
	assert_non_null(tdm_policy_engineer(p, "alice"));
	assert_non_null(tdm_policy_escort(p, "alice"));
	assert_null(tdm_policy_engineer(p, "bob"));
	assert_null(tdm_policy_escort(p, "bob"));
	assert_null(tdm_policy_target(p, "db02"));
	tdm_policy_free(p);
}

static void test_person_may_have_several_keys_and_attr_lines(void **state)
{
	struct tdm_policy *p = parse_ok("engineer alice\n"
					"    key " ALICE_KEY "\n"
					"    key " ECDSA_KEY "\n"
					"    key " DAVE_KEY "\n"
					"    attr a=1\n"
					"    attr b=2 c=3\n");
	const struct tdm_person *a = tdm_policy_engineer(p, "alice");

	(void)state;
	assert_int_equal(a->nkeys, 3);
	assert_string_equal(a->keys[1], ECDSA_KEY);
	assert_int_equal(a->nattrs, 3);
	assert_string_equal(tdm_person_attr(a, "c"), "3");
	assert_null(tdm_person_attr(a, "d"));
	tdm_policy_free(p);
}

/* ---- durations --------------------------------------------------------- */

static void test_duration_units(void **state)
{
	static const struct {
		const char *text;
		unsigned long ms;
	} cases[] = {
		{ "0", 0 },
		{ "7", 7000 },
		{ "250ms", 250 },
		{ "1s", 1000 },
		{ "5m", 300000 },
		{ "2h", 7200000 },
		{ "3d", 259200000 },
		{ "18446744073709551615ms", 18446744073709551615ul },
		{ "0005m", 300000 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long ms = 1;

		assert_int_equal(tdm_duration_parse(cases[i].text, &ms), 0);
		assert_true(ms == cases[i].ms);
	}
}

static void test_duration_rejects_bad_forms_and_overflow(void **state)
{
	/* clang-format off */
	static const char *const bad[] = {
		"", "m", "5x", "-1", "+1", " 5", "5 ", "5 m", "1.5m", "5M",
		"5mm", "5sm", "0x10", "18446744073709551616ms",
		"18446744073709551615s", "213503982334602d",
		"99999999999999999999999",
	};
	/* clang-format on */
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long ms = 42;

		if (tdm_duration_parse(bad[i], &ms) != TDM_ERR_INVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(ms, 42);
	}
	assert_int_equal(tdm_duration_parse(NULL, NULL), TDM_ERR_INVAL);
}

static void test_bad_duration_is_error_at_its_line(void **state)
{
	(void)state;
	EXPECT_ERRORS("recordings /srv/rec\n"
		      "approval-timeout 5 minutes\n"
		      "idle-timeout 15x\n",
		      "policy.conf:2: wrong number of values for "
		      "approval-timeout",
		      "policy.conf:3: bad duration \"15x\" for idle-timeout");
	EXPECT_ERRORS(DB01 "    raw-limit 1.5m\n",
		      "policy.conf:6: bad duration \"1.5m\" for raw-limit");
	EXPECT_ERRORS("flush-interval 99999999999999999999d\n",
		      "policy.conf:1: bad duration");
}

static void test_zero_duration_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("\n\nflush-interval 0ms\n",
		      "policy.conf:3: flush-interval must be more than 0");
}

static void test_sessions_path_too_long_for_a_socket_is_error(void **state)
{
	char text[256], want[256];

	(void)state;
	/* 65 bytes: its sockets' paths are 107, which fits. */
	snprintf(text, sizeof(text), "sessions /%064d\n", 0);
	tdm_policy_free(parse_ok(text));
	snprintf(text, sizeof(text), "sessions /%065d\n", 0);
	snprintf(want, sizeof(want),
		 "policy.conf:1: sessions \"/%065d\" is 66 bytes long; the "
		 "sockets in it need a path of at most 65",
		 0);
	EXPECT_ERRORS(text, want);
}

static void test_duration_over_a_year_is_error(void **state)
{
	/* 2^64-1 ms passed, and then wrapped: "expired" at once. */
	(void)state;
	EXPECT_ERRORS(
		"approval-timeout 18446744073709551615ms\n"
		"idle-timeout 365d\n" DB01 "    raw-limit 366d\n",
		"policy.conf:1: approval-timeout "
		"\"18446744073709551615ms\" is more than a year; write at "
		"most 365d",
		"policy.conf:8: raw-limit \"366d\" is more than a year");
}

/* ---- ports and target fields ------------------------------------------ */

static void test_bad_port_is_error(void **state)
{
	static const char *const ports[] = { "0",   "65536",
					     "22a", "-1",
					     "",    "99999999999999999999" };
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		int n = snprintf(text, sizeof(text), DB01 "    port \"%s\"\n",
				 ports[i]);
		char want[128];

		assert_true(n > 0 && (size_t)n < sizeof(text));
		snprintf(want, sizeof(want),
			 "policy.conf:6: bad port \"%s\" in target db01; use "
			 "a number from 1 to 65535",
			 ports[i]);
		EXPECT_ERRORS(text, want);
	}
}

static void test_port_bounds_1_and_65535_are_accepted(void **state)
{
	struct tdm_policy *p;

	(void)state;
	p = parse_ok(DB01 "port 1\n");
	assert_int_equal(p->targets[0].port, 1);
	tdm_policy_free(p);
	p = parse_ok(DB01 "port 65535\n");
	assert_int_equal(p->targets[0].port, 65535);
	tdm_policy_free(p);
}

static void
test_missing_required_target_fields_reported_at_target_line(void **state)
{
	(void)state;
	EXPECT_ERRORS("\n"
		      "target db01\n"
		      "    port 22\n"
		      "target db02\n"
		      "    address 10.0.0.6\n"
		      "    user ops\n"
		      "    identity /etc/tandem/keys/db02\n",
		      "policy.conf:2: target db01 has no address; add: address",
		      "policy.conf:2: target db01 has no user; add: user",
		      "policy.conf:2: target db01 has no host-key; add:",
		      "policy.conf:2: target db01 has no identity; add:",
		      "policy.conf:4: target db02 has no host-key; add:");
}

static void test_identity_must_be_an_absolute_path(void **state)
{
	(void)state;
	EXPECT_ERRORS("target db01\n"
		      "    address 10.0.0.5\n"
		      "    user ops\n"
		      "    host-key " DB01_KEY "\n"
		      "    identity keys/db01\n",
		      "policy.conf:5: identity \"keys/db01\" in target db01 is "
		      "not an absolute path");
}

static void test_bad_address_and_user_are_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS("target db01\n"
		      "    address -oProxyCommand=x\n"
		      "    user \"o ps\"\n"
		      "    host-key " DB01_KEY "\n"
		      "    identity /k\n",
		      "policy.conf:2: bad address \"-oProxyCommand=x\" in "
		      "target db01",
		      "policy.conf:3: bad user \"o ps\" in target db01");
}

static void test_duplicate_single_valued_field_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "    port 22\n"
			   "    port 2222\n"
			   "    address 10.0.0.9\n",
		      "policy.conf:7: duplicate port in target db01 (first at "
		      "line 6); keep one",
		      "policy.conf:8: duplicate address in target db01 (first "
		      "at line 2); keep one");
}

static void test_duplicate_global_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("idle-timeout 5m\n"
		      "recordings /a\n"
		      "idle-timeout 10m\n",
		      "policy.conf:3: duplicate idle-timeout (first at line 1)"
		      "; keep one");
}

static void test_same_field_in_two_targets_is_not_a_duplicate(void **state)
{
	struct tdm_policy *p = parse_ok(DB01
					"    port 2200\n"
					"target db02\n"
					"    address 10.0.0.6\n"
					"    port 2201\n"
					"    user ops\n"
					"    host-key " DB01_KEY "\n"
					"    identity /etc/tandem/keys/db02\n");

	(void)state;
	assert_int_equal(tdm_policy_target(p, "db01")->port, 2200);
	assert_int_equal(tdm_policy_target(p, "db02")->port, 2201);
	tdm_policy_free(p);
}

static void test_require_needs_escort_or_engineer(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "    require investigator clearance=secret\n"
			   "    require escort clearance\n",
		      "policy.conf:6: require applies to escort or engineer, "
		      "not \"investigator\"",
		      "policy.conf:7: require \"clearance\" is not KEY=VALUE");
}

/* ---- names, sections and directives ------------------------------------ */

static void test_unknown_directive_suggests_the_nearest(void **state)
{
	(void)state;
	EXPECT_ERRORS("target db01\n"
		      "    adress 10.0.0.5\n",
		      "policy.conf:1: target db01 has no address",
		      "policy.conf:1: target db01 has no user",
		      "policy.conf:1: target db01 has no host-key",
		      "policy.conf:1: target db01 has no identity",
		      "policy.conf:2: unknown directive \"adress\"; did you "
		      "mean address?");
	EXPECT_ERRORS("recording /srv\n",
		      "policy.conf:1: unknown directive \"recording\"; did you "
		      "mean recordings?");
}

static void test_unknown_directive_without_near_match_lists_kinds(void **state)
{
	(void)state;
	EXPECT_ERRORS("\nfrobnicate yes\n",
		      "policy.conf:2: unknown directive \"frobnicate\"; "
		      "expected a global setting, a section (engineer, escort,"
		      " target) or a rule (deny, flag)");
}

static void test_global_after_section_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("recordings /srv/rec\n" DB01 "idle-timeout 5m\n",
		      "policy.conf:7: global directive idle-timeout after the "
		      "first section or rule (line 2); move it above that "
		      "line");
}

static void test_global_after_rule_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("deny \"mkfs\" \"formats a filesystem\"\n"
		      "builtin-rules off\n",
		      "policy.conf:2: global directive builtin-rules after the"
		      " first section or rule (line 1)");
}

static void test_duplicate_section_names_are_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "engineer alice\n"
			   "engineer alice\n" DB01,
		      "policy.conf:7: duplicate engineer alice (first at line "
		      "6)",
		      "policy.conf:8: duplicate target db01 (first at line 1)");
}

static void test_bad_names_are_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer -alice\n"
		      "escort \"bob smith\"\n"
		      "engineer al/ice\n"
		      "engineer \"\"\n"
		      "escort \"b\\\"ob\"\n"
		      "engineer ok.name_1-x\n",
		      "policy.conf:1: bad engineer name \"-alice\"; use "
		      "letters, digits, '.', '_' and '-', not starting with "
		      "'-'",
		      "policy.conf:2: bad escort name \"bob smith\"",
		      "policy.conf:3: bad engineer name \"al/ice\"",
		      "policy.conf:4: bad engineer name \"\"",
		      "policy.conf:5: bad escort name \"b\\\"ob\"");
}

static void test_section_without_name_skips_its_fields(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer\n"
		      "    key not a key at all\n"
		      "target db01 db02\n"
		      "    port 0\n",
		      "policy.conf:1: wrong number of values for engineer (got"
		      " 0); write: engineer NAME",
		      "policy.conf:3: wrong number of values for target (got "
		      "2); write: target NAME");
}

static void test_field_outside_any_section_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("key " ALICE_KEY "\n"
		      "deny \"x\" \"y\"\n"
		      "address 10.0.0.5\n",
		      "policy.conf:1: key outside any section; put it under an"
		      " engineer or escort section",
		      "policy.conf:3: address outside any section; put it "
		      "under a target section");
}

static void test_field_in_the_wrong_kind_of_section_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "    targets db01\n"
			   "engineer alice\n"
			   "    port 22\n",
		      "policy.conf:6: targets does not belong in target db01; "
		      "put it under an engineer or escort section",
		      "policy.conf:8: port does not belong in engineer alice; "
		      "put it under a target section");
}

static void test_rule_ends_the_section(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "flag low \"ls\" \"lists files\"\n"
			   "    port 22\n",
		      "policy.conf:7: port outside any section");
}

static void test_wrong_number_of_values_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("recordings /a /b\n"
		      "deny \"x\"\n"
		      "flag high \"x\"\n",
		      "policy.conf:1: wrong number of values for recordings "
		      "(got 2); write: recordings DIR",
		      "policy.conf:2: wrong number of values for deny (got 1)",
		      "policy.conf:3: wrong number of values for flag (got 2)");
}

static void test_global_paths_must_be_absolute(void **state)
{
	(void)state;
	EXPECT_ERRORS("recordings var/rec\n"
		      "escort-user -x\n"
		      "builtin-rules yes\n",
		      "policy.conf:1: recordings \"var/rec\" is not an absolute"
		      " path",
		      "policy.conf:2: escort-user \"-x\" is not a user name",
		      "policy.conf:3: builtin-rules takes on or off, not "
		      "\"yes\"");
}

/* ---- people and their keys --------------------------------------------- */

static void test_unknown_target_in_engineer_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "\n"
			   "engineer alice\n"
			   "    key " ALICE_KEY "\n"
			   "    targets db01\n"
			   "    targets db02\n",
		      "policy.conf:10: unknown target \"db02\" in engineer "
		      "alice");
}

static void test_unknown_target_in_escort_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("escort bob\n"
		      "    targets db03\n" DB01,
		      "policy.conf:2: unknown target \"db03\" in escort bob");
	/* Still an error when the name is declared as a person instead. */
	EXPECT_ERRORS("engineer alice\n"
		      "escort bob\n"
		      "    targets alice\n",
		      "policy.conf:3: unknown target \"alice\" in escort bob");
}

static void
test_entries_written_as_in_other_tools_say_how_to_write_them(void **state)
{
	/* "db01,web01" as in ssh -J; "/usr/bin/vim" or "vim -R", which
	 * the gate, comparing the program's name alone, would never meet. */
	(void)state;
	EXPECT_ERRORS(
		DB01 "    interactive /usr/bin/vim less\n"
		     "    interactive \"vim -R\"\n"
		     "engineer alice\n"
		     "    targets db01,web01\n",
		"policy.conf:6: interactive entry \"/usr/bin/vim\" is not "
		"a program name; write the name alone",
		"policy.conf:7: interactive entry \"vim -R\" is not",
		"policy.conf:9: targets entry \"db01,web01\" is not a "
		"target name or pattern; write e.g. db01 or web-*, "
		"separated by blanks, not commas");
}

static void test_targets_may_name_a_target_defined_later(void **state)
{
	struct tdm_policy *p = parse_ok("escort bob\n"
					"    targets db01 db*\n" DB01);

	(void)state;
	assert_true(tdm_policy_grants(tdm_policy_escort(p, "bob"), "db01"));
	tdm_policy_free(p);
}

static void test_pattern_matching_no_target_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS(DB01 "engineer alice\n"
			   "    targets db* web-* db0? [dx]b01 [a-c]*\n",
		      "policy.conf:7: pattern \"web-*\" in engineer alice "
		      "matches no target",
		      "policy.conf:7: pattern \"[a-c]*\" in engineer alice "
		      "matches no target");
}

static void test_key_used_twice_across_people_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key " ALICE_KEY "\n"
		      "escort bob\n"
		      "    key " BOB_KEY "\n"
		      "    key ssh-ed25519 " ALICE_BLOB " another comment\n"
		      "engineer carol\n"
		      "    key " BOB_KEY "\n",
		      "policy.conf:5: key already belongs to engineer alice "
		      "(line 2); give each person their own key",
		      "policy.conf:7: key already belongs to escort bob (line "
		      "4)");
}

static void test_key_listed_twice_for_one_person_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key " ALICE_KEY "\n"
		      "    key " ALICE_KEY "\n",
		      "policy.conf:3: key already belongs to engineer alice "
		      "(line 2)");
}

static void test_key_of_unknown_type_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key ssh-dss " ALICE_BLOB "\n"
		      "    key ssh-ed25519\n",
		      "policy.conf:2: unknown key type \"ssh-dss\"",
		      "policy.conf:3: wrong number of values for key (got 1)");
}

static void test_key_that_is_not_base64_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key ssh-ed25519 AAAA!!!!\n"
		      "    key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAA\n"
		      "    key ssh-ed25519 AA=A\n",
		      "policy.conf:2: key \"AAAA!!!!\" is not valid base64",
		      "policy.conf:3: key \"AAAAC3NzaC1lZDI1NTE5AAA\" is not "
		      "valid base64",
		      "policy.conf:4: key \"AA=A\" is not valid base64");
}

static void test_key_data_of_another_type_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key ssh-rsa " ALICE_BLOB " alice\n"
		      "    key ssh-ed25519 AAAA\n"
		      "    key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n",
		      "policy.conf:2: key data is not a ssh-rsa key",
		      "policy.conf:3: key data is not an SSH public key",
		      "policy.conf:4: key data is not an SSH public key");
}

static void test_key_cut_short_or_with_more_after_it_is_error(void **state)
{
	/* Both pass a look at the type alone; no connection can use them. */
	(void)state;
	EXPECT_ERRORS(
		"engineer alice\n"
		"    key ssh-ed25519 "
		"AAAAC3NzaC1lZDI1NTE5AAAAIJbdkaRyAAW6dVKRtdlNGBU8rRXbepoHgvqc9"
		"I1Y\n"
		"    key ssh-ed25519 " ALICE_BLOB "AA== alice\n"
		"    key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5WA==\n",
		"policy.conf:2: key data is not an SSH public key",
		"policy.conf:3: key data is not an SSH public key",
		"policy.conf:4: key data is not an SSH public key");
}

/* Keys ssh-keygen makes, of every type it can make here, are whole; the
 * same keys cut at every fourth base64 digit are not. */
static void test_keys_of_each_type_are_read_whole(void **state)
{
	static const char *const types[] = { "rsa -b 1024", "ecdsa -b 256",
					     "ecdsa -b 384", "ecdsa -b 521",
					     "ed25519" };
	char cmd[256], line[2048], text[4096], key[64], pub[80];
	struct tdm_policy *p;
	struct tdm_diag d = { 0 };
	size_t i, cut, b64_at, b64_end;
	FILE *f;

	(void)state;
	snprintf(key, sizeof(key), "/tmp/tdm-keytype.%ld", (long)getpid());
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(cmd, sizeof(cmd),
			 "rm -f %s %s.pub && ssh-keygen -q -N '' -t %s -f %s",
			 key, key, types[i], key);
		assert_int_equal(system(cmd), 0);
		snprintf(pub, sizeof(pub), "%s.pub", key);
		f = fopen(pub, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		snprintf(text, sizeof(text), "engineer alice\n    key %s\n",
			 line);
		p = parse_ok(text);
		tdm_policy_free(p);
		b64_at = strcspn(line, " ") + 1;
		b64_end = b64_at + strcspn(line + b64_at, " ");
		for (cut = b64_at + 4; cut < b64_end; cut += 4) {
			snprintf(text, sizeof(text),
				 "engineer alice\n    key %.*s\n", (int)cut,
				 line);
			p = NULL;
			assert_int_equal(tdm_policy_parse(text, strlen(text),
							  "policy.conf", &p,
							  &d),
					 TDM_ERR_INVAL);
			assert_int_equal(d.n, 1);
			tdm_diag_free(&d);
		}
	}
	unlink(key);
	unlink(pub);
}

static void test_host_key_is_validated_like_a_key(void **state)
{
	(void)state;
	EXPECT_ERRORS("target db01\n"
		      "    address 10.0.0.5\n"
		      "    user ops\n"
		      "    host-key ssh-rsa " ALICE_BLOB "\n"
		      "    identity /etc/tandem/keys/db01\n",
		      "policy.conf:4: host-key data is not a ssh-rsa key");
}

static void test_key_comment_with_control_characters_is_error(void **state)
{
	/* A newline here would inject a line into authorized_keys. */
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    key " ALICE_KEY " \"x\\nrestrict\"\n",
		      "policy.conf:2: key comment \"x\\nrestrict\" contains "
		      "control characters");
}

static void test_bad_attributes_are_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS(
		"engineer alice\n"
		"    attr country\n"
		"    attr =US clearance=\n"
		"    attr a=1 a=2\n"
		"    attr \"bad key=x\"\n",
		"policy.conf:2: attr \"country\" is not KEY=VALUE",
		"policy.conf:3: attr \"=US\" is not KEY=VALUE",
		"policy.conf:3: attr \"clearance=\" has no value after '='",
		"policy.conf:4: duplicate attribute a in engineer alice",
		"policy.conf:5: attr \"bad key=x\" is not KEY=VALUE");
}

/* ---- rules ------------------------------------------------------------- */

static void test_bad_regex_is_error_at_its_line(void **state)
{
	(void)state;
	EXPECT_ERRORS("deny \"ok\" \"fine\"\n"
		      "\n"
		      "deny \"x(\" \"unbalanced\"\n"
		      "flag low \"[[:nope:]]\" \"bad class\"\n"
		      "flag low \"\" \"empty\"\n",
		      "policy.conf:3: bad regular expression \"x(\": ",
		      "policy.conf:4: bad regular expression \"[[:nope:]]\": ",
		      "policy.conf:5: empty regular expression");
}

static void test_regex_too_costly_to_compile_is_refused(void **state)
{
	static const char *const want[] = {
		"policy.conf:1: regular expression \"((a{255}){255}){255}\" "
		"is too complex",
		"policy.conf:2: regular expression \"(a{32767}){32767}\" is "
		"too complex",
		"policy.conf:3: regular expression \"((){063}){255}\" is too "
		"complex",
		"policy.conf:4: regular expression \"((((((",
		"policy.conf:5: regular expression \"a*a*a*",
	};
	struct tdm_buf b;
	size_t i;

	/* Each would take glibc seconds, gigabytes or deep recursion. */
	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_puts(&b, "deny \"((a{255}){255}){255}\" x\n"
					  "deny \"(a{32767}){32767}\" x\n"
					  "deny \"((){063}){255}\" x\n"
					  "deny \""),
			 0);
	for (i = 0; i < 65; i++)
		assert_int_equal(tdm_buf_putc(&b, '('), 0);
	for (i = 0; i < 65; i++)
		assert_int_equal(tdm_buf_putc(&b, ')'), 0);
	assert_int_equal(tdm_buf_puts(&b, "\" x\ndeny \""), 0);
	for (i = 0; i < 16000; i++)
		assert_int_equal(tdm_buf_puts(&b, "a*"), 0);
	assert_int_equal(tdm_buf_puts(&b, "\" x\n"), 0);
	expect_errors((const char *)b.data, b.len, want,
		      sizeof(want) / sizeof(want[0]));
	tdm_buf_free(&b);
}

static void test_regex_repeating_an_anchor_is_refused(void **state)
{
	/* "(^|$)*" sixteen times takes glibc's regcomp minutes. */
	(void)state;
	EXPECT_ERRORS("deny \"(^|$)*(^|$)*(^|$)*(^|$)*(^|$)*(^|$)*\" x\n"
		      "deny \"((a|\\\\b)c)+\" x\n"
		      "deny \"(x$){2}\" x\n"
		      "deny \"(^|[;&|])[[:space:]]*(mkfs|wipefs)\" fine\n"
		      "deny \"[$^]*\\\\$*\" fine\n",
		      "policy.conf:1: regular expression \"(^|$)*(^|$)*",
		      "policy.conf:2: regular expression \"((a|\\\\b)c)+\" "
		      "repeats a group that holds an anchor",
		      "policy.conf:3: regular expression \"(x$){2}\" repeats "
		      "a group that holds an anchor (^, $, \\b, \\<, "
		      "\\>), which glibc compiles in exponential time; move "
		      "the anchor out of the repeated group");
}

static void test_regex_referring_back_is_refused(void **state)
{
	/* "^(.*)(.*)(.*)(.*)(.*)\\5\\4\\3\\2\\1$" took glibc minutes on
	 * a 120-letter line; a backslash before a digit in a bracket, or
	 * escaped itself, is no reference. */
	(void)state;
	EXPECT_ERRORS("flag low \"^(.*)(.*)\\\\2\\\\1$\" palindrome\n"
		      "deny \"[\\\\1]x\" fine\n"
		      "deny \"a\\\\\\\\1\" fine\n",
		      "policy.conf:1: regular expression \"^(.*)(.*)\\\\2"
		      "\\\\1$\" refers back to a group (\\1 to \\9), which "
		      "POSIX extended expressions do not have");
}

static void test_regex_with_many_anchors_is_refused(void **state)
{
	/* "(^|$)" written 80 times takes glibc's regcomp minutes. */
	(void)state;
	EXPECT_ERRORS("deny \"(^|$)(^|$)(^|$)(^|$)(^|$)\" x\n"
		      "deny \"(^|$)(^|$)(^|$)(^|$)\" fine\n",
		      "policy.conf:1: regular expression \"(^|$)(^|$)(^|$)"
		      "(^|$)(^|$)\" has more than 8 anchors");
}

static void test_regex_of_64_nested_groups_is_accepted(void **state)
{
	struct tdm_buf b;
	struct tdm_policy *p;
	size_t i;

	(void)state;
	tdm_buf_init(&b, 0);
	assert_int_equal(tdm_buf_puts(&b, "deny \""), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(tdm_buf_putc(&b, '('), 0);
	assert_int_equal(tdm_buf_putc(&b, 'a'), 0);
	for (i = 0; i < 64; i++)
		assert_int_equal(tdm_buf_putc(&b, ')'), 0);
	assert_int_equal(tdm_buf_puts(&b, "{1,10}\" x\n"), 0);
	p = parse_ok((const char *)b.data);
	assert_int_equal(p->nrules, 1);
	tdm_policy_free(p);
	tdm_buf_free(&b);
}

static void test_ordinary_bounded_regex_is_accepted(void **state)
{
	struct tdm_policy *p = parse_ok(
		"flag low \"([0-9]{1,3}\\\\.){3}[0-9]{1,3}\" \"an IP\"\n"
		"flag low \"[]a-z]{2,}x{,4}\" \"odd brackets\"\n");

	(void)state;
	assert_int_equal(p->nrules, 2);
	assert_string_equal(p->rules[0].pattern,
			    "([0-9]{1,3}\\.){3}[0-9]{1,3}");
	tdm_policy_free(p);
}

static void test_flag_with_unknown_level_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("flag severe \"rm\" \"deletes\"\n"
		      "flag critical \"rm\" \"\"\n",
		      "policy.conf:1: unknown level \"severe\" in flag; use "
		      "low, medium, high or critical",
		      "policy.conf:2: flag rule has an empty explanation");
}

static void test_rule_levels_and_kinds_are_kept(void **state)
{
	struct tdm_policy *p = parse_ok("flag low \"a\" \"1\"\n"
					"flag medium \"b\" \"2\"\n"
					"flag high \"c\" \"3\"\n"
					"flag critical \"d\" \"4\"\n"
					"deny \"e\" \"5\"\n");

	(void)state;
	assert_int_equal(p->nrules, 5);
	assert_int_equal(p->rules[0].level, TDM_LEVEL_LOW);
	assert_int_equal(p->rules[1].level, TDM_LEVEL_MEDIUM);
	assert_int_equal(p->rules[2].level, TDM_LEVEL_HIGH);
	assert_int_equal(p->rules[3].level, TDM_LEVEL_CRITICAL);
	assert_int_equal(p->rules[3].kind, TDM_RULE_FLAG);
	assert_int_equal(p->rules[4].kind, TDM_RULE_DENY);
	assert_int_equal(p->rules[4].level, TDM_LEVEL_CRITICAL);
	assert_int_equal(p->rules[4].line, 5);
	tdm_policy_free(p);
}

/* ---- the lexer --------------------------------------------------------- */

static void test_quoted_strings_and_escapes(void **state)
{
	struct tdm_policy *p =
		parse_ok("engineer alice\n"
			 "    attr \"team=site ops\" motto=\"say \\\"hi\\\"\"\n"
			 "    attr path=\"a\\\\b\" nl=\"\"\"1\"\n"
			 "deny \"a#b\" \"why # not a comment\"\n"
			 "deny \"x\\ty\" \"b\"\n");
	const struct tdm_person *a = tdm_policy_engineer(p, "alice");

	(void)state;
	assert_string_equal(tdm_person_attr(a, "team"), "site ops");
	assert_string_equal(tdm_person_attr(a, "motto"), "say \"hi\"");
	assert_string_equal(tdm_person_attr(a, "path"), "a\\b");
	assert_string_equal(tdm_person_attr(a, "nl"), "1");
	assert_string_equal(p->rules[0].pattern, "a#b");
	assert_string_equal(p->rules[0].why, "why # not a comment");
	assert_string_equal(p->rules[1].pattern, "x\ty");
	tdm_policy_free(p);
}

static void test_newline_escape_is_kept_in_rule_text(void **state)
{
	struct tdm_policy *p = parse_ok("deny \"two\\nlines\" \"a\"\n");

	(void)state;
	assert_string_equal(p->rules[0].pattern, "two\nlines");
	tdm_policy_free(p);
}

/* Escorts read explanations on their terminals: plain text only. */
static void test_control_characters_in_an_explanation_are_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS("deny \"a\" \"two\\nlines\"\n"
		      "flag low \"b\" \"red \x1b[31mtext\"\n"
		      "flag low \"c\" \"hidden \xe2\x80\xae text\"\n",
		      "policy.conf:1: deny rule's explanation \"two\\nlines\" "
		      "holds a control",
		      "policy.conf:2: flag rule's explanation",
		      "policy.conf:3: flag rule's explanation");
}

static void test_unterminated_quote_is_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("engineer alice\n"
		      "    attr \"team=ops\n"
		      "deny \"rm\" \"oops\\\"\n",
		      "policy.conf:2: unterminated quoted string; add the "
		      "closing \" on the same line",
		      "policy.conf:3: unterminated quoted string");
}

static void test_unknown_escape_is_kept_for_regular_expressions(void **state)
{
	/* The SPEC's own example writes \$ and \( inside quotes. */
	struct tdm_policy *p = parse_ok(
		"deny \"(^|[;&|]|\\$\\()[[:space:]]*mkfs\" \"formats\"\n"
		"flag high \"a\\\\b\\x\" \"plain\"\n");

	(void)state;
	assert_int_equal(p->nrules, 2);
	assert_string_equal(p->rules[0].pattern,
			    "(^|[;&|]|\\$\\()[[:space:]]*mkfs");
	assert_string_equal(p->rules[1].pattern, "a\\b\\x");
	assert_string_equal(p->rules[1].why, "plain");
	tdm_policy_free(p);
}

static void test_backslash_outside_quotes_is_literal(void **state)
{
	struct tdm_policy *p = parse_ok("engineer alice\n"
					"    attr re=a\\.b\n");

	(void)state;
	assert_string_equal(tdm_person_attr(p->engineers, "re"), "a\\.b");
	tdm_policy_free(p);
}

static void test_comments_are_ignored(void **state)
{
	struct tdm_policy *p =
		parse_ok("# a comment\n"
			 "   # an indented comment\n"
			 "recordings /srv/rec# trailing, no space\n"
			 "engineer alice # trailing\n"
			 "    attr team=ops#1\n");

	(void)state;
	assert_string_equal(p->recordings, "/srv/rec");
	assert_string_equal(tdm_person_attr(p->engineers, "team"), "ops");
	tdm_policy_free(p);
}

static void test_crlf_line_endings_and_tabs_are_accepted(void **state)
{
	struct tdm_policy *p = parse_ok("recordings\t/srv/rec\r\n"
					"engineer\talice\r\n"
					"\tattr\tteam=ops\r\n"
					"\r\n");

	(void)state;
	assert_string_equal(p->recordings, "/srv/rec");
	assert_string_equal(tdm_person_attr(p->engineers, "team"), "ops");
	tdm_policy_free(p);
}

static void test_last_line_without_newline_is_read(void **state)
{
	struct tdm_policy *p = parse_ok("recordings /srv/rec");

	(void)state;
	assert_string_equal(p->recordings, "/srv/rec");
	tdm_policy_free(p);
}

static void test_line_over_64k_is_error(void **state)
{
	size_t n = 70000;
	char *text = malloc(n + 32);
	static const char *const want[] = {
		"policy.conf:2: line is 70000 bytes, over the limit of 65536",
	};

	(void)state;
	assert_non_null(text);
	memcpy(text, "recordings /a\n", 14);
	memset(text + 14, 'a', n);
	memcpy(text + 14 + n, "\nsessions /b\n", 14);
	expect_errors(text, strlen(text), want, 1);
	free(text);
}

static void test_line_of_exactly_64k_is_read(void **state)
{
	size_t n = 65536;
	char *text = malloc(n + 2);
	struct tdm_policy *p;

	(void)state;
	assert_non_null(text);
	memset(text, ' ', n);
	memcpy(text, "recordings /a", 13);
	text[n - 1] = '#';
	text[n] = '\n';
	text[n + 1] = '\0';
	p = parse_ok(text);
	assert_string_equal(p->recordings, "/a");
	tdm_policy_free(p);
	free(text);
}

static void test_nul_byte_is_error(void **state)
{
	static const char text[] = "recordings /a\nengineer al\0ice\n";
	static const char *const want[] = {
		"policy.conf:2: line contains a NUL byte",
	};

	(void)state;
	expect_errors(text, sizeof(text) - 1, want, 1);
}

static void test_messages_escape_control_characters(void **state)
{
	(void)state;
	EXPECT_ERRORS("\x1b[31mred \"x\"\n"
		      "engineer \"\\tme\xff\"\n",
		      "policy.conf:1: unknown directive \"\\x1b[31mred\"",
		      "policy.conf:2: bad engineer name \"\\tme\\xff\"");
}

static void
test_several_errors_are_reported_together_in_line_order(void **state)
{
	(void)state;
	EXPECT_ERRORS("approval-timeout soon\n" /* 1 */
		      "engineer alice\n"
		      "    key " ALICE_KEY "\n"
		      "    targets db02\n" /* 4 */
		      "escort bob\n"
		      "    key " ALICE_KEY "\n" /* 6 */
		      "target db01\n"		/* 7 */
		      "    address 10.0.0.5\n"
		      "    port 70000\n" /* 9 */
		      "    user ops\n"
		      "    identity /etc/tandem/keys/db01\n"
		      "deny \"(\" \"bad\"\n" /* 12 */
		      "sessions /x\n",	     /* 13 */
		      "policy.conf:1: bad duration \"soon\" for "
		      "approval-timeout",
		      "policy.conf:4: unknown target \"db02\" in engineer "
		      "alice",
		      "policy.conf:6: key already belongs to engineer alice",
		      "policy.conf:7: target db01 has no host-key",
		      "policy.conf:9: bad port \"70000\" in target db01",
		      "policy.conf:12: bad regular expression \"(\"",
		      "policy.conf:13: global directive sessions after the "
		      "first section or rule (line 2)");
}

static void test_too_many_errors_stop_with_a_final_message(void **state)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };
	struct tdm_buf b;
	size_t i;
	int rc;

	(void)state;
	tdm_buf_init(&b, 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(tdm_buf_puts(&b, "bogus\n"), 0);
	rc = tdm_policy_parse((const char *)b.data, b.len, "p", &p, &d);
	assert_int_equal(rc, TDM_ERR_INVAL);
	assert_int_equal(d.n, 1001);
	assert_string_equal(d.msgs[999],
			    "p:1000: unknown directive \"bogus\"; "
			    "expected a global setting, a section (engineer, "
			    "escort, target) or a rule (deny, flag)");
	assert_string_equal(d.msgs[1000],
			    "p:1000: too many errors (1000), "
			    "stopped here; fix these and check again");
	tdm_diag_free(&d);
	tdm_buf_free(&b);
}

static void test_parse_refuses_text_over_the_size_limit(void **state)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };
	char *text = calloc(1, (size_t)TDM_POLICY_MAX_BYTES + 1);
	int rc;

	(void)state;
	assert_non_null(text);
	rc = tdm_policy_parse(text, (size_t)TDM_POLICY_MAX_BYTES + 1, "big", &p,
			      &d);
	assert_int_equal(rc, TDM_ERR_RANGE);
	assert_ptr_equal(p, &untouched);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0],
			    "big: policy is 4194305 bytes, over "
			    "the limit of 4194304; check that this is the "
			    "policy file");
	tdm_diag_free(&d);
	free(text);
}

static void test_messages_are_appended_to_an_existing_diag(void **state)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_int_equal(parse_text("bogus\n", &p, &d), TDM_ERR_INVAL);
	assert_int_equal(parse_text("\nbogus\n", &p, &d), TDM_ERR_INVAL);
	assert_int_equal(d.n, 2);
	assert_true(strncmp(d.msgs[0], "policy.conf:1:", 14) == 0);
	assert_true(strncmp(d.msgs[1], "policy.conf:2:", 14) == 0);
	tdm_diag_free(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.msgs);
	tdm_diag_free(&d);
}

/* ---- questions the other programs ask ---------------------------------- */

static void test_grants_literal_names_and_globs(void **state)
{
	struct tdm_policy *p = parse_ok(spec_example);
	const struct tdm_person *alice = tdm_policy_engineer(p, "alice");
	struct tdm_person nobody;

	(void)state;
	assert_true(tdm_policy_grants(alice, "db01"));
	assert_true(tdm_policy_grants(alice, "web-01"));
	assert_true(tdm_policy_grants(alice, "web-99"));
	assert_false(tdm_policy_grants(alice, "db02"));
	assert_false(tdm_policy_grants(alice, "db0"));
	assert_false(tdm_policy_grants(alice, "xweb-01"));
	assert_false(tdm_policy_grants(alice, ""));
	assert_false(tdm_policy_grants(alice, NULL));
	assert_false(tdm_policy_grants(NULL, "db01"));
	memset(&nobody, 0, sizeof(nobody));
	assert_false(tdm_policy_grants(&nobody, "db01"));
	tdm_policy_free(p);
}

static void test_meets_checks_required_attributes_per_role(void **state)
{
	struct tdm_policy *p = parse_ok(
		DB01 "    require escort citizen=US clearance=secret\n" /* 6 */
		     "    require engineer clearance=secret\n"		/* 7 */
		     "engineer alice\n"
		     "    attr clearance=secret\n"
		     "engineer dave\n"
		     "    attr clearance=public citizen=US\n"
		     "escort bob\n"
		     "    attr citizen=US clearance=secret\n"
		     "escort carol\n"
		     "    attr citizen=FR clearance=secret\n");
	const struct tdm_target *db01 = tdm_policy_target(p, "db01");
	const struct tdm_require *missing = (const void *)&untouched;

	(void)state;
	assert_true(tdm_policy_meets(db01, TDM_REQ_ENGINEER,
				     tdm_policy_engineer(p, "alice"),
				     &missing));
	assert_null(missing);
	assert_false(tdm_policy_meets(db01, TDM_REQ_ENGINEER,
				      tdm_policy_engineer(p, "dave"),
				      &missing));
	assert_non_null(missing);
	assert_int_equal(missing->line, 7);
	assert_string_equal(missing->attr.key, "clearance");

	assert_true(tdm_policy_meets(db01, TDM_REQ_ESCORT,
				     tdm_policy_escort(p, "bob"), NULL));
	assert_false(tdm_policy_meets(db01, TDM_REQ_ESCORT,
				      tdm_policy_escort(p, "carol"), &missing));
	assert_string_equal(missing->attr.key, "citizen");
	assert_string_equal(missing->attr.value, "US");
	/* alice meets the engineer rules but has none of the escort ones. */
	assert_false(tdm_policy_meets(db01, TDM_REQ_ESCORT,
				      tdm_policy_engineer(p, "alice"),
				      &missing));
	assert_int_equal(missing->line, 6);
	assert_false(tdm_policy_meets(db01, TDM_REQ_ESCORT, NULL, NULL));
	tdm_policy_free(p);
}

static void test_meets_is_true_when_nothing_is_required(void **state)
{
	struct tdm_policy *p = parse_ok(DB01 "engineer alice\n");

	(void)state;
	assert_true(tdm_policy_meets(tdm_policy_target(p, "db01"),
				     TDM_REQ_ENGINEER,
				     tdm_policy_engineer(p, "alice"), NULL));
	tdm_policy_free(p);
}

/* ---- loading files ----------------------------------------------------- */

static char *write_temp(const char *text, size_t len)
{
	char tmpl[] = "/tmp/test_policy.XXXXXX";
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_true(write(fd, text, len) == (ssize_t)len);
	close(fd);
	return strdup(tmpl);
}

static void test_load_reads_a_file(void **state)
{
	char *path = write_temp(spec_example, strlen(spec_example));
	struct tdm_policy *p = NULL;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_int_equal(tdm_policy_load(path, &p, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(p->path, path);
	assert_int_equal(p->ntargets, 2);
	tdm_policy_free(p);
	unlink(path);
	free(path);
}

static void test_load_names_the_file_in_errors(void **state)
{
	char *path = write_temp("\nbogus\n", 7);
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };
	char want[128];

	(void)state;
	assert_int_equal(tdm_policy_load(path, &p, &d), TDM_ERR_INVAL);
	assert_ptr_equal(p, &untouched);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want), "%s:2: unknown directive \"bogus\"", path);
	assert_true(strncmp(d.msgs[0], want, strlen(want)) == 0);
	tdm_diag_free(&d);
	unlink(path);
	free(path);
}

static void test_load_refuses_a_policy_others_may_change(void **state)
{
	/* Whoever can change it can turn the escorts off. */
	char *path = write_temp(spec_example, strlen(spec_example));
	struct tdm_policy *p = NULL;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(tdm_policy_load(path, &p, &d), TDM_ERR_DENIED);
	assert_null(p);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msgs[0], "others may change it (mode 0666"));
	assert_non_null(strstr(d.msgs[0], "chmod 644"));
	tdm_diag_free(&d);
	/* Writable by another group than root's: refused too. */
	if (geteuid() == 0) {
		assert_int_equal(chmod(path, 0664), 0);
		assert_int_equal(chown(path, 0, 65534), 0);
		assert_int_equal(tdm_policy_load(path, &p, &d), TDM_ERR_DENIED);
		tdm_diag_free(&d);
		/* Owned by another account: refused. */
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(chown(path, 65534, 0), 0);
		assert_int_equal(tdm_policy_load(path, &p, &d), TDM_ERR_DENIED);
		assert_non_null(strstr(d.msgs[0], "owned by uid 65534"));
		tdm_diag_free(&d);
		assert_int_equal(chown(path, 0, 0), 0);
	}
	/* As an admin leaves it: read. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(tdm_policy_load(path, &p, &d), 0);
	tdm_policy_free(p);
	unlink(path);
	free(path);
}

static void test_load_of_missing_file_says_cannot_read(void **state)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_int_equal(tdm_policy_load("/nonexistent/policy.conf", &p, &d),
			 TDM_ERR_IO);
	assert_ptr_equal(p, &untouched);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0],
			    "/nonexistent/policy.conf: cannot "
			    "read: No such file or directory — check the "
			    "path, or pass --config FILE");
	tdm_diag_free(&d);
}

static void test_load_of_directory_says_cannot_read(void **state)
{
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_int_equal(tdm_policy_load("/tmp", &p, &d), TDM_ERR_IO);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0],
			    "/tmp: cannot read: Is a directory — "
			    "point --config at the policy file, not a "
			    "directory");
	tdm_diag_free(&d);
}

static void test_load_refuses_a_file_over_the_size_limit(void **state)
{
	size_t n = (size_t)TDM_POLICY_MAX_BYTES + 1;
	char *text = malloc(n);
	char *path, want[160];
	struct tdm_policy *p = &untouched;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_non_null(text);
	memset(text, '\n', n);
	path = write_temp(text, n);
	assert_int_equal(tdm_policy_load(path, &p, &d), TDM_ERR_RANGE);
	assert_ptr_equal(p, &untouched);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want),
		 "%s: cannot read: larger than 4194304 "
		 "bytes — check that this is the policy file",
		 path);
	assert_string_equal(d.msgs[0], want);
	tdm_diag_free(&d);
	unlink(path);
	free(path);
	free(text);
}

static void test_load_accepts_a_file_of_exactly_the_size_limit(void **state)
{
	size_t n = (size_t)TDM_POLICY_MAX_BYTES;
	char *text = malloc(n);
	char *path;
	struct tdm_policy *p = NULL;
	struct tdm_diag d = { 0 };

	(void)state;
	assert_non_null(text);
	memset(text, '\n', n);
	path = write_temp(text, n);
	assert_int_equal(tdm_policy_load(path, &p, &d), 0);
	tdm_policy_free(p);
	unlink(path);
	free(path);
	free(text);
}

/* ---- authorized_keys --------------------------------------------------- */

static const char two_people[] = DB01 "engineer alice\n"
				      "    key " ALICE_KEY "\n"
				      "    key " DAVE_KEY "\n"
				      "engineer nokey\n"
				      "escort bob\n"
				      "    key " BOB_KEY "\n";

static void test_authorized_keys_for_engineers(void **state)
{
	struct tdm_policy *p = parse_ok(two_people);
	struct tdm_buf out;

	(void)state;
	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_policy_authorized_keys(p, TDM_REQ_ENGINEER,
						    "/usr/local/bin",
						    "/srv/t/policy.conf", &out),
			 0);
	assert_string_equal(
		(char *)out.data,
		"restrict,pty,command=\"/usr/local/bin/tandem-recorder "
		"--config /srv/t/policy.conf --engineer alice\" " ALICE_KEY "\n"
		"restrict,pty,command=\"/usr/local/bin/tandem-recorder "
		"--config /srv/t/policy.conf --engineer alice\" " DAVE_KEY
		"\n");
	tdm_buf_free(&out);
	tdm_policy_free(p);
}

static void test_authorized_keys_for_escorts_without_config(void **state)
{
	struct tdm_policy *p = parse_ok(two_people);
	struct tdm_buf out;

	(void)state;
	tdm_buf_init(&out, 0);
	assert_int_equal(tdm_policy_authorized_keys(p, TDM_REQ_ESCORT,
						    "/usr/bin", NULL, &out),
			 0);
	assert_string_equal(
		(char *)out.data,
		"restrict,pty,command=\"/usr/bin/tandem-escort --escort bob\" " BOB_KEY
		"\n");
	tdm_buf_free(&out);
	tdm_policy_free(p);
}

static void test_authorized_keys_refuses_paths_that_need_quoting(void **state)
{
	static const char *const bad[] = { "/opt/my dir", "/opt/\"x",
					   "rel",	  "/opt/$(id)",
					   "/opt/a\nb",	  "/opt/a;b",
					   "/opt/`x`" };
	struct tdm_policy *p = parse_ok(two_people);
	struct tdm_buf out;
	size_t i;

	(void)state;
	tdm_buf_init(&out, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tdm_policy_authorized_keys(p, TDM_REQ_ENGINEER,
							    bad[i], NULL, &out),
				 TDM_ERR_INVAL);
		assert_int_equal(tdm_policy_authorized_keys(p, TDM_REQ_ENGINEER,
							    "/usr/bin", bad[i],
							    &out),
				 TDM_ERR_INVAL);
	}
	assert_int_equal(out.len, 0);
	tdm_buf_free(&out);
	tdm_policy_free(p);
}

static void test_authorized_keys_refuses_a_name_that_needs_quoting(void **state)
{
	struct tdm_policy *p = parse_ok(two_people);
	struct tdm_buf out;
	char *saved;

	/* The parser never lets such a name through; the renderer checks. */
	(void)state;
	tdm_buf_init(&out, 0);
	saved = p->engineers[0].name;
	p->engineers[0].name = (char *)"a\" b";
	assert_int_equal(tdm_policy_authorized_keys(p, TDM_REQ_ENGINEER,
						    "/usr/bin", NULL, &out),
			 TDM_ERR_INVAL);
	assert_int_equal(out.len, 0);
	p->engineers[0].name = saved;
	tdm_buf_free(&out);
	tdm_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example_loads_with_every_field),
		cmocka_unit_test(test_defaults_apply_when_globals_are_absent),
		cmocka_unit_test(
			test_target_defaults_to_port_22_and_raw_limit_10m),
		cmocka_unit_test(test_empty_policy_is_valid_and_empty),
		cmocka_unit_test(test_globals_override_defaults),
		cmocka_unit_test(
			test_same_name_as_engineer_and_escort_is_allowed),
		cmocka_unit_test(
			test_person_may_have_several_keys_and_attr_lines),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_rejects_bad_forms_and_overflow),
		cmocka_unit_test(test_bad_duration_is_error_at_its_line),
		cmocka_unit_test(test_zero_duration_is_error),
		cmocka_unit_test(test_duration_over_a_year_is_error),
		cmocka_unit_test(
			test_sessions_path_too_long_for_a_socket_is_error),
		cmocka_unit_test(test_bad_port_is_error),
		cmocka_unit_test(test_port_bounds_1_and_65535_are_accepted),
		cmocka_unit_test(
			test_missing_required_target_fields_reported_at_target_line),
		cmocka_unit_test(test_identity_must_be_an_absolute_path),
		cmocka_unit_test(test_bad_address_and_user_are_errors),
		cmocka_unit_test(test_duplicate_single_valued_field_is_error),
		cmocka_unit_test(test_duplicate_global_is_error),
		cmocka_unit_test(
			test_same_field_in_two_targets_is_not_a_duplicate),
		cmocka_unit_test(test_require_needs_escort_or_engineer),
		cmocka_unit_test(test_unknown_directive_suggests_the_nearest),
		cmocka_unit_test(
			test_unknown_directive_without_near_match_lists_kinds),
		cmocka_unit_test(test_global_after_section_is_error),
		cmocka_unit_test(test_global_after_rule_is_error),
		cmocka_unit_test(test_duplicate_section_names_are_errors),
		cmocka_unit_test(test_bad_names_are_errors),
		cmocka_unit_test(test_section_without_name_skips_its_fields),
		cmocka_unit_test(test_field_outside_any_section_is_error),
		cmocka_unit_test(
			test_field_in_the_wrong_kind_of_section_is_error),
		cmocka_unit_test(test_rule_ends_the_section),
		cmocka_unit_test(test_wrong_number_of_values_is_error),
		cmocka_unit_test(test_global_paths_must_be_absolute),
		cmocka_unit_test(test_unknown_target_in_engineer_is_error),
		cmocka_unit_test(test_unknown_target_in_escort_is_error),
		cmocka_unit_test(test_targets_may_name_a_target_defined_later),
		cmocka_unit_test(
			test_entries_written_as_in_other_tools_say_how_to_write_them),
		cmocka_unit_test(test_pattern_matching_no_target_is_error),
		cmocka_unit_test(test_key_used_twice_across_people_is_error),
		cmocka_unit_test(test_key_listed_twice_for_one_person_is_error),
		cmocka_unit_test(test_key_of_unknown_type_is_error),
		cmocka_unit_test(test_key_that_is_not_base64_is_error),
		cmocka_unit_test(test_key_data_of_another_type_is_error),
		cmocka_unit_test(
			test_key_cut_short_or_with_more_after_it_is_error),
		cmocka_unit_test(test_keys_of_each_type_are_read_whole),
		cmocka_unit_test(test_host_key_is_validated_like_a_key),
		cmocka_unit_test(
			test_key_comment_with_control_characters_is_error),
		cmocka_unit_test(test_bad_attributes_are_errors),
		cmocka_unit_test(test_bad_regex_is_error_at_its_line),
		cmocka_unit_test(test_regex_too_costly_to_compile_is_refused),
		cmocka_unit_test(test_regex_repeating_an_anchor_is_refused),
		cmocka_unit_test(test_regex_with_many_anchors_is_refused),
		cmocka_unit_test(test_regex_referring_back_is_refused),
		cmocka_unit_test(test_regex_of_64_nested_groups_is_accepted),
		cmocka_unit_test(test_ordinary_bounded_regex_is_accepted),
		cmocka_unit_test(test_flag_with_unknown_level_is_error),
		cmocka_unit_test(test_rule_levels_and_kinds_are_kept),
		cmocka_unit_test(test_quoted_strings_and_escapes),
		cmocka_unit_test(test_newline_escape_is_kept_in_rule_text),
		cmocka_unit_test(
			test_control_characters_in_an_explanation_are_errors),
		cmocka_unit_test(test_unterminated_quote_is_error),
		cmocka_unit_test(
			test_unknown_escape_is_kept_for_regular_expressions),
		cmocka_unit_test(test_backslash_outside_quotes_is_literal),
		cmocka_unit_test(test_comments_are_ignored),
		cmocka_unit_test(test_crlf_line_endings_and_tabs_are_accepted),
		cmocka_unit_test(test_last_line_without_newline_is_read),
		cmocka_unit_test(test_line_over_64k_is_error),
		cmocka_unit_test(test_line_of_exactly_64k_is_read),
		cmocka_unit_test(test_nul_byte_is_error),
		cmocka_unit_test(test_messages_escape_control_characters),
		cmocka_unit_test(
			test_several_errors_are_reported_together_in_line_order),
		cmocka_unit_test(
			test_too_many_errors_stop_with_a_final_message),
		cmocka_unit_test(test_parse_refuses_text_over_the_size_limit),
		cmocka_unit_test(
			test_messages_are_appended_to_an_existing_diag),
		cmocka_unit_test(test_grants_literal_names_and_globs),
		cmocka_unit_test(
			test_meets_checks_required_attributes_per_role),
		cmocka_unit_test(test_meets_is_true_when_nothing_is_required),
		cmocka_unit_test(test_load_reads_a_file),
		cmocka_unit_test(test_load_names_the_file_in_errors),
		cmocka_unit_test(test_load_refuses_a_policy_others_may_change),
		cmocka_unit_test(test_load_of_missing_file_says_cannot_read),
		cmocka_unit_test(test_load_of_directory_says_cannot_read),
		cmocka_unit_test(test_load_refuses_a_file_over_the_size_limit),
		cmocka_unit_test(
			test_load_accepts_a_file_of_exactly_the_size_limit),
		cmocka_unit_test(test_authorized_keys_for_engineers),
		cmocka_unit_test(
			test_authorized_keys_for_escorts_without_config),
		cmocka_unit_test(
			test_authorized_keys_refuses_paths_that_need_quoting),
		cmocka_unit_test(
			test_authorized_keys_refuses_a_name_that_needs_quoting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
