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
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>

#include "sandbox.h"

#if !defined(TDM_SANITIZER_REPORTS) || !defined(TDM_SANITIZER_SUPP)
#error "build with -DTDM_SANITIZER_REPORTS=\"DIR\" -DTDM_SANITIZER_SUPP=\"FILE\""
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
	       "suppressions=" TDM_SANITIZER_SUPP ":"
	       "log_path=" TDM_SANITIZER_REPORTS "/report";
}

/*
 * UBSan starts itself at its first finding, reading /proc then: inside the
 * sandbox that start would kill the program before it says why.  A
 * misaligned load here, which ubsan.supp suppresses (this file is built
 * with -fsanitize-recover=alignment), makes it start now.  A report that
 * shows the memory a bad pointer points at still ends early: UBSan probes
 * that memory through a pipe(2), which the sandbox kills; its first line,
 * file, line and kind of fault, is written by then.
 */
static void start_ubsan(void)
{
	static _Alignas(8) unsigned char bytes[16];
	volatile uintptr_t at = (uintptr_t)bytes + 1;
	volatile uint32_t word = *(const uint32_t *)at;

	(void)word;
}

/*
 * ASan and UBSan each keep their own report file and their own list of the
 * program's modules (read through /proc the first time a report names
 * one): set the first and fill the second now, while files can be opened.
 */
static void prepare_reports(int fd)
{
	void (*set_fd)(void *) = NULL;
	void (*symbolize)(void *, const char *, char *, size_t) = NULL;
	char module[4096];
	void *ubsan;

	/* dlopen and dlclose make ASan forget its module list: look UBSan
	 * up first, and keep the handle. */
	ubsan = dlopen("libubsan.so.1", RTLD_LAZY | RTLD_NOLOAD);
	if (ubsan != NULL) {
		*(void **)&set_fd = dlsym(ubsan, "__sanitizer_set_report_fd");
		*(void **)&symbolize = dlsym(ubsan, "__sanitizer_symbolize_pc");
	}
	if (fd >= 0) {
		__sanitizer_set_report_fd((void *)(intptr_t)fd);
		if (set_fd != NULL)
			set_fd((void *)(intptr_t)fd);
	}
	__sanitizer_symbolize_pc(__builtin_return_address(0), "%m", module,
				 sizeof(module));
	if (symbolize != NULL)
		symbolize(__builtin_return_address(0), "%m", module,
			  sizeof(module));
}

int __wrap_tdm_sandbox_enter(const struct tdm_sb_table *table)
{
	char path[4096];
	int fd;

	/* First, as its start sets where reports go. */
	start_ubsan();
	/* Inside the sandbox open(2) is refused: report to a file opened
	 * now.  O_APPEND: a report from a forked child does not overwrite. */
	snprintf(path, sizeof(path), "%s/report.sandboxed.%ld",
		 TDM_SANITIZER_REPORTS, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd >= 0)
		fchmod(fd, 0666);
	prepare_reports(fd);
	__lsan_do_leak_check();
	return __real_tdm_sandbox_enter(table);
}
