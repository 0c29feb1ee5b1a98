/* SPDX-License-Identifier: GPL-2.0-only */
/* The CPU process, shared by the models: see common.pml. */

/*
 * A CPU.  At each instruction boundary in user mode it either takes the sync
 * round's NMI (forced if one is pending: an NMI is taken at the first
 * boundary after it arrives), executes the site (a plain call, or the NMI
 * upcall calling it: in this agent both run in user mode), takes an
 * unrelated interrupt (serializes, nothing else), or goes on with other code
 * (a skip).  An NMI that lands inside the #BP handler acknowledges nothing
 * (do_nmi) and calls no site: the pending bit just stays until the handler's
 * iretq brings the CPU back to a user boundary.
 */
active [N] proctype CPU()
{
	byte id = _pid;	/* declared first: pids 0..N-1 */
	byte h, t1, t2;
	mtype insn;
	bool stray_bp = true;	/* only for the assertion's text */
#ifdef CPU_LOCALS
	CPU_LOCALS
#endif

boundary:
	do
	:: (pending & BIT(id)) ->
		/* the round's NMI: do_nmi acks, iretq serializes */
		atomic { SERIALIZE(id); pending = pending & ~BIT(id) }
#ifdef METHOD_STOP
	:: (pause_req & BIT(id)) && !(pending & BIT(id)) ->
		/* kicked out of guest mode while the VMM is paused: park */
		atomic { pause_req = pause_req & ~BIT(id); parked = parked | BIT(id) };
		/* resume queues an NMI before the vCPU runs again (--sync nmi) */
#ifdef MUTANT_NO_NMI_ON_RESUME
		atomic { !vm_paused -> parked = parked & ~BIT(id) }
#else
		atomic { !vm_paused -> parked = parked & ~BIT(id); SERIALIZE(id) }
#endif
#endif
	:: !(pending & BIT(id)) SKIP_PAUSE_GUARD ->
		/* execute the site */
		FETCH_SITE(id);
		if
		:: h == CC -> insn = BREAKPOINT
		:: h == OLD && t1 == OLD && t2 == OLD -> insn = OLD_INSN
		:: h == NEW0 && t1 == NEW && t2 == NEW -> insn = NEW_INSN
		:: else -> insn = TORN
		fi;
#ifdef CHECK_SAFETY
		assert(insn != TORN);
#endif
#ifdef CHECK_COMPLETION
#ifdef STRONG_COMPLETION
		assert(!returned || insn == NEW_INSN);
#else
		assert(!(returned && sret[id]) || insn == NEW_INSN);
#endif
#endif
		h = 0;
		t1 = 0;
		t2 = 0;
		if
		:: insn == BREAKPOINT ->
			/* kernel mode from here: no acknowledgement possible */
			insn = OLD_INSN;
			KERNEL_ACK_POINT(id);
			bp_handler(id);
			/* iretq: serializing; back at a user boundary */
			atomic { SERIALIZE(id) }
		:: else -> insn = OLD_INSN
		fi
	:: !(pending & BIT(id)) SKIP_PAUSE_GUARD ->
		/* an unrelated interrupt: its iretq serializes */
		atomic { SERIALIZE(id) }
	:: !(pending & BIT(id)) SKIP_PAUSE_GUARD ->
		skip	/* other code */
	od
}
