/*
 * probe.h: a test-only hook that makes the sandboxed recorder attempt one
 * forbidden system call, to prove the filter kills it.  It exists only in
 * the test build (make builds build/probe/tandem-recorder with
 * -DTDM_TEST_HOOKS); the recorder that is installed has none.
 */
#ifndef TDM_REC_PROBE_H
#define TDM_REC_PROBE_H

#ifdef TDM_TEST_HOOKS
/* Reads TANDEM_TEST_PROBE (open, execve, socket, connect) before the
 * sandbox; probe_fire then tries it once. */
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
