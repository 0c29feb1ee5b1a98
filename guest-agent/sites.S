/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Static call keys, their targets and their sites.
 *
 * As with Linux's static calls, every site is a 5-byte `call rel32` recorded
 * by the linker in .static_call_sites ({site address, key id} pairs), and a
 * key is patched by rewriting all of its sites.  The trampoline key is the
 * other flavour: callers `call` a trampoline whose `jmp rel32` is the one
 * patched site.
 *
 * A target only counts that it ran, in this vCPU's slot of the agent area
 * (through %gs), so a call that lands anywhere but a registered target is
 * either a fault or a missing count: both are caught.
 */
#include "guest.h"

.macro TARGET key, idx, name
	.globl \name
	.type \name, @function
	.balign 16, 0xcc
\name:
	incq %gs:(HVP_VCPU_CALLS_OFF + ((\key * HVP_MAX_TARGETS) + \idx) * 8)
	ret
	.size \name, . - \name
.endm

.macro SITE key, target
999:	call \target
	.pushsection .static_call_sites, "a"
	.quad 999b, \key
	.popsection
.endm

/* A key's run function: its sites back to back, then return. */
.macro KEY_RUN key, name, nsites, target
	.globl \name
	.type \name, @function
	.balign 16, 0xcc
\name:
	.rept \nsites
	SITE \key, \target
	.endr
	ret
	.size \name, . - \name
.endm

	/*
	 * Targets _a and _b sit together, 16 bytes apart, padded with int3.
	 * Targets _c live in .text.far, at least 64 KiB away (see guest.lds),
	 * so that switching a key between _a and _c changes three bytes of
	 * every displacement: a torn write then sends the call into int3
	 * padding or the middle of an instruction, and the agent reports it.
	 */
	.text
	TARGET KEY_SINGLE, 0, single_a
	TARGET KEY_SINGLE, 1, single_b
	TARGET KEY_SMALL, 0, small_a
	TARGET KEY_SMALL, 1, small_b
	TARGET KEY_MEDIUM, 0, medium_a
	TARGET KEY_MEDIUM, 1, medium_b
	TARGET KEY_BATCH, 0, batch_a
	TARGET KEY_BATCH, 1, batch_b
	TARGET KEY_TRAMP, 0, tramp_a
	TARGET KEY_TRAMP, 1, tramp_b

	.section .text.far, "ax"
	TARGET KEY_SINGLE, 2, single_c
	TARGET KEY_SMALL, 2, small_c
	TARGET KEY_MEDIUM, 2, medium_c
	TARGET KEY_BATCH, 2, batch_c
	TARGET KEY_TRAMP, 2, tramp_c

	.text

	KEY_RUN KEY_SINGLE, run_single, 1, single_a
	KEY_RUN KEY_SMALL, run_small, 16, small_a
	KEY_RUN KEY_MEDIUM, run_medium, 256, medium_a
	KEY_RUN KEY_BATCH, run_batch, 1024, batch_a

	/* The trampoline: its jmp is the key's one site. */
	.globl tramp_trampoline
	.type tramp_trampoline, @function
	.balign 16
tramp_trampoline:
998:	.byte HVP_OPC_JMP			/* always the rel32 form */
	.long tramp_a - (. + 4)
	.pushsection .static_call_sites, "a"
	.quad 998b, KEY_TRAMP
	.popsection
	.size tramp_trampoline, . - tramp_trampoline

	.globl run_tramp
	.type run_tramp, @function
	.balign 16
run_tramp:
	.rept 4
	call tramp_trampoline
	.endr
	ret
	.size run_tramp, . - run_tramp

	.section .rodata
	.balign 8
	.globl hvp_key_run
hvp_key_run:
	.quad run_single, run_small, run_medium, run_batch, run_tramp
