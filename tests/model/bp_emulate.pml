/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Method bp-emulate (Linux text_poke_bp batch), vmm/patch.c emulate_batch()
 * and the guest's bp_emulate(): int3, round, tail, round, first byte, round;
 * a CPU that traps emulates the new call and never waits for the patcher.
 * TWO_PATCHES runs the method twice on the site (OLD to NEW, then NEW to
 * NEW2), so that a late #BP handler of the first patch can meet the second
 * one's int3.  OLD_BP_HANDLER is the guest handler before issue 9 (method,
 * then the vector, then the byte).  MUTANT_NO_TAIL_ROUND drops the round
 * after the tail, MUTANT_NO_LAST_ROUND the one after the first byte.
 */
#define STRONG_COMPLETION

#define PM_NONE		0
#define PM_EMULATE	1

byte method = PM_NONE;	/* agent page: patch.method */
byte nr_emu = 0;	/* agent page: patch.nr_emu (the sorted vector's length) */

#include "common.pml"

#ifdef OLD_BP_HANDLER
/*
 * do_bp() before issue 9: the method, then emu_lookup(); if neither
 * matches, the byte: no longer int3 means re-execute, else "not ours".
 */
inline bp_handler(id)
{
	if
	:: method == PM_EMULATE ->
		if
		:: nr_emu > 0 -> goto emulated	/* found: push, jump to the new target */
		:: else				/* lookup missed */
		fi
	:: else				/* method NONE */
	fi;
	if
	:: head != CC -> skip		/* replaced since: re-execute */
	:: else -> STRAY_BP()		/* "not ours" */
	fi;
emulated:
	skip
}
#else
/*
 * do_bp() as built: the site's first byte first (acquire); not int3 means
 * re-execute.  Else the method and emu_lookup(); if neither matches, the byte
 * again: still int3 is "not ours", else re-execute.
 */
inline bp_handler(id)
{
	if
	:: head != CC -> skip		/* replaced since: re-execute */
	:: else ->
		if
		:: method == PM_EMULATE ->
			if
			:: nr_emu > 0 -> goto emulated	/* found: push, jump to the new target */
			:: else			/* lookup missed */
			fi
		:: else			/* method NONE */
		fi;
		if
		:: head != CC -> skip	/* replaced since: re-execute */
		:: else -> STRAY_BP()	/* "not ours" */
		fi
	fi;
emulated:
	skip
}
#endif

#include "cpu.pml"

active proctype Patcher()
{
	byte i;

again:
	/* step 0: the vector (release), then the method */
	nr_emu = 1;
	method = PM_EMULATE;
	/* step 1: int3 on the first byte */
	head = CC;
	sync_round();
	/* step 2: the tail */
	WRITE_TAIL();
#ifndef MUTANT_NO_TAIL_ROUND
	sync_round();
#endif
	/* step 3: the new first byte; read back */
	WRITE_HEAD();
#ifdef CHECK_SAFETY
	assert(ALL_NEW);
#endif
#ifndef MUTANT_NO_LAST_ROUND
	sync_round();
#endif
	/* step 4: no handler can still be searching the vector */
	method = PM_NONE;
	nr_emu = 0;
#ifdef TWO_PATCHES
	/* the call returns; the next patch of the same site starts */
	if
	:: tgt == NEW -> atomic { patches_returned = 1; tgt = NEW2 }; goto again
	:: else -> patches_returned = 2
	fi;
#endif
	returned = true;
	/*
	 * Done for good.  Blocked at a progress label: every later state is
	 * progress, so a non-progress cycle is one that never gets here.
	 */
progress_done:
	false
}
