/*
 * sandbox-recorder.h: every system call tandem-recorder may make once the
 * session is set up (policy read, recording open, escort socket bound,
 * target connected and authenticated).  One line each, with its reason.
 * Changing this table changes tests/data/sandbox-recorder.pfc: update both.
 */
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sys/mman.h>

static const struct tdm_sb_rule recorder_rules[] = {
	{ "read", TDM_SB_ANY, 0, 0, "engineer keystrokes, signalfd" },
	{ "write", TDM_SB_ANY, 0, 0, "engineer screen, recording frames" },
	{ "readv", TDM_SB_ANY, 0, 0, "libc stdio on the engineer's terminal" },
	{ "writev", TDM_SB_ANY, 0, 0, "libc stdio on the engineer's terminal" },
	{ "recvfrom", TDM_SB_ANY, 0, 0, "target socket, escort sockets" },
	{ "sendto", TDM_SB_ANY, 0, 0, "target socket, escorts, syslog" },
	{ "poll", TDM_SB_ANY, 0, 0, "the relay loop" },
	{ "ppoll", TDM_SB_ANY, 0, 0, "the relay loop (libc may use ppoll)" },
	{ "close", TDM_SB_ANY, 0, 0, "escort connections that end" },
	{ "accept4", TDM_SB_ANY, 0, 0, "escorts attaching to the session" },
	{ "getsockopt", TDM_SB_ANY, 0, 0,
	  "SO_PEERCRED of an attaching escort" },
	{ "shutdown", TDM_SB_ANY, 0, 0, "dropping an escort that lags" },
	{ "lseek", TDM_SB_ANY, 0, 0, "where a torn recording frame starts" },
	{ "ftruncate", TDM_SB_ANY, 0, 0, "cutting a torn frame off the file" },
	{ "fdatasync", TDM_SB_ANY, 0, 0, "decisions on disk before release" },
	{ "fsync", TDM_SB_ANY, 0, 0, "the recording's end" },
	{ "ioctl", TDM_SB_EQ, 1, TIOCGWINSZ, "the engineer's window size" },
	{ "ioctl", TDM_SB_EQ, 1, TCGETS, "the engineer's terminal mode" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETS, "restoring the terminal at the end" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETSW, "restoring the terminal at the end" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETSF, "restoring the terminal at the end" },
	{ "fcntl", TDM_SB_EQ, 1, F_GETFL,
	  "flags of libssh's socket and the engineer's streams" },
	{ "fcntl", TDM_SB_EQ, 1, F_SETFL,
	  "non-blocking: libssh's socket, the engineer's streams" },
	{ "mmap", TDM_SB_MASK_ZERO, 2, PROT_EXEC, "memory, never executable" },
	{ "mprotect", TDM_SB_MASK_ZERO, 2, PROT_EXEC,
	  "malloc arenas, never executable" },
	{ "munmap", TDM_SB_ANY, 0, 0, "freeing memory" },
	{ "mremap", TDM_SB_ANY, 0, 0, "growing buffers" },
	{ "brk", TDM_SB_ANY, 0, 0, "malloc" },
	{ "madvise", TDM_SB_ANY, 0, 0, "malloc returning memory" },
	{ "futex", TDM_SB_ANY, 0, 0, "libc and OpenSSL locks" },
	{ "getrandom", TDM_SB_ANY, 0, 0, "OpenSSL: rekeying, padding" },
	{ "getpid", TDM_SB_ANY, 0, 0, "OpenSSL fork checks" },
	{ "gettid", TDM_SB_ANY, 0, 0, "libc" },
	{ "clock_gettime", TDM_SB_ANY, 0, 0, "event times, timeouts" },
	{ "gettimeofday", TDM_SB_ANY, 0, 0, "libssh timeouts" },
	{ "clock_nanosleep", TDM_SB_ANY, 0, 0, "libssh back-off" },
	{ "rt_sigprocmask", TDM_SB_ANY, 0, 0, "the relay blocks its signals" },
	{ "signalfd4", TDM_SB_ANY, 0, 0, "the relay reads signals as an fd" },
	{ "rt_sigreturn", TDM_SB_ANY, 0, 0, "returning from a signal" },
	{ "restart_syscall", TDM_SB_ANY, 0, 0, "an interrupted call resumes" },
	{ "exit", TDM_SB_ANY, 0, 0, "the end" },
	{ "exit_group", TDM_SB_ANY, 0, 0, "the end" },
	/* Not allowed, answered instead of fatal: libssh looks for known_hosts
	 * at every rekey, with a plain read-only fopen.  It is told there is
	 * no such file (the host key is pinned; known_hosts is never used).
	 * Any other open, with any other flags, kills the recorder. */
	{ "openat", TDM_SB_ENOENT_EQ, 2, O_RDONLY,
	  "libssh's known_hosts look-up "
	  "at each rekey: no file is opened" },
};

const struct tdm_sb_table tdm_sandbox_recorder = {
	.program = "tandem-recorder",
	.rules = recorder_rules,
	.nrules = sizeof(recorder_rules) / sizeof(recorder_rules[0]),
};
