/* probe.c: see probe.h.  Empty unless built with -DTDM_TEST_HOOKS. */
#include "probe.h"

#ifdef TDM_TEST_HOOKS
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

static char armed[16];

void probe_arm(void)
{
	const char *what = getenv("TANDEM_TEST_PROBE");

	if (what != NULL && strlen(what) < sizeof(armed))
		memcpy(armed, what, strlen(what) + 1);
}

void probe_fire(void)
{
	static char *const argv[] = { "/bin/true", NULL };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(22),
				  .sin_addr.s_addr = htonl(0x7f000001) };

	if (strcmp(armed, "open") == 0) {
		/* A plain read-only open is answered "no such file"... */
		if (open("/etc/hostname", O_RDONLY) >= 0)
			abort();
		/* ...any other open ends the recorder. */
		close(open("/etc/hostname", O_RDONLY | O_CLOEXEC));
		close(open("/tmp/tandem-probe", O_WRONLY | O_CREAT, 0600));
	} else if (strcmp(armed, "execve") == 0)
		execve(argv[0], argv, NULL);
	else if (strcmp(armed, "socket") == 0)
		close(socket(AF_INET, SOCK_STREAM, 0));
	else if (strcmp(armed, "connect") == 0)
		connect(STDIN_FILENO, (struct sockaddr *)&sa, sizeof(sa));
	else if (strcmp(armed, "stall") == 0)
		/* The decision is on disk, nothing is sent yet: the fault
		 * suite kills the recorder here. */
		poll(NULL, 0, 20000);
}

/*
 * "fdatasyncN": the recording's fdatasync succeeds N more times after the
 * sandbox is entered, then fails with EIO, as a dying disk does.  This
 * definition takes the place of libc's in the test build only.
 */
int fdatasync(int fd)
{
	static long left = -1;

	if (strncmp(armed, "fdatasync", 9) == 0) {
		if (left < 0)
			left = strtol(armed + 9, NULL, 10);
		if (left-- <= 0) {
			left = 0;
			errno = EIO;
			return -1;
		}
	}
	return (int)syscall(SYS_fdatasync, fd);
}
#else
/* ISO C wants a translation unit to hold something. */
typedef int probe_empty;
#endif
