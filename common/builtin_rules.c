/*
 * builtin_rules.c: policy/builtin.rules, compiled into libtandem so the
 * recorder never opens it at run time (its sandbox allows no opens).  The
 * Makefile makes this object depend on the rules file.
 */
#include "risk.h"

__asm__(".section .rodata\n"
	".balign 16\n"
	".globl tdm_builtin_rules\n"
	".hidden tdm_builtin_rules\n"
	"tdm_builtin_rules:\n"
	".incbin \"policy/builtin.rules\"\n"
	".globl tdm_builtin_rules_end\n"
	".hidden tdm_builtin_rules_end\n"
	"tdm_builtin_rules_end:\n"
	".byte 0\n"
	".previous\n");
