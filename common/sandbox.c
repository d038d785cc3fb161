/*
 * sandbox.c: loads a program's seccomp allowlist; see sandbox.h.
 * Once loaded there is no way back: that is the point.
 */
#include "sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "err.h"
#include "sandbox-recorder.h"
#include "sandbox-escort.h"
#include "sandbox-replay.h"

/* pid is 0 when exporting, so the golden files do not depend on it. */
static scmp_filter_ctx build(const struct tdm_sb_table *t, uint32_t deny,
			     uint64_t pid)
{
	scmp_filter_ctx ctx = seccomp_init(deny);
	size_t i;

	if (ctx == NULL)
		return NULL;
	for (i = 0; i < t->nrules; i++) {
		const struct tdm_sb_rule *r = &t->rules[i];
		int nr = seccomp_syscall_resolve_name(r->syscall);
		int rc;

		if (nr == __NR_SCMP_ERROR)
			goto fail;
		switch (r->check) {
		case TDM_SB_ANY:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			break;
		case TDM_SB_EQ:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_CMP(r->arg, SCMP_CMP_EQ,
						       r->value));
			break;
		case TDM_SB_EQ_PID:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_CMP(r->arg, SCMP_CMP_EQ,
						       pid));
			break;
		case TDM_SB_ENOENT_EQ:
			rc = seccomp_rule_add(
				ctx, SCMP_ACT_ERRNO(ENOENT), nr, 1,
				SCMP_CMP(r->arg, SCMP_CMP_EQ, r->value));
			break;
		case TDM_SB_MASK_ZERO:
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_CMP(r->arg,
						       SCMP_CMP_MASKED_EQ,
						       r->value, 0));
			break;
		default:
			rc = -EINVAL;
		}
		if (rc < 0)
			goto fail;
	}
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}

int tdm_sandbox_enter(const struct tdm_sb_table *t)
{
	uint32_t deny = SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int rc;

#ifdef TDM_DEBUG
	{
		const char *log = getenv("TANDEM_SANDBOX_LOG");

		if (log != NULL && log[0] == '1')
			deny = SCMP_ACT_LOG;
	}
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return TDM_ERR_IO;
	ctx = build(t, deny, (uint64_t)getpid());
	if (ctx == NULL)
		return TDM_ERR_INVAL;
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? TDM_ERR_IO : 0;
}

int tdm_sandbox_export(const struct tdm_sb_table *t, int fd)
{
	scmp_filter_ctx ctx = build(t, SCMP_ACT_KILL_PROCESS, 0);
	int rc;

	if (ctx == NULL)
		return TDM_ERR_INVAL;
	rc = seccomp_export_pfc(ctx, fd);
	seccomp_release(ctx);
	return rc < 0 ? TDM_ERR_IO : 0;
}
