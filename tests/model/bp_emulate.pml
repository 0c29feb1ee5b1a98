/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Method bp-emulate (Linux text_poke_bp batch), vmm/patch.c emulate_batch()
 * and the guest's bp_emulate(): int3, round, tail, round, first byte, round;
 * a CPU that traps emulates the new call and never waits for the patcher.
 * MUTANT_NO_TAIL_ROUND drops the round after the tail, MUTANT_NO_LAST_ROUND
 * the one after the first byte.
 */
#define STRONG_COMPLETION

#define PM_NONE		0
#define PM_EMULATE	1

byte method = PM_NONE;	/* agent page: patch.method */
byte nr_emu = 0;	/* agent page: patch.nr_emu (the sorted vector's length) */

#include "common.pml"

/* do_bp() -> bp_emulate(): emu_lookup() then behave as the new call */
inline bp_handler(id)
{
	if
	:: method == PM_EMULATE ->
		if
		:: nr_emu > 0 -> skip	/* found: push, jump to the new target */
		:: else -> STRAY_BP()	/* lookup missed: "not ours" */
		fi
	:: else -> STRAY_BP()		/* method NONE: "not ours" */
	fi
}

#include "cpu.pml"

active proctype Patcher()
{
	byte i;

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
	returned = true;
	/*
	 * Done for good.  Blocked at a progress label: every later state is
	 * progress, so a non-progress cycle is one that never gets here.
	 */
progress_done:
	false
}

