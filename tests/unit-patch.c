// SPDX-License-Identifier: GPL-2.0-only
/*
 * The patch engine against a guest that changes its sites mid-patch, without
 * KVM: a fake backend whose sync rounds run a script (the "guest") between
 * the engine's steps, over a fake guest RAM.  What must hold whatever the
 * guest does: a changed site is refused by name or left to the guest, every
 * other site ends on one registered target with no int3 of ours left behind,
 * and not one byte outside the key's validated sites changes (the agent
 * area's patch control block excepted: the engine writes it on purpose).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fake-guest.h"
#include "patch.h"
#include "tap.h"

static void setup(void)
{
	fake_guest_reset();
}

/* Which registered target does a site call?  -1: none (garbage or int3). */
static int target_of(unsigned s)
{
	uint64_t dest;

	if (hvp_agent_decode(ram + sites[s], sites[s], HVP_OPC_CALL, &dest) < 0)
		return -1;
	return hvp_key_target_index(&key, dest);
}

static int run(enum hvp_method m, struct hvp_patch_result *res)
{
	struct hvp_patch_ctx ctx = { .be = &be, .agent = (struct hvp_agent *)(ram + AGENT_GPA) };
	struct hvp_patch_req rq = {
		.key = &key, .target = 1, .method = m, .sync = HVP_SYNC_KICK, .timeout_ms = 5000
	};

	return hvp_patch_apply(&ctx, &rq, res);
}

/* --- scripted guests --- */

/* Before the patch reaches site 2, the guest turns it into ud2. */
static void garbage_site2_in_round1(unsigned r)
{
	if (r == 1)
		memcpy(ram + sites[2], "\x0f\x0b\x0f\x0b\x90", HVP_INSN_LEN);
}

/* After bp-emulate's tails went in (round 2), the guest rewrites site 1's tail. */
static void tail_site1_in_round2(unsigned r)
{
	if (r == 2)
		memcpy(ram + sites[1] + 1, "\x11\x22\x33\x44", 4);
}

/* The first attempt on site 0 is cancelled by a #BP in state 1 (the guest
 * handler's half: state 4, old first byte back). */
static void cancel_once(unsigned r)
{
	struct hvp_patch_ctl *ctl = &((struct hvp_agent *)(ram + AGENT_GPA))->patch;

	if (r == 1) {
		ctl->state = HVP_BPS_CANCELLED;
		ram[sites[0]] = ctl->old_insn[0];
	}
}

/* While site 0 holds our int3, the guest changes the tail under it. */
static void tail_under_int3(unsigned r)
{
	if (r == 1)
		ram[sites[0] + 2] ^= 0xff;
}

/* The guest rewrites site 3 just before the vCPUs are paused. */
static void site3_before_pause(unsigned r)
{
	if (r == 0)
		put_call(sites[3], TARGET_B);
}

static void check_others(const char *what, unsigned skip, int want)
{
	unsigned s, ok = 0;

	for (s = 0; s < NR_SITES; s++)
		ok += s == skip || target_of(s) == want;
	tap_ok(ok == NR_SITES, "%s: every other site calls %s, no int3 left", what,
	       want ? "alpha_b" : "alpha_a");
	tap_ok(changed_elsewhere() == 0, "%s: no byte outside the sites changed", what);
}

