/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the four models share: one 5-byte static call site, its memory, each
 * CPU's possibly stale view of it, the sync round, and the CPU process.
 *
 * A model file defines, before including this one:
 *   METHOD_STOP        (optional) the CPUs obey pause requests
 *   STRONG_COMPLETION  (optional) "after the patch returned, every execution
 *                      is the new instruction", else only once the CPU has
 *                      serialized after the return
 * then defines inline bp_handler(id), the guest #BP handler's protocol part,
 * includes cpu.pml (the N CPU processes, pids 0..N-1) and defines
 * proctype Patcher, the method's steps.
 *
 * Compile-time property selection (spin -a -D...):
 *   CHECK_SAFETY      no torn instruction, no stray #BP, read-backs hold
 *   CHECK_COMPLETION  the completion property
 *   (liveness: -DNP at pan compile time, progress labels in the patcher)
 */

#ifndef N
#define N 2			/* CPUs */
#endif
#define ALL ((1 << N) - 1)
#define BIT(i) (1 << (i))

/*
 * The site is two parts: the first byte and the four-byte tail.  The first
 * byte is the old opcode/displacement byte, the new one, or int3; the tail is
 * old or new.  (The tail is written as one part: every method writes it only
 * while the first byte is int3 or every CPU is parked, or, for naive, tears
 * anyway.)
 */
#define OLD	0
#define NEW	1
#define CC	2

/* What one execution of the site turned out to be. */
mtype = { OLD_INSN, NEW_INSN, TORN, BREAKPOINT };

byte head = OLD;	/* memory */
byte tail = OLD;
byte vhead[N];		/* each CPU's instruction-fetch view: what it last saw */
byte vtail[N];		/* or fetched; only a serializing event refreshes it */
byte pending;		/* sync round: CPUs that have not acknowledged yet */
bool returned;		/* the patch call has returned */
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
#define SERIALIZE(id) vhead[id] = head; vtail[id] = tail; sret[id] = returned
#else
#define SERIALIZE(id) vhead[id] = head; vtail[id] = tail
#endif

/*
 * One sync round, as vmm/kvm.c runs it: signal every CPU (each signal's
 * arrival is its own step, so it can be late), then wait until every CPU has
 * acknowledged.  A CPU acknowledges only at an instruction boundary in user
 * mode (see the CPU process), so a round never completes while a #BP handler
 * that began before it is still running.
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
 * The instruction fetch of the site, non-atomic: each part is what memory
 * holds at that step or, unless the CPU has serialized since, what it saw
 * before (its view; a fetch from memory refreshes the view), and the parts
 * come in either order.  That is all the SDM promises for cross-modifying
 * code.  FETCH_COHERENT (diagnosis only) is a stronger machine: memory only,
 * first byte first.
 */
#ifdef FETCH_COHERENT
#define FETCH_SITE(id) \
	h = head; \
	t = tail
#else
#define FETCH_HEAD(id) \
	if \
	:: atomic { h = head; vhead[id] = h } \
	:: h = vhead[id] \
	fi
#define FETCH_TAIL(id) \
	if \
	:: atomic { t = tail; vtail[id] = t } \
	:: t = vtail[id] \
	fi
#define FETCH_SITE(id) \
	if \
	:: FETCH_HEAD(id); FETCH_TAIL(id) \
	:: FETCH_TAIL(id); FETCH_HEAD(id) \
	fi
#endif

#ifdef METHOD_STOP
#define SKIP_PAUSE_GUARD && !(pause_req & BIT(id))
#else
#define SKIP_PAUSE_GUARD
#endif

/*
 * Mutants (run.sh checks that each is caught, so that the checks are known
 * to be able to fail):
 *   MUTANT_ACK_IN_HANDLER  a sync round's NMI acknowledges inside the #BP
 *                          handler too (the VMM ignoring the CPL)
 */
#ifdef MUTANT_ACK_IN_HANDLER
#define KERNEL_ACK_POINT(id) \
	if \
	:: (pending & BIT(id)) -> atomic { SERIALIZE(id); pending = pending & ~BIT(id) } \
	:: true \
	fi
#else
#define KERNEL_ACK_POINT(id) skip
#endif

/* "not ours": the #BP handler found no protocol to hand the trap to */
#ifdef CHECK_SAFETY
#define STRAY_BP()	assert(stray_bp == false)
#else
#define STRAY_BP()	skip
#endif

