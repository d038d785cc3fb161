/*
 * probe.h: a test-only hook that makes the sandboxed recorder attempt one
 * forbidden system call, to prove the filter kills it.  It exists only in
 * the test build (make builds build/probe/tandem-recorder with
 * -DTDM_TEST_HOOKS); the recorder that is installed has none.  The fault
 * suite (tests/faults) uses it to stop or break the recorder at exact
 * points.
 */
#ifndef TDM_REC_PROBE_H
#define TDM_REC_PROBE_H

#ifdef TDM_TEST_HOOKS
/* Reads TANDEM_TEST_PROBE (open, execve, socket, connect) before the
 * sandbox; probe_fire then tries it once.  "stall" makes probe_fire, which
 * runs between an approval's write-ahead and its send, wait 20 s;
 * "fdatasyncN" lets N fdatasyncs succeed, then fails each with EIO. */
void probe_arm(void);
void probe_fire(void);
#else
static inline void probe_arm(void)
{
}

static inline void probe_fire(void)
{
}
#endif

#endif
