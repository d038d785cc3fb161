/*
 * sandbox-escort.h: every system call tandem-escort may make once it has
 * read the policy and opened the sessions directory, before it reads a
 * byte from any session.  It can attach to session sockets (AF_UNIX only)
 * and draw; it cannot open a file, run a program or reach the network.
 * Changing this table changes tests/data/sandbox-escort.pfc: update both.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

static const struct tdm_sb_rule escort_rules[] = {
	{ "read", TDM_SB_ANY, 0, 0, "keys, session messages, signalfd" },
	{ "write", TDM_SB_ANY, 0, 0, "the escort's screen" },
	{ "writev", TDM_SB_ANY, 0, 0, "libc stdio" },
	{ "recvfrom", TDM_SB_ANY, 0, 0, "session messages" },
	{ "sendto", TDM_SB_ANY, 0, 0, "decisions to sessions" },
	{ "poll", TDM_SB_ANY, 0, 0, "the console loop" },
	{ "ppoll", TDM_SB_ANY, 0, 0, "the console loop (libc may use ppoll)" },
	{ "close", TDM_SB_ANY, 0, 0, "sessions that end" },
	{ "socket", TDM_SB_EQ, 0, AF_UNIX, "a session socket, local only" },
	{ "connect", TDM_SB_ANY, 0, 0, "attaching to a session socket" },
	{ "newfstatat", TDM_SB_ANY, 0, 0, "checking a socket's owner" },
	{ "fstat", TDM_SB_ANY, 0, 0, "libc on open descriptors" },
	{ "getdents64", TDM_SB_ANY, 0, 0, "listing live sessions" },
	{ "dup", TDM_SB_ANY, 0, 0, "re-reading the sessions directory" },
	{ "lseek", TDM_SB_ANY, 0, 0, "rewinding the sessions directory" },
	{ "fcntl", TDM_SB_EQ, 1, F_GETFD, "libc on the directory descriptor" },
	{ "fcntl", TDM_SB_EQ, 1, F_SETFD, "libc on the directory descriptor" },
	{ "fcntl", TDM_SB_EQ, 1, F_GETFL, "libc on the directory descriptor" },
	{ "ioctl", TDM_SB_EQ, 1, TIOCGWINSZ, "the escort's window size" },
	{ "ioctl", TDM_SB_EQ, 1, TCGETS, "the escort's terminal mode" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETS, "raw mode and its restoring" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETSW, "raw mode and its restoring" },
	{ "ioctl", TDM_SB_EQ, 1, TCSETSF, "raw mode and its restoring" },
	{ "mmap", TDM_SB_MASK_ZERO, 2, PROT_EXEC, "memory, never executable" },
	{ "mprotect", TDM_SB_MASK_ZERO, 2, PROT_EXEC,
	  "malloc arenas, never executable" },
	{ "munmap", TDM_SB_ANY, 0, 0, "freeing memory" },
	{ "mremap", TDM_SB_ANY, 0, 0, "growing buffers" },
	{ "brk", TDM_SB_ANY, 0, 0, "malloc" },
	{ "madvise", TDM_SB_ANY, 0, 0, "malloc returning memory" },
	{ "futex", TDM_SB_ANY, 0, 0, "libc locks" },
	{ "getpid", TDM_SB_ANY, 0, 0, "libc" },
	{ "clock_gettime", TDM_SB_ANY, 0, 0, "timeouts" },
	{ "clock_nanosleep", TDM_SB_ANY, 0, 0, "waiting between polls" },
	{ "rt_sigprocmask", TDM_SB_ANY, 0, 0, "the console blocks signals" },
	{ "signalfd4", TDM_SB_ANY, 0, 0, "window changes as an fd" },
	{ "rt_sigreturn", TDM_SB_ANY, 0, 0, "returning from a signal" },
	{ "restart_syscall", TDM_SB_ANY, 0, 0, "an interrupted call resumes" },
	{ "exit", TDM_SB_ANY, 0, 0, "the end" },
	{ "exit_group", TDM_SB_ANY, 0, 0, "the end" },
};

const struct tdm_sb_table tdm_sandbox_escort = {
	.program = "tandem-escort",
	.rules = escort_rules,
	.nrules = sizeof(escort_rules) / sizeof(escort_rules[0]),
};
