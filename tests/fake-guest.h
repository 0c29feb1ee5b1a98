/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The fake guest the patch engine's unit tests share (tests/unit-patch.c,
 * tests/unit-recover.c): a RAM with one key of NR_SITES call sites and two
 * targets inside a text range, and what checks it.  The including test sets
 * ram and before (RAM_SIZE bytes each) before it uses any of it.
 */
#ifndef HVP_TESTS_FAKE_GUEST_H
#define HVP_TESTS_FAKE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent.h"
#include "backend.h"

#define RAM_SIZE   (4u << 20)
#define AGENT_GPA  0x200000u
#define SITE0	   0x101000u
#define NR_SITES   4
#define TARGET_A   0x108000u
#define TARGET_B   0x109000u
#define TEXT_START 0x100000u /* the sites and targets lie inside it */
#define TEXT_END   0x110000u

static uint8_t *ram, *before;
static uint64_t sites[NR_SITES];
static struct hvp_key_info key = {
	.name = "alpha",
	.kind = HVP_KEY_INLINE,
	.opcode = HVP_OPC_CALL,
	.nr_targets = 2,
	.targets = { TARGET_A, TARGET_B },
	.target_names = { "alpha_a", "alpha_b" },
	.calls_per_pass = NR_SITES,
	.nr_sites = NR_SITES,
	.sites = sites,
};

/*
 * The fake backend: a sync round or a pause is instantaneous, but first runs
 * the scripted guest when a test set one.
 */
/* The scripted guest: called at the start of round `round` (1-based). */
static unsigned rounds;
static void (*guest)(unsigned round);

static int fake_sync(struct hvp_backend *b, enum hvp_sync_kind kind, uint64_t gen, int ms)
{
	(void)b;
	(void)kind;
	(void)gen;
	(void)ms;
	rounds++;
	if (guest)
		guest(rounds);
	return 0;
}

static int fake_pause(struct hvp_backend *b, int ms)
{
	(void)b;
	(void)ms;
	if (guest)
		guest(0); /* the guest's last word before it is stopped */
	return 0;
}

static int fake_resume(struct hvp_backend *b, bool nmi)
{
	(void)b;
	(void)nmi;
	return 0;
}

static const struct hvp_backend_ops ops = {
	.name = "fake",
	.sync_round = fake_sync,
	.pause_all = fake_pause,
	.resume_all = fake_resume,
};
static struct hvp_backend be = {
	.ops = &ops, .ram_size = RAM_SIZE, .nr_vcpus = 2, .tsc_khz = 1000000
};

static void put_call(uint64_t site, uint64_t dest)
{
	hvp_agent_encode(ram + site, site, HVP_OPC_CALL, dest);
}

/* Bytes that changed outside the sites and the patch control block. */
static unsigned changed_elsewhere(void)
{
	uint64_t ctl = AGENT_GPA + offsetof(struct hvp_agent, patch);
	unsigned n = 0, i, s;

	for (i = 0; i < RAM_SIZE; i++) {
		bool in_site = false;

		for (s = 0; s < NR_SITES; s++)
			in_site |= i >= sites[s] && i < sites[s] + HVP_INSN_LEN;
		if (in_site || (i >= ctl && i < ctl + sizeof(struct hvp_patch_ctl)))
			continue;
		n += ram[i] != before[i];
	}
	return n;
}

/* A fresh guest: noise everywhere, the sites calling alpha_a, no script. */
static void fake_guest_reset(void)
{
	unsigned i;

	memset(ram, 0xcc, RAM_SIZE);
	for (i = 0; i < RAM_SIZE; i += 7)
		ram[i] = (uint8_t)(i * 13); /* anything, so a stray write shows */
	memset(ram + AGENT_GPA, 0, sizeof(struct hvp_agent));
	for (i = 0; i < NR_SITES; i++) {
		sites[i] = SITE0 + 16 * i;
		put_call(sites[i], TARGET_A);
	}
	memcpy(before, ram, RAM_SIZE);
	rounds = 0;
	guest = NULL;
}

#endif
