// SPDX-License-Identifier: GPL-2.0-only
/*
 * The service's side of `patch plan` and `--method auto`: the unit costs
 * of this VM's host (measured at boot, or the cache's), what the key's
 * sites see now (their calls, the NMIs), and the model's plan (cost.c).
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "cost.h"
#include "service-int.h"
#include "service.h"
#include "util.h"

/* The 1-site key the #BP round trip traps on (NULL: the image has none). */
static const struct hvp_key_info *single_site_key(const struct hvp_service *s)
{
	unsigned i;

	for (i = 0; i < s->nr_keys; i++)
		if (s->keys[i].kind == HVP_KEY_INLINE && s->keys[i].nr_sites == 1)
			return &s->keys[i];
	return NULL;
}

static void units_get(struct hvp_service *s, bool may_measure_all)
{
	struct hvp_patch_ctx ctx = { .be = s->be, .agent = s->agent };
	const struct hvp_key_info *k = single_site_key(s);
	bool own = !s->kind->external, nmi = !s->be->nmi_int3_hazard;
	int r;

	if (hvp_units_load(s->opts.rundir, s->be->ops->name, s->be->nr_vcpus, HVP_UNITS_MAX_AGE_S,
			   &s->units) == 0) {
		s->have_units = true;
		return;
	}
	hvp_units_measure(&ctx, k, nmi, own && k && may_measure_all, &s->units);
	s->have_units = true;
	/* a partial measurement (no exits, no #BP where they could be had)
	 * is this VM's alone: the next VM start measures in full */
	r = own && !may_measure_all ? 0 : hvp_units_save(s->opts.rundir, &s->units);
	if (r < 0)
		hvp_svc_log("unit costs: cannot cache them in %s: %s", s->opts.rundir,
			    strerror(-r));
	hvp_svc_log("unit costs %s: exit %.0f ns%s, kick round %.0f ns, NMI round %.0f ns, "
		    "#BP %.0f ns%s",
		    s->units.cached ? "cached" : "measured", s->units.ns[HVP_UNIT_EXIT],
		    s->units.assumed[HVP_UNIT_EXIT] ? " (assumed)" : "", s->units.ns[HVP_UNIT_KICK],
		    s->units.ns[HVP_UNIT_NMI], s->units.ns[HVP_UNIT_BP],
		    s->units.assumed[HVP_UNIT_BP] ? " (assumed)" : "");
}

/*
 * At boot, before the workload the user asked for starts (the caller sets
 * it afterwards): nothing else runs yet, so the measurement may reconfigure
 * the workload.  Not for test guests that fault or attack on purpose.
 */
void hvp_service_units_boot(struct hvp_service *s)
{
	const struct hvp_vm_opts *o = &s->opts;

	if (!s->measure_units || o->fault_test || o->hostile || o->probe_flags || !o->rundir[0])
		return;
	units_get(s, true);
	__atomic_store_n(&s->agent->config.rate, o->rate, __ATOMIC_RELEASE);
}

void hvp_service_set_units(struct hvp_service *s, const struct hvp_units *u)
{
	pthread_mutex_lock(&s->patch_lock);
	s->units = *u;
	s->have_units = true;
	pthread_mutex_unlock(&s->patch_lock);
}

/* The key's calls and the NMIs taken, summed over the vCPUs. */
static void counts(const struct hvp_service *s, unsigned key, uint64_t *calls, uint64_t *nmis)
{
	unsigned v, t;

	*calls = *nmis = 0;
	for (v = 0; v < s->be->nr_vcpus; v++) {
		const struct hvp_vcpu *vc = &s->agent->vcpu[v];

		for (t = 0; t < HVP_MAX_TARGETS; t++)
			*calls += __atomic_load_n(&vc->calls[key][t], __ATOMIC_RELAXED);
		*nmis += __atomic_load_n(&vc->nmis, __ATOMIC_RELAXED);
	}
}

#define OBSERVE_NS  60000000ull
#define PLAN_ROUNDS 5

int hvp_service_plan(struct hvp_service *s, const struct hvp_key_info *k, int timeout_ms,
		     enum hvp_prefer prefer, unsigned sync_mask, struct hvp_cost_input *in,
		     struct hvp_cost_plan *plan)
{
	struct hvp_patch_ctx ctx = { .be = s->be, .agent = s->agent };
	uint64_t c0, c1, n0, n1, t0, t1, hz;
	double v[PLAN_ROUNDS];
	unsigned m;

	memset(in, 0, sizeof(*in));
	counts(s, k->index, &c0, &n0);
	t0 = hvp_now_ns();
	hvp_sleep_ns(OBSERVE_NS);
	counts(s, k->index, &c1, &n1);
	t1 = hvp_now_ns();
	in->sites = k->nr_sites;
	in->vcpus = s->be->nr_vcpus;
	in->window_ms = (double)(t1 - t0) / 1e6;
	/* guest-written counters: a counter that went back counts as none */
	in->calls_per_s = c1 > c0 ? (double)(c1 - c0) * 1e9 / (double)(t1 - t0) : 0;
	in->nmis_per_s = n1 > n0 ? (double)(n1 - n0) * 1e9 / (double)(t1 - t0) : 0;
	in->timeout_ms = timeout_ms;

	/* a VM that did not measure at boot measures its rounds now; the
	 * patch lock held, so that no patch's rounds mix with them */
	pthread_mutex_lock(&s->patch_lock);
	if (!s->have_units)
		units_get(s, false);
	for (m = 0; m < 2; m++) {
		if (!(sync_mask & (1u << m)) || (m == HVP_SYNC_NMI && s->be->nmi_int3_hazard))
			continue;
		in->round_ns[m] = hvp_units_median(v, hvp_units_rounds(&ctx, (enum hvp_sync_kind)m,
								       PLAN_ROUNDS, true, v));
	}
	in->pause_ns = hvp_units_median(v, hvp_units_pauses(&ctx, PLAN_ROUNDS, v));
	/* the patch that may follow starts from a steady state, as the timed
	 * ones did: right after our last resume a vCPU thread the host has not
	 * yet run would hold its first round (milliseconds on a loaded host) */
	hvp_units_settle(s->be, s->agent);
	pthread_mutex_unlock(&s->patch_lock);

	pthread_mutex_lock(&s->lock);
	hz = s->nmi_hz;
	pthread_mutex_unlock(&s->lock);
	for (m = 0; m < HVP_METHOD__COUNT; m++) {
		bool bp = m == HVP_METHOD_BP_CANCEL || m == HVP_METHOD_BP_EMULATE;

		if (hvp_methods[m].unsafe)
			continue;
		/* what do_patch refuses on a hazardous backend (see extvm.c) */
		in->allowed[m][HVP_SYNC_KICK] = !(bp && s->be->nmi_int3_hazard && hz);
		in->allowed[m][HVP_SYNC_NMI] = !(bp && s->be->nmi_int3_hazard);
	}
	in->why_not = s->be->nmi_int3_hazard;
	in->round_stops_vm = s->kind->external;
	hvp_cost_plan(&s->units, in, prefer, sync_mask, plan);
	return 0;
}
