/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Method bp-cancel (H. Peter Anvin's cancellable breakpoint, states 0-4):
 * vmm/patch.c cancel_one() and the guest's bp_cancel(), for one site.
 *
 * As the proposal and the implementation have it, two writers put in the
 * new instruction with no sync round between its tail and its first byte:
 * the patcher (step 4) and a #BP handler that finds state 2.  A CPU that has
 * not serialized since the tail was written may then fetch the new first
 * byte with the old tail: the safety check finds that torn instruction.
 *
 * BP_CANCEL_FIXED: the patcher runs a sync round between the tail and the
 * first byte (as Linux's text_poke_bp does), and a #BP in state 2 just
 * re-executes (the site traps until the patcher writes the first byte).
 *
 * TWO_PATCHES runs the method twice on the site (OLD to NEW, then NEW to
 * NEW2).  OLD_BP_HANDLER is the guest handler before issue 9 (the method, the
 * state, then the byte).  MUTANT_NO_CC_CHECK drops the patcher's "still
 * int3?" check after the round.
 */
#define STRONG_COMPLETION

#define PM_NONE		0
#define PM_CANCEL	2

#define S_NORMAL	0
#define S_CANCELLABLE	1
#define S_FINAL		2
#define S_INSTALLED	3
#define S_CANCELLED	4
#define S_NONE		5	/* the handler's: no match */

byte method = PM_NONE;	/* agent page: patch.method */
byte state = S_NORMAL;	/* agent page: patch.state */

#include "common.pml"

/*
 * bp_cancel(): s = cmpxchg(state, 1, 4), then act on s; S_NONE: no match.
 * Each shared access is its own step.  s is the handler's local.
 */
inline bp_cancel(id)
{
	if
	:: method == PM_CANCEL ->
		atomic {
			s = state;
			if
			:: state == S_CANCELLABLE -> state = S_CANCELLED
			:: else
			fi
		};
		if
		:: s == S_CANCELLABLE || s == S_CANCELLED ->
			/* cancel: cmpxchg(site[0], cc, old[0]) */
			atomic {
				if
				:: head == CC -> head = OLD_HEAD
				:: else
				fi
			}
		:: s == S_FINAL ->
#ifdef BP_CANCEL_FIXED
			skip	/* re-execute: the patcher finishes */
#else
			/* complete: new[1..4], then new[0] */
			WRITE_TAIL();
			WRITE_HEAD()
#endif
		:: s == S_INSTALLED -> skip	/* re-execute */
		:: s == S_NORMAL -> s = S_NONE	/* state 0 */
		fi
	:: else -> s = S_NONE		/* method NONE */
	fi
}

/* no match: the byte; no longer int3 means re-execute, else "not ours" */
inline bp_no_match(id)
{
	if
	:: s == S_NONE ->
		if
		:: head != CC -> skip	/* replaced since: re-execute */
		:: else -> STRAY_BP()	/* "not ours" */
		fi
	:: else
	fi;
	s = 0
}

#ifdef OLD_BP_HANDLER
/* do_bp() before issue 9: the method and state first, then the byte */
inline bp_handler(id)
{
	bp_cancel(id);
	bp_no_match(id)
}
#else
/*
 * do_bp() as built: the site's first byte first (acquire); not int3 means
 * re-execute.  Else the method and state; if they do not match, the byte
 * again.
 */
inline bp_handler(id)
{
	if
	:: head != CC -> skip		/* replaced since: re-execute */
	:: else ->
		bp_cancel(id);
		bp_no_match(id)
	fi
}
#endif

#define CPU_LOCALS byte s;
#include "cpu.pml"

active proctype Patcher()
{
	byte i;

again:
	method = PM_CANCEL;
retry:
	/* step 2: state = 1; int3; sync round */
	state = S_CANCELLABLE;
	head = CC;
	sync_round();
	/* step 3: still int3 and cmpxchg(state, 1 -> 2), else retry */
#ifndef MUTANT_NO_CC_CHECK
	if
	:: head == CC ->
#endif
		if
		:: atomic { state == S_CANCELLABLE -> state = S_FINAL }
		:: atomic { state != S_CANCELLABLE -> goto retry }
		fi
#ifndef MUTANT_NO_CC_CHECK
	:: head != CC -> goto retry
	fi;
#else
	;
#endif
	/* step 4: the tail, then the first byte; read back */
	WRITE_TAIL();
#ifdef BP_CANCEL_FIXED
	sync_round();
#endif
	WRITE_HEAD();
#ifdef CHECK_SAFETY
	assert(ALL_NEW);
#endif
	/* step 5: state = 3; sync round; state = 0 */
	state = S_INSTALLED;
	sync_round();
	state = S_NORMAL;
	method = PM_NONE;
#ifdef TWO_PATCHES
	/* the call returns; the next patch of the same site starts */
	if
	:: tgt == NEW -> atomic { patches_returned = 1; tgt = NEW2 }; goto again
	:: else -> patches_returned = 2
	fi;
#endif
	returned = true;
progress_done:
	false
}
