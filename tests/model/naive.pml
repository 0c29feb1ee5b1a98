/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Method naive (test only, --unsafe), vmm/patch.c method_naive(): write the
 * new bytes in place, first byte first, no protocol, no sync.  The control:
 * the safety check must find a torn instruction here, or the model (or the
 * check) is too weak to mean anything for the other methods.
 */
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

	WRITE_HEAD();
	WRITE_TAIL();
	returned = true;
progress_done:
	false
}