int main(void)
{
	struct hvp_patch_result res;
	char want[64];
	int r;

	/* page-aligned like a real VM's RAM: struct hvp_agent is 4 KiB aligned */
	ram = aligned_alloc(4096, RAM_SIZE);
	before = malloc(RAM_SIZE);
	if (!ram || !before)
		return 99;
	be.ram = ram;

	/* a well-behaved guest: each method completes and touches only the sites */
	for (r = HVP_METHOD_STOP; r <= HVP_METHOD_BP_EMULATE; r++) {
		struct hvp_patch_result res1;
		int rr;

		setup();
		rr = run((enum hvp_method)r, &res1);
		tap_ok(rr == 0 && res1.completed, "%s: completes (%s)", hvp_methods[r].name,
		       res1.reason);
		check_others(hvp_methods[r].name, NR_SITES, 1);
	}

	/* bp-cancel: site 2 becomes garbage before its turn */
	setup();
	guest = garbage_site2_in_round1;
	r = run(HVP_METHOD_BP_CANCEL, &res);
	snprintf(want, sizeof(want), "site 0x%x changed under the patch", (unsigned)sites[2]);
	tap_ok(r == -EILSEQ && !res.completed && strstr(res.reason, want),
	       "bp-cancel, a site changed before its turn: refused naming it (%s)", res.reason);
	tap_ok(memcmp(ram + sites[2], "\x0f\x0b\x0f\x0b\x90", 5) == 0,
	       "bp-cancel: the changed site is left as the guest wrote it");
	tap_ok(res.reverted == 2, "bp-cancel: the 2 sites already patched were put back (%u)",
	       res.reverted);
	check_others("bp-cancel, changed site", 2, 0);

	/* bp-cancel: one cancelled attempt, then it completes */
	setup();
	guest = cancel_once;
	r = run(HVP_METHOD_BP_CANCEL, &res);
	tap_ok(r == 0 && res.completed && res.retries == 1,
	       "bp-cancel, one attempt cancelled by a #BP: retried and completed (retries %u)",
	       res.retries);
	check_others("bp-cancel, cancelled once", NR_SITES, 1);

	/* bp-cancel: the tail changes under our int3 */
	setup();
	guest = tail_under_int3;
	r = run(HVP_METHOD_BP_CANCEL, &res);
	snprintf(want, sizeof(want), "site 0x%x changed under the patch", (unsigned)sites[0]);
	tap_ok(r == -EILSEQ && strstr(res.reason, want),
	       "bp-cancel, a tail changed under the int3: refused naming the site (%s)",
	       res.reason);
	tap_ok(ram[sites[0]] == HVP_OPC_CALL, "bp-cancel: our int3 was taken off again");
	check_others("bp-cancel, changed tail", 0, 0);

	/* bp-emulate: a tail rewritten after the tails went in */
	setup();
	guest = tail_site1_in_round2;
	r = run(HVP_METHOD_BP_EMULATE, &res);
	snprintf(want, sizeof(want), "read-back mismatch at site 0x%x", (unsigned)sites[1]);
	tap_ok(r == -EIO && !res.completed && strstr(res.reason, want),
	       "bp-emulate, a tail rewritten mid-patch: reported naming the site (%s)", res.reason);
	tap_ok(((struct hvp_agent *)(ram + AGENT_GPA))->patch.method == HVP_PM_NONE,
	       "bp-emulate: the batch was finished (no emulation left armed)");
	check_others("bp-emulate, rewritten tail", 1, 1);

	/* stop: the guest's last write before the pause makes the key mixed */
	setup();
	guest = site3_before_pause;
	r = run(HVP_METHOD_STOP, &res);
	snprintf(want, sizeof(want), "site 0x%x calls alpha_b", (unsigned)sites[3]);
	tap_ok(r == -EILSEQ && !res.written && strstr(res.reason, want),
	       "stop, a site changed before the pause: refused, nothing written (%s)", res.reason);
	check_others("stop, mixed key", 3, 0);

	/* the validated copy itself: a site outside RAM is refused before any write */
	setup();
	sites[NR_SITES - 1] = RAM_SIZE - 2;
	r = run(HVP_METHOD_BP_EMULATE, &res);
	tap_ok(r == -EFAULT && !res.written, "a key whose site lies outside RAM: refused (%s)",
	       res.reason);
	sites[NR_SITES - 1] = SITE0 + 16 * (NR_SITES - 1);
	tap_ok(changed_elsewhere() == 0, "... and nothing was written");

	free(ram);
	free(before);
	return tap_done();
}
