/* SPDX-License-Identifier: GPL-2.0-only */
/* The CPU process, shared by the models: see common.pml. */

/*
 * A CPU.  At each instruction boundary in user mode it either acknowledges
 * a pending sync round (forced: an NMI is taken at the first boundary after
 * it arrives, a kick stops the CPU where it is, and after QEMU's stop + cont
 * the next user-mode instruction is the progress the VMM waits for),
 * executes the site (a plain call, or the NMI upcall calling it: in this
 * agent both run in user mode), takes an unrelated interrupt (serializes,
 * nothing else), or goes on with other code (a skip).
 *
 * An execution that fetches the int3 raises #BP, and the CPU is then in the
 * in-flight window: the int3 has executed (RIP = site+1, still CPL 3), the
 * handler is not entered yet.  On this host the exception waits in KVM and is
 * delivered at the next entry, before any other guest instruction; here the
 * CPU stays in the window for as many steps of the others as the search
 * likes, and its next own step is the handler.  Nothing acknowledges in the
 * window: a kick that stops the CPU there is refused (RIP-1 is a site's first
 * byte) and sent again, an NMI is not taken there (KVM injects the queued #BP
 * first; the NMI lands at the handler's first instruction), and QEMU's
 * stop + cont waits for user-mode progress, which comes after the handler.
 * An NMI that lands inside the #BP handler acknowledges nothing (do_nmi) and
 * calls no site: the pending bit just stays until the handler acknowledges
 * as it leaves (a kick round: bp_leave; modelled for every kind, a superset)
 * or its iretq brings the CPU back to a user boundary, where the re-sent
 * round lands.
 */
active [N] proctype CPU()
{
	byte id = _pid;	/* declared first: pids 0..N-1 */
	byte h, t1, t2;
	byte insn;
	bool stray_bp = true;	/* only for the assertions' text */
	bool late_bp = true;
#ifdef CPU_LOCALS
	CPU_LOCALS
#endif

boundary:
	do
	:: (pending & BIT(id)) ->
		/* the round lands: acknowledged; serializing (the NMI's iretq) */
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
		:: h != CC && t1 == t2 && h == HEAD_OF(t1) -> insn = t1
		:: else -> insn = TORN
		fi;
#ifdef CHECK_SAFETY
		assert(insn != TORN);
#endif
#ifdef CHECK_COMPLETION
#ifdef STRONG_COMPLETION
		assert(!returned || insn == FINAL);
#else
		assert(!(returned && sret[id]) || insn == FINAL);
#endif
#ifdef TWO_PATCHES
		/* once the first call has returned, never the old instruction */
		assert(insn == BREAKPOINT || insn >= patches_returned);
#endif
#endif
		h = 0;
		t1 = 0;
		t2 = 0;
		if
		:: insn == BREAKPOINT ->
			insn = 0;
in_flight:		/* #BP raised, handler not entered: user mode, RIP = site+1 */
#if defined(MUTANT_KICK_ACK_IN_FLIGHT) || defined(MUTANT_NMI_IN_FLIGHT)
			do
#ifdef MUTANT_KICK_ACK_IN_FLIGHT
			:: (pending & BIT(id)) ->
				/* a kick stops the CPU here: CPL 3, so acknowledged */
				atomic { SERIALIZE(id); pending = pending & ~BIT(id) }
#else
			:: (pending & BIT(id)) ->
				/* the NMI taken here, at CPL 3: acknowledged */
				atomic { SERIALIZE(id); pending = pending & ~BIT(id) }
#endif
			:: break
			od;
#endif
			/* the #BP is delivered: kernel mode from here */
			KERNEL_ACK_POINT(id);
			bp_handler(id);
			/*
			 * The handler's last read of the patch is done: it
			 * acknowledges a round in progress as it leaves (the
			 * own VMM's kick rounds: bp_leave), which serializes
			 * nothing by itself.  A handler that reaches this point
			 * after the patch returned read a finished patch: late.
			 */
			atomic { LATE_BP_CHECK(); HANDLER_EXIT_ACK(id) };
			/* iretq: serializing; back at a user boundary */
			atomic { SERIALIZE(id) }
		:: else -> insn = 0
		fi
	:: !(pending & BIT(id)) SKIP_PAUSE_GUARD ->
		/* an unrelated interrupt: its iretq serializes */
		atomic { SERIALIZE(id) }
	:: !(pending & BIT(id)) SKIP_PAUSE_GUARD ->
		skip	/* other code */
	od
}
