// SPDX-License-Identifier: GPL-2.0-only
/*
 * A hostile agent, for tests only (config.hostile, `vm start --hostile MODE`).
 *
 * The agent area is the guest's word to the service, and a compromised guest
 * kernel can write anything into it at any time.  These modes do exactly
 * that, so that tests/hostile.sh can check the service's side: every lie is
 * refused with a reason, and the patch engine only ever writes the sites it
 * validated at boot, whatever the guest does to its tables or its text later.
 *
 * hvp_hostile_boot() runs on vCPU 0 at CPL0 after the tables are built and
 * before the agent reports ready; it is a handful of stores (each one is
 * emulated here).  hvp_hostile_tick() runs at CPL3 from the workload loop of
 * the last vCPU, once per pass, for the modes that keep rewriting.
 */
#include "guest.h"

extern char small_b[], small_c[];
extern char __text_end[];

/* Key small's first site, as the linker placed it (never the table's word). */
static uint64_t small_site;
static uint64_t small_first; /* its index in sites[] */

void hvp_hostile_boot(uint32_t mode)
{
	struct hvp_agent *a = &hvp_agent;
	struct hvp_key *small = &a->keys[KEY_SMALL];
	uint32_t f = small->first_site;

	small_first = f;
	small_site = a->sites[f];
	switch (mode) {
	case HVP_HOSTILE_MAGIC:
		a->magic = 0x0badc0de0badc0deull;
		break;
	case HVP_HOSTILE_ABI:
		a->abi_version = 0xffff;
		break;
	case HVP_HOSTILE_SITE_OUTSIDE_RAM:
		a->sites[f] = 0xfff0000000ull;
		break;
	case HVP_HOSTILE_SITE_IN_AGENT:
		a->sites[f] = (uint64_t)&a->keys[0];
		break;
	case HVP_HOSTILE_SITE_OVERLAP:
		a->sites[f + 1] = a->sites[f] + 2;
		break;
	case HVP_HOSTILE_NR_KEYS:
		a->nr_keys = 0x10000;
		break;
	case HVP_HOSTILE_NR_SITES:
		a->nr_sites = 0x7fffffff;
		break;
	case HVP_HOSTILE_NR_TARGETS:
		small->nr_targets = 1000;
		break;
	case HVP_HOSTILE_FIRST_SITE:
		small->first_site = 0xfffffff0u;
		break;
	case HVP_HOSTILE_TARGET_OUTSIDE:
		small->targets[1] = 0x10;
		break;
	case HVP_HOSTILE_SITE_NOT_CALL:
		a->sites[f] = (uint64_t)small_b;
		break;
	default:
		break;
	}
}

static void put_insn(uint64_t addr, uint8_t op, uint32_t rel)
{
	volatile uint8_t *p = (volatile uint8_t *)addr;

	p[1] = (uint8_t)rel;
	p[2] = (uint8_t)(rel >> 8);
	p[3] = (uint8_t)(rel >> 16);
	p[4] = (uint8_t)(rel >> 24);
	p[0] = op;
}

void hvp_hostile_tick(uint32_t mode, uint64_t n)
{
	volatile struct hvp_agent *a = &hvp_agent;
	volatile struct hvp_key *small = &a->keys[KEY_SMALL];
	uint64_t rel;

	switch (mode) {
	case HVP_HOSTILE_REWRITE_TABLE:
		/* Send every patch the service might start somewhere else. */
		switch (n & 3) {
		case 0:
			a->sites[small_first] = 0xfff0000000ull; /* outside RAM */
			a->nr_sites = 0x7fffffff;
			small->nr_sites = 0xffffff;
			break;
		case 1:
			a->sites[small_first] = (uint64_t)&a->keys[0]; /* agent area */
			small->targets[0] = 0x10;
			a->magic = 0;
			break;
		case 2:
			a->sites[small_first] = (uint64_t)small_b + 1; /* inside a target */
			small->first_site = 0xfffffff0u;
			a->nr_keys = 0x10000;
			break;
		default:
			a->sites[small_first] = small_site + 1; /* straddling */
			small->targets[1] = (uint64_t)small_c + 3;
			break;
		}
		break;
	case HVP_HOSTILE_REWRITE_SITE:
		/*
		 * Change the site's bytes under the patcher's feet.  Mostly
		 * it gets a call to wherever its neighbour (site 1, the next
		 * 5 bytes: key small's sites are consecutive in sites.S)
		 * points, so that a patch can pass its first check and start;
		 * every 64 passes, a short burst of garbage.
		 */
		if ((n & 63) >= 8) {
			volatile uint8_t *nb = (volatile uint8_t *)(small_site + HVP_INSN_LEN);
			uint32_t nrel = (uint32_t)nb[1] | (uint32_t)nb[2] << 8 |
					(uint32_t)nb[3] << 16 | (uint32_t)nb[4] << 24;

			/* same destination, 5 bytes earlier */
			put_insn(small_site, HVP_OPC_CALL, nrel + HVP_INSN_LEN);
		} else if (n & 1) { /* ud2; ud2; nop */
			put_insn(small_site, 0x0f, 0x900b0f0bu);
		} else { /* a call into the middle of a target */
			rel = (uint64_t)small_b + 1 - (small_site + HVP_INSN_LEN);
			put_insn(small_site, HVP_OPC_CALL, (uint32_t)rel);
		}
		break;
	case HVP_HOSTILE_SCRIBBLE_TEXT:
		/* the last byte of text is int3 padding that nothing executes */
		*(volatile uint8_t *)((uint64_t)__text_end - 1) = 0x90;
		break;
	default:
		break;
	}
}
