// SPDX-License-Identifier: GPL-2.0-only
/*
 * The workload (CPL3, native speed on this project's hosts): call the
 * configured keys' sites in a loop, paced or tight, and record how long each
 * loop iteration took.  A patch shows up as a gap: a #BP trap, an NMI, a
 * vCPU paused by the VMM.
 */
#include "guest.h"

static inline unsigned log2u(uint64_t v)
{
	return v ? 63u - (unsigned)__builtin_clzll(v) : 0;
}

void hvp_workload_main(unsigned cpu)
{
	const volatile struct hvp_agent_config *cfg = &hvp_agent.config;
	uint64_t period = 0, rate = 0, prev, next, fault_at = 0, nloop = 0;
	uint32_t hostile = 0;
	void (*run[NR_KEYS])(void);
	unsigned k;

	for (k = 0; k < NR_KEYS; k++)
		run[k] = hvp_key_run[k];
	/*
	 * --hostile rewrite-site: small's first site is the compromised
	 * kernel's own scribble (ud2s, calls into a target's middle), so every
	 * vCPU runs small from its second site on (run_small is its 16 sites
	 * back to back, see sites.S): those 15 sites only the patcher writes,
	 * and a tear on any of them faults (tests/hostile.sh).
	 */
	if (cfg->hostile == HVP_HOSTILE_REWRITE_SITE)
		run[KEY_SMALL] = (void (*)(void))((uintptr_t)hvp_key_run[KEY_SMALL] + HVP_INSN_LEN);

	if ((cfg->flags & HVP_CFG_FAULT_TEST) && cpu == cfg->fault_vcpu)
		fault_at = 1000;
	if ((cfg->flags & HVP_CFG_PROBE_UINT3) && cpu == 0)
		__asm__ volatile("int3"); /* doctor: who gets a user-mode #BP? */

	/* The last vCPU plays the compromised guest kernel (test only). */
	if (cfg->hostile > HVP_HOSTILE__BOOT_LAST && cfg->hostile < HVP_HOSTILE__COUNT &&
	    cpu + 1 == cfg->nr_vcpus)
		hostile = cfg->hostile;

	prev = rdtsc();
	next = prev;
	for (;;) {
		uint64_t now = rdtsc(), gap = now - prev;
		unsigned b = log2u(gap);
		uint32_t mask;

		prev = now;
		this_vcpu->loops++;
		/* from the moment the service has read the tables (key_mask set) */
		if (hostile && cfg->key_mask)
			hvp_hostile_tick(hostile, nloop++);
		this_vcpu->gap_hist[b < HVP_HIST_BUCKETS ? b : HVP_HIST_BUCKETS - 1]++;
		if (gap > this_vcpu->max_gap)
			this_vcpu->max_gap = gap;
		if (gap > this_vcpu->window_max_gap)
			this_vcpu->window_max_gap = gap;
		/* The service may change the workload at any time. */
		if (cfg->rate != rate) {
			rate = cfg->rate;
			period = rate && cfg->tsc_khz ? cfg->tsc_khz * 1000 / rate : 0;
			next = now;
		}
		if (cfg->flags & HVP_CFG_PING) {
			hvp_ping(); /* a burst of exits, see isr.S */
			continue;
		}
		if (period && (int64_t)(now - next) < 0)
			continue;
		mask = cfg->key_mask;
		for (k = 0; k < NR_KEYS; k++) {
			if (mask & (1u << k)) {
				run[k]();
				this_vcpu->iters[k]++;
			}
		}
		if (period) {
			next += period;
			if ((int64_t)(now - next) > (int64_t)(period * 16))
				next = now + period; /* don't burst after a stall */
		}
		if (fault_at && this_vcpu->loops >= fault_at)
			__asm__ volatile("ud2");
	}
}
