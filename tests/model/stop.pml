/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Method stop (hypervisor stop-machine), vmm/patch.c method_stop() with
 * --sync nmi and vmm/kvm.c kvm_pause_all()/kvm_resume_all(): pause every
 * vCPU (each parks at its next instruction boundary, in whatever mode),
 * write, resume with an NMI queued before the vCPU runs any guest
 * instruction; the NMI handler's iretq serializes.
 * MUTANT_NO_NMI_ON_RESUME resumes without it (--sync kick: VM entry only,
 * not serializing on paper).
 */
#define METHOD_STOP
#define STRONG_COMPLETION

#include "common.pml"

/* No int3 is ever written: any #BP is not ours. */
inline bp_handler(id)
{
	STRAY_BP()
}

#include "cpu.pml"

active proctype Patcher()
{
	byte i;

	/* 1. pause: the flag, then a kick to every vCPU, then wait all parked */
	vm_paused = true;
	i = 0;
	do
	:: i < N -> atomic { pause_req = pause_req | BIT(i); i++ }
	:: else -> break
	od;
	i = 0;
	(parked == ALL);
	/* 2-3. (old bytes checked) write the site byte by byte; read back */
	WRITE_HEAD();
	WRITE_TAIL();
#ifdef CHECK_SAFETY
	assert(ALL_NEW);
#endif
	/* 4. resume, an NMI queued for every vCPU */
	vm_paused = false;
	returned = true;
progress_done:
	false
}
