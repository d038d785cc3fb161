/*
 * sandbox-replay.h: what tandem-replay may do while it parses recordings,
 * which may be hostile.  Two tables: readers (verify, cat, play, info,
 * commands, search) may open files for reading only; writers (index,
 * export, seal) may also create and write the file they were asked to.
 * Neither may run a program, open a socket or signal anyone but itself.
 * Changing a table changes tests/data/sandbox-replay*.pfc: update both.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* clang-format off */
#define REPLAY_COMMON_RULES \
	{ "read", TDM_SB_ANY, 0, 0, "recordings, keys, the index" }, \
	{ "pread64", TDM_SB_ANY, 0, 0, "SQLite and zstd reading" }, \
	{ "write", TDM_SB_ANY, 0, 0, "output to the investigator" }, \
	{ "writev", TDM_SB_ANY, 0, 0, "libc stdio" }, \
	{ "lseek", TDM_SB_ANY, 0, 0, "reading files" }, \
	{ "close", TDM_SB_ANY, 0, 0, "files read" }, \
	{ "newfstatat", TDM_SB_ANY, 0, 0, "walking directories" }, \
	{ "fstat", TDM_SB_ANY, 0, 0, "libc on open files" }, \
	{ "getdents64", TDM_SB_ANY, 0, 0, "walking directories" }, \
	{ "fcntl", TDM_SB_ANY, 0, 0, "SQLite's file locks" }, \
	{ "ioctl", TDM_SB_EQ, 1, TIOCGWINSZ, "the terminal's size" }, \
	{ "ioctl", TDM_SB_EQ, 1, TCGETS, "is stdout a terminal" }, \
	{ "ioctl", TDM_SB_EQ, 1, TCSETS, "play's raw mode and restoring it" }, \
	{ "ioctl", TDM_SB_EQ, 1, TCSETSW, "play's raw mode and restoring it" }, \
	{ "ioctl", TDM_SB_EQ, 1, TCSETSF, "play's raw mode and restoring it" }, \
	{ "poll", TDM_SB_ANY, 0, 0, "play waits for keys" }, \
	{ "ppoll", TDM_SB_ANY, 0, 0, "play waits for keys" }, \
	{ "pselect6", TDM_SB_ANY, 0, 0, "play waits for keys" }, \
	{ "clock_gettime", TDM_SB_ANY, 0, 0, "play's timing" }, \
	{ "clock_nanosleep", TDM_SB_ANY, 0, 0, "play's timing" }, \
	{ "nanosleep", TDM_SB_ANY, 0, 0, "play's timing" }, \
	{ "rt_sigaction", TDM_SB_ANY, 0, 0, "play restores the terminal on " \
	  "signals" }, \
	{ "rt_sigprocmask", TDM_SB_ANY, 0, 0, "signal handling" }, \
	{ "rt_sigreturn", TDM_SB_ANY, 0, 0, "returning from a signal" }, \
	{ "tgkill", TDM_SB_EQ_PID, 0, 0, "play suspends itself (Ctrl-Z)" }, \
	{ "kill", TDM_SB_EQ_PID, 0, 0, "play suspends itself (Ctrl-Z)" }, \
	{ "getpid", TDM_SB_ANY, 0, 0, "SQLite, libc" }, \
	{ "gettid", TDM_SB_ANY, 0, 0, "libc" }, \
	{ "geteuid", TDM_SB_ANY, 0, 0, "SQLite" }, \
	{ "getcwd", TDM_SB_ANY, 0, 0, "SQLite's full path of the index" }, \
	{ "readlink", TDM_SB_ANY, 0, 0, "SQLite follows a symbolic link in " \
	  "the index's path" }, \
	{ "readlinkat", TDM_SB_ANY, 0, 0, "SQLite follows a symbolic link " \
	  "in the index's path" }, \
	{ "getrandom", TDM_SB_ANY, 0, 0, "OpenSSL, SQLite" }, \
	{ "sysinfo", TDM_SB_ANY, 0, 0, "qsort sizes its buffer by the " \
	  "memory there is" }, \
	{ "mmap", TDM_SB_MASK_ZERO, 2, PROT_EXEC, "memory, never executable" }, \
	{ "mprotect", TDM_SB_MASK_ZERO, 2, PROT_EXEC, "malloc arenas, never " \
	  "executable" }, \
	{ "munmap", TDM_SB_ANY, 0, 0, "freeing memory" }, \
	{ "mremap", TDM_SB_ANY, 0, 0, "growing buffers" }, \
	{ "brk", TDM_SB_ANY, 0, 0, "malloc" }, \
	{ "madvise", TDM_SB_ANY, 0, 0, "malloc returning memory" }, \
	{ "futex", TDM_SB_ANY, 0, 0, "libc, OpenSSL, SQLite locks" }, \
	{ "restart_syscall", TDM_SB_ANY, 0, 0, "an interrupted call resumes" }, \
	{ "exit", TDM_SB_ANY, 0, 0, "the end" }, \
	{ "exit_group", TDM_SB_ANY, 0, 0, "the end" }
/* clang-format on */

static const struct tdm_sb_rule replay_read_rules[] = {
	REPLAY_COMMON_RULES,
	{ "openat", TDM_SB_MASK_ZERO, 2,
	  O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND,
	  "opening recordings, keys and the index, for reading only" },
};

static const struct tdm_sb_rule replay_write_rules[] = {
	REPLAY_COMMON_RULES,
	{ "openat", TDM_SB_ANY, 0, 0,
	  "the index, the exported file, the "
	  "signature" },
	{ "pwrite64", TDM_SB_ANY, 0, 0, "SQLite writing the index" },
	{ "ftruncate", TDM_SB_ANY, 0, 0, "SQLite's journal" },
	{ "fsync", TDM_SB_ANY, 0, 0, "the index on disk" },
	{ "fdatasync", TDM_SB_ANY, 0, 0, "the index on disk" },
	{ "fchown", TDM_SB_ANY, 0, 0, "SQLite keeps the index's owner" },
	{ "unlink", TDM_SB_ANY, 0, 0, "SQLite's journal when done" },
};

const struct tdm_sb_table tdm_sandbox_replay_read = {
	.program = "tandem-replay (reading)",
	.rules = replay_read_rules,
	.nrules = sizeof(replay_read_rules) / sizeof(replay_read_rules[0]),
};

const struct tdm_sb_table tdm_sandbox_replay_write = {
	.program = "tandem-replay (index, export, seal)",
	.rules = replay_write_rules,
	.nrules = sizeof(replay_write_rules) / sizeof(replay_write_rules[0]),
};
