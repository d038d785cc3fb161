/*
 * runtime.c: linked only into the sanitizer build (build/asan/bin).
 *
 * The programs confine themselves with a seccomp allowlist that kills on
 * anything unlisted.  LeakSanitizer's check at exit needs calls no sandbox
 * should allow (it clones a tracer thread, ptraces the others and opens
 * /proc/self/maps), so the sanitizer build moves that check to the moment
 * before the sandbox is entered: __lsan_do_leak_check() checks every
 * allocation made so far and switches the check at exit off.  The
 * allowlist stays exactly the one that ships.  Reports go to a file opened
 * here, before the sandbox, so an error found inside it is still written
 * (with write(2) on an open descriptor) instead of dying on open(2).
 *
 * The hook is a link-time wrapper (-Wl,--wrap=tdm_sandbox_enter): the
 * programs' sources carry nothing of it.  This file must never be linked
 * into a build that is installed.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>

#include "sandbox.h"

#ifndef TDM_SANITIZER_REPORTS
#error "build with -DTDM_SANITIZER_REPORTS=\"DIR\""
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
int __real_tdm_sandbox_enter(const struct tdm_sb_table *table);
int __wrap_tdm_sandbox_enter(const struct tdm_sb_table *table);

/* Outside a sandbox the runtime opens DIR/report.PID itself. */
const char *__asan_default_options(void)
{
	return "detect_leaks=1:abort_on_error=0:symbolize=0:"
	       "log_path=" TDM_SANITIZER_REPORTS "/report";
}

const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:"
	       "log_path=" TDM_SANITIZER_REPORTS "/report";
}

int __wrap_tdm_sandbox_enter(const struct tdm_sb_table *table)
{
	char path[4096], module[4096];
	int fd;

	/* Inside the sandbox open(2) is refused: report to a file opened
	 * now.  O_APPEND: a report from a forked child does not overwrite. */
	snprintf(path, sizeof(path), "%s/report.sandboxed.%ld",
		 TDM_SANITIZER_REPORTS, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd >= 0) {
		fchmod(fd, 0666);
		__sanitizer_set_report_fd((void *)(intptr_t)fd);
	}
	/* A report lists the program's modules, read through /proc the
	 * first time: read them now, while the files can be opened. */
	__sanitizer_symbolize_pc(__builtin_return_address(0), "%m",
				 module, sizeof(module));
	__lsan_do_leak_check();
	return __real_tdm_sandbox_enter(table);
}
