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
 * The site is three parts: the first byte (the opcode, or int3), and the
 * rel32 in two halves, bytes 1-2 and 3-4 (tail1, tail2), each old or new;
 * every writer writes them in that order, one step each.  In hvpatch a patch
 * keeps the opcode (call to call, jmp to jmp), so the new first byte is the
 * old one; OPCODE_CHANGES models a patch that changes it too (the general
 * case text_poke_bp handles).  An execution is torn when the halves disagree
 * or the first byte is not the one that goes with them.
 */
#define OLD	0
#define NEW	1
#define CC	2
#ifdef OPCODE_CHANGES
#define NEW0	NEW
#else
#define NEW0	OLD
#endif

/* The writers' steps, in the order vmm/patch.c and the guest write bytes. */
#define WRITE_TAIL()	tail1 = NEW; tail2 = NEW
#define WRITE_HEAD()	head = NEW0
#define ALL_NEW		(head == NEW0 && tail1 == NEW && tail2 == NEW)

/* What one execution of the site turned out to be. */
mtype = { OLD_INSN, NEW_INSN, TORN, BREAKPOINT };

byte head = OLD;	/* memory */
byte tail1 = OLD;
byte tail2 = OLD;
byte vhead[N];		/* each CPU's instruction-fetch view: what it last */
byte vtail1[N];		/* fetched, or what memory held when it last */
byte vtail2[N];		/* serialized */
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
#define SERIALIZE(id) vhead[id] = head; vtail1[id] = tail1; vtail2[id] = tail2; \
	sret[id] = returned
#else
#define SERIALIZE(id) vhead[id] = head; vtail1[id] = tail1; vtail2[id] = tail2
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

