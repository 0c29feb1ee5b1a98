/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the four models share: one 5-byte static call site, its memory, each
 * CPU's possibly stale view of it, the sync round, and the CPU process.
 *
 * A model file defines, before including this one:
 *   METHOD_STOP        (optional) the CPUs obey pause requests
 *   STRONG_COMPLETION  (optional) "after the patch returned, every execution
 *                      is the new instruction and no #BP handler is still to
 *                      run", else only the first part, once the CPU has
 *                      serialized after the return
 * then defines inline bp_handler(id), the guest #BP handler,
 * includes cpu.pml (the N CPU processes, pids 0..N-1) and defines
 * proctype Patcher, the method's steps.
 *
 * Compile-time property selection (spin -a -D...):
 *   CHECK_SAFETY      no torn instruction, no stray #BP, read-backs hold
 *   CHECK_COMPLETION  the completion property
 *   (liveness: -DNP at pan compile time, progress labels in the patcher)
 * Variants: TWO_PATCHES (bp-emulate, bp-cancel: patch the site twice in a
 * row), OLD_BP_HANDLER (the handler's read order before issue 9), N, and the
 * switches below.
 */

#ifndef N
#define N 2			/* CPUs */
#endif
#define ALL ((1 << N) - 1)
#define BIT(i) (1 << (i))

/*
 * The site is three parts: the first byte (the opcode, or int3), and the
 * rel32 in two halves, bytes 1-2 and 3-4 (tail1, tail2), each holding the
 * version of the instruction it belongs to: OLD, NEW, or with TWO_PATCHES
 * NEW2 (a second patch of the same site, NEW to NEW2, right after the first).
 * Every writer writes the parts in the order the code writes them, one step
 * each.  In hvpatch a patch keeps the opcode (call to call, jmp to jmp), so
 * the first byte of every version is the old one; OPCODE_CHANGES models
 * patches that change it too (the general case text_poke_bp handles).  An
 * execution is torn when the halves disagree or the first byte is not the
 * one that goes with them.
 */
#define OLD	0
#define NEW	1
#define NEW2	2
#define CC	3
#ifdef OPCODE_CHANGES
#define HEAD_OF(v)	(v)
#else
#define HEAD_OF(v)	OLD
#endif
#ifdef TWO_PATCHES
#define FINAL	NEW2
#else
#define FINAL	NEW
#endif

/*
 * The writers' steps, in the order vmm/patch.c and the guest write bytes:
 * the version the running patch installs (tgt: the agent page's new_insn)
 * and, for a cancel, the one it replaces (its old_insn).
 */
#define WRITE_TAIL()	tail1 = tgt; tail2 = tgt
#define WRITE_HEAD()	head = HEAD_OF(tgt)
#define ALL_NEW		(head == HEAD_OF(tgt) && tail1 == tgt && tail2 == tgt)
#define OLD_HEAD	HEAD_OF(tgt - 1)

/* What one execution of the site turned out to be: a version, or these. */
#define BREAKPOINT	CC
#define TORN		4

byte head = OLD;	/* memory */
byte tail1 = OLD;
byte tail2 = OLD;
byte vhead[N];		/* each CPU's instruction-fetch view: what it last */
byte vtail1[N];		/* fetched, or what memory held when it last */
byte vtail2[N];		/* serialized */
byte tgt = NEW;		/* the version the running patch installs */
byte pending;		/* sync round: CPUs that have not acknowledged yet */
bool returned;		/* the (last) patch call has returned */
#ifdef TWO_PATCHES
byte patches_returned;	/* patch calls returned so far (0-2) */
#endif
#ifdef CHECK_COMPLETION
bool sret[N];		/* this CPU serialized after the patch returned */
#endif
#ifdef METHOD_STOP
bool vm_paused;		/* the VMM's paused flag */
byte pause_req;		/* kicked CPUs, to park at their next boundary */
byte parked;
#endif

/*
 * A serializing event (iretq of the #BP or NMI handler, the sync round's
 * NMI): the CPU's view of the code becomes what memory holds.
 */
#ifdef CHECK_COMPLETION
#define SERIALIZE(id) vhead[id] = head; vtail1[id] = tail1; vtail2[id] = tail2; \
	sret[id] = returned
#else
#define SERIALIZE(id) vhead[id] = head; vtail1[id] = tail1; vtail2[id] = tail2
#endif

/*
 * One sync round, as vmm/kvm.c and vmm/extvm.c run it: signal every CPU
 * (each signal's arrival is its own step, so it can be late), then wait until
 * every CPU has acknowledged.  A CPU acknowledges only at an instruction
 * boundary in user mode outside the window between an int3 and its #BP
 * handler (see the CPU process), so a round never completes while a #BP
 * handler that began, or was raised, before it has not returned.  The three
 * kinds of round get there by different rules (tests/model/README.md, "The
 * in-flight window"): the own VMM's kick refuses a vCPU stopped with RIP-1 at
 * a site's first byte, QEMU's stop + cont waits for user-mode progress after
 * the cont, and an NMI is never taken in the window (KVM injects the queued
 * #BP first).  The model treats an acknowledgement as serializing, which only
 * the NMI kind is on paper (README.md, "What this proves").
 */
inline sync_round()
{
	i = 0;
	do
	:: i < N -> atomic { pending = pending | BIT(i); i++ }
	:: else -> break
	od;
	i = 0;
	(pending == 0)
}

/*
 * The instruction fetch of the site, part by part, each at its own step:
 * what memory holds then or, unless the CPU has serialized since, what it
 * saw before (its view; a fetch from memory refreshes the view).  That is all
 * the SDM promises for cross-modifying code.  The fixed order loses nothing:
 * a tail half changes once (old to new), so an earlier fetch of it could only
 * have returned its view or the value memory holds now.
 * FETCH_COHERENT (diagnosis only) is a stronger machine: memory only.
 */
#ifdef FETCH_COHERENT
#define FETCH_PART(f, v, m) f = m
#else
#define FETCH_PART(f, v, m) \
	if \
	:: atomic { f = m; v = f } \
	:: f = v \
	fi
#endif
#define FETCH_SITE(id) \
	FETCH_PART(h, vhead[id], head); \
	FETCH_PART(t1, vtail1[id], tail1); \
	FETCH_PART(t2, vtail2[id], tail2)

#ifdef METHOD_STOP
#define SKIP_PAUSE_GUARD && !(pause_req & BIT(id))
#else
#define SKIP_PAUSE_GUARD
#endif

/*
 * Mutants (run.sh checks that each is caught, so that the checks are known
 * to be able to fail):
 *   MUTANT_ACK_IN_HANDLER      a sync round's NMI acknowledges inside the #BP
 *                              handler too (the VMM ignoring the CPL)
 *   MUTANT_KICK_ACK_IN_FLIGHT  a kick that stops the CPU between an int3 and
 *                              its handler acknowledges (the rule before
 *                              issue 9: stopped at CPL 3, so not in a handler)
 *   MUTANT_NMI_IN_FLIGHT       a KVM that would deliver the NMI in that window,
 *                              where the guest acknowledges it (CPL 3)
 *   MUTANT_LEAVE_ACK_FIRST     the #BP handler acknowledges a kick round as it
 *                              enters instead of as it leaves (bp_leave
 *                              called before the reads it must follow)
 */
#ifdef MUTANT_ACK_IN_HANDLER
#define KERNEL_ACK_POINT(id) \
	if \
	:: (pending & BIT(id)) -> atomic { SERIALIZE(id); pending = pending & ~BIT(id) } \
	:: true \
	fi
#elif defined(MUTANT_LEAVE_ACK_FIRST)
#define KERNEL_ACK_POINT(id) HANDLER_EXIT_ACK(id)
#else
#define KERNEL_ACK_POINT(id) skip
#endif

/*
 * The #BP handler acknowledges a pending round after its last read of the
 * patch (guest-agent/kernel.c, bp_leave), or does not (the round was
 * published after it looked): both are explored.  NO_HANDLER_EXIT_ACK: the
 * rule before it, acknowledgements at user boundaries only.
 */
#ifdef NO_HANDLER_EXIT_ACK
#define HANDLER_EXIT_ACK(id) skip
#else
#define HANDLER_EXIT_ACK(id) \
	if \
	:: (pending & BIT(id)) -> pending = pending & ~BIT(id) \
	:: true \
	fi
#endif

/*
 * "not ours": the #BP handler found no protocol to hand the trap to, and the
 * int3 is still there.  A #BP handler still running, or not yet entered, when
 * the patch call returned is late: it belongs to a patch that claims to be
 * done (CHECK_COMPLETION, STRONG_COMPLETION).
 */
#ifdef CHECK_SAFETY
#define STRAY_BP()	assert(stray_bp == false)
#else
#define STRAY_BP()	skip
#endif
#if defined(CHECK_COMPLETION) && defined(STRONG_COMPLETION)
#define LATE_BP_CHECK()	if :: returned -> assert(late_bp == false) :: else fi
#else
#define LATE_BP_CHECK()	skip
#endif
