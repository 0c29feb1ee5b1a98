// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cost model behind `patch plan` and `--method auto` (vmm/cost.c),
 * against README's "--method auto": every method's predicted latency,
 * stall and completion for hand-computed inputs, which row each objective
 * takes (least figure; within 10 % the other figure decides; never one
 * predicted not to complete), and the edges (no sites, no vCPU count, a
 * unit not measured, a unit that is not a duration, a timeout no method
 * meets).  Then the median, the objective's names, and the cache of unit
 * costs in the runtime directory (age, corrupt entries, links, mode).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "util.h"
#include "tap.h"

/* W: the README's 200 ns per site write */
#define W 200.0

static struct hvp_units units(double exit, double kick, double nmi, double bp)
{
	struct hvp_units u;

	memset(&u, 0, sizeof(u));
	u.ns[HVP_UNIT_EXIT] = exit;
	u.ns[HVP_UNIT_KICK] = kick;
	u.ns[HVP_UNIT_NMI] = nmi;
	u.ns[HVP_UNIT_BP] = bp;
	snprintf(u.backend, sizeof(u.backend), "kvm");
	u.vcpus = 2;
	return u;
}

/* every method and sync kind allowed, nothing timed now */
static struct hvp_cost_input input(unsigned sites, unsigned vcpus, double calls, int timeout_ms)
{
	struct hvp_cost_input in;
	unsigned m;

	memset(&in, 0, sizeof(in));
	in.sites = sites;
	in.vcpus = vcpus;
	in.calls_per_s = calls;
	in.window_ms = 60;
	in.timeout_ms = timeout_ms;
	for (m = 0; m < HVP_METHOD__COUNT; m++)
		in.allowed[m][HVP_SYNC_KICK] = in.allowed[m][HVP_SYNC_NMI] = true;
	return in;
}

static const struct hvp_cost_row *row_of(const struct hvp_cost_plan *p, enum hvp_method m,
					 enum hvp_sync_kind s)
{
	unsigned i;

	for (i = 0; i < p->nr; i++)
		if (p->row[i].method == m && p->row[i].sync == s)
			return &p->row[i];
	return NULL;
}

static bool near(double got, double want)
{
	if (isinf(want))
		return got == want;
	return fabs(got - want) <= 1e-9 * fabs(want) + 1e-3;
}

/* the row predicted (allowed) with these figures */
static void expect(const struct hvp_cost_plan *p, enum hvp_method m, enum hvp_sync_kind s,
		   double lat, double stall, bool completes, const char *what)
{
	const struct hvp_cost_row *r = row_of(p, m, s);

	tap_ok(r && r->allowed && near(r->latency_ns, lat) && near(r->stall_ns, stall) &&
		       r->completes == completes,
	       "%s: %s/%s latency %.1f (want %.1f), stall %.1f (want %.1f), completes %d", what,
	       hvp_methods[m].name, hvp_sync_name(s), r ? r->latency_ns : NAN, lat,
	       r ? r->stall_ns : NAN, stall, r ? r->completes : -1);
}

static bool chose(const struct hvp_cost_plan *p, enum hvp_method m, enum hvp_sync_kind s)
{
	return p->chosen >= 0 && p->row[p->chosen].method == m && p->row[p->chosen].sync == s;
}

static const char *chosen_name(const struct hvp_cost_plan *p)
{
	static char buf[64];

	if (p->chosen < 0)
		return "none";
	snprintf(buf, sizeof(buf), "%s/%s", hvp_methods[p->row[p->chosen].method].name,
		 hvp_sync_name(p->row[p->chosen].sync));
	return buf;
}

/* No row that completes carries a figure that is not a non-negative
 * number (a NaN, a negative stall), and why says no "nan" or "inf". */
static bool sane(const struct hvp_cost_plan *p)
{
	unsigned i;

	for (i = 0; i < p->nr; i++) {
		const struct hvp_cost_row *r = &p->row[i];

		if (!r->allowed)
			continue;
		if (isnan(r->p_complete) || r->p_complete < 0 || r->p_complete > 1)
			return false;
		if (r->completes &&
		    !(r->latency_ns >= 0 && r->stall_ns >= 0 && isfinite(r->stall_ns)))
			return false;
	}
	return !strstr(p->why, "nan") && !strstr(p->why, "inf");
}

static void test_formulas(void)
{
	/* E 20 us, kick round 400 us, NMI round 100 us, #BP 10 us; 4 sites, 2
	 * vCPUs, 800 calls/s: r = 200/s a site, f = 100/s a vCPU, L = 10 ms */
	struct hvp_units u = units(20000, 400000, 100000, 10000);
	struct hvp_cost_input in = input(4, 2, 800, 5000);
	struct hvp_cost_plan p;
	const struct hvp_cost_row *r;
	const double L = 1e7;

	in.pause_ns = 50000;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	tap_ok(p.nr == HVP_COST_ROWS, "every method with either sync kind: %u rows", p.nr);
	/* stop: P + S W (+E with NMI); stall L + latency + E */
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_KICK, 50000 + 4 * W, L + 50800 + 20000, true,
	       "formulas");
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_NMI, 50000 + 4 * W + 20000, L + 70800 + 20000, true,
	       "formulas");
	/* bp-emulate: 3R + 3 S W; stall L + X + min(1, 3Rf) S B, X = E */
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK, 3 * 400000 + 3 * 4 * W,
	       L + 20000 + 0.12 * 4 * 10000, true, "formulas");
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI, 3 * 100000 + 3 * 4 * W,
	       L + 20000 + 0.03 * 4 * 10000, true, "formulas");
	/* bp-cancel: S (3R + (1/q - 1) R), q = exp(-r R); stall L + X +
	 * min(1, 3Rf) (R + B) */
	expect(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK, 4933259.308279933,
	       L + 20000 + 0.12 * (400000 + 10000), true, "formulas");
	expect(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_NMI, 1208080.5360107024,
	       L + 20000 + 0.03 * (100000 + 10000), true, "formulas");
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && strstr(r->note, "P(no hit) 0.92") && strstr(r->note, "400 us window"),
	       "bp-cancel's note: %s", r ? r->note : "-");
	/* a rate-limited loop: the stalls tie on L, latency decides */
	tap_ok(chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK),
	       "--prefer stall, stalls within 10 %%: the least latency (stop/kick): %s",
	       chosen_name(&p));
	tap_ok(!strcmp(p.why, "least predicted stall (10071 us; latency 51 us) of 6 predicted to "
			      "complete within 5000 ms"),
	       "why: %s", p.why);
	hvp_cost_plan(&u, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK) &&
		       !strncmp(p.why, "least predicted latency (51 us; stall 10071 us)", 47),
	       "--prefer latency: stop/kick: %s", p.why);

	/* --sync narrows to one kind */
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 1u << HVP_SYNC_NMI, &p);
	tap_ok(p.nr == 3 && !row_of(&p, HVP_METHOD_STOP, HVP_SYNC_KICK) &&
		       chose(&p, HVP_METHOD_STOP, HVP_SYNC_NMI),
	       "--sync nmi: 3 rows, stop/nmi: %s", chosen_name(&p));
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 0, &p);
	tap_ok(p.nr == 0 && p.chosen < 0, "no sync kind: no row, no choice");

	/* kick rounds that stop the whole VM (qemu, libvirt): X = R for kick,
	 * E for NMI rounds */
	in.round_stops_vm = true;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK, 1202400, L + 400000 + 0.12 * 4 * 10000,
	       true, "round stops the VM");
	expect(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK, 4933259.308279933,
	       L + 400000 + 0.12 * (400000 + 10000), true, "round stops the VM");
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI, 302400, L + 20000 + 0.03 * 4 * 10000, true,
	       "round stops the VM, NMI");
	in.round_stops_vm = false;

	/* rounds and pause timed now stand in for the boot-time units; the
	 * pause is never taken dearer than a kick round */
	in.round_ns[HVP_SYNC_KICK] = 200000;
	in.round_ns[HVP_SYNC_NMI] = 50000;
	in.pause_ns = 1e6;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_KICK, 200000 + 4 * W, L + 200800 + 20000, true,
	       "pause above the kick round: P = R");
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI, 150000 + 3 * 4 * W,
	       L + 20000 + 0.015 * 4 * 10000, true, "NMI round timed now");
	in.pause_ns = 0;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_KICK, 200000 + 4 * W, L + 200800 + 20000, true,
	       "no pause timed: P = R");
}

static void test_bp_cancel(void)
{
	struct hvp_units u = units(20000, 400000, 100000, 10000);
	struct hvp_cost_input in = input(1, 2, 2e8, 5000);
	struct hvp_cost_plan p;
	const struct hvp_cost_row *r;
	unsigned m;

	/* a tight loop: r R in the tens of thousands, q = 0 */
	in.pause_ns = 50000;
	for (m = 0; m < 2; m++) {
		hvp_cost_plan(&u, &in, m ? HVP_PREFER_LATENCY : HVP_PREFER_STALL, 3, &p);
		r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
		tap_ok(r && r->p_complete == 0 && !r->completes && isinf(r->latency_ns) &&
			       p.chosen >= 0 && p.row[p.chosen].method != HVP_METHOD_BP_CANCEL,
		       "tight loop, --prefer %s: bp-cancel does not complete, not taken (%s)",
		       m ? "latency" : "stall", chosen_name(&p));
	}

	/* n = 1 + floor((T/S - 3R)/R) attempts a site, P = (1 - (1 - q)^n)^S:
	 * 2 sites, R 1 ms, q = 0.5, T 20 ms: n = 8 */
	u = units(20000, 1e6, 0, 10000);
	in = input(2, 1, 2000 * M_LN2, 20);
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 1u << HVP_SYNC_KICK, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && near(r->p_complete, 0.9922027587890625) && r->completes,
	       "q 0.5, 8 attempts a site, 2 sites: P(done) %.6f", r ? r->p_complete : NAN);
	/* whole attempts only: T/S = 3.5 R fits 1, not 1.5 */
	in = input(1, 1, 1000 * -log(0.95), 3);
	in.timeout_ms = 3;
	u.ns[HVP_UNIT_KICK] = 1e6;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 1u << HVP_SYNC_KICK, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && near(r->p_complete, 0.95) && r->completes,
	       "T = 3R: one attempt, P(done) = q = %.4f", r ? r->p_complete : NAN);
	u.ns[HVP_UNIT_KICK] = 3e6 / 3.5;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 1u << HVP_SYNC_KICK, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && r->p_complete < 0.96 && r->p_complete > 0.9,
	       "T = 3.5R: still one attempt, P(done) %.4f", r ? r->p_complete : NAN);

	/* an expected latency past T that still completes (P = 0.95): no
	 * latency, and the answer says so without an "inf" */
	u.ns[HVP_UNIT_KICK] = 1e6;
	memset(in.allowed, 0, sizeof(in.allowed));
	in.allowed[HVP_METHOD_BP_CANCEL][HVP_SYNC_KICK] = true;
	hvp_cost_plan(&u, &in, HVP_PREFER_LATENCY, 1u << HVP_SYNC_KICK, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && r->completes && isinf(r->latency_ns) &&
		       chose(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK) && sane(&p),
	       "expected latency past T, P(done) 0.95: taken, why: %s", p.why);

	/* a key not called (q = 1) whose site's 3 rounds do not fit in T/S:
	 * no attempt fits, P = (1 - 0^0)^S = 0 */
	u = units(20000, 400000, 400000, 10000);
	in = input(1, 2, 0, 1);
	in.pause_ns = 100000;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && r->p_complete == 0 && !r->completes,
	       "idle key, T 1 ms < 3R 1.2 ms: bp-cancel does not complete (P %.2f)",
	       r ? r->p_complete : NAN);
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK, INFINITY, 20000, false,
	       "idle key, T 1 ms < 3R");
	tap_ok(chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK),
	       "idle key, T 1 ms: stop/kick, the only one predicted in time: %s", chosen_name(&p));
}

static void test_choice(void)
{
	struct hvp_units u;
	struct hvp_cost_input in;
	struct hvp_cost_plan p;

	/* an idle key: bp-* stall only X = E; stop stalls P + S W + E */
	u = units(20000, 400000, 100000, 10000);
	in = input(4, 2, 0, 5000);
	in.pause_ns = 50000;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI, 302400, 20000, true, "idle key");
	expect(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_NMI, 1.2e6, 20000, true, "idle key");
	tap_ok(chose(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI),
	       "--prefer stall: the least stall, then least latency: %s", chosen_name(&p));
	hvp_cost_plan(&u, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK), "--prefer latency: the least latency: %s",
	       chosen_name(&p));

	/*
	 * Within 10 % of the least, the other figure decides, whatever the
	 * table's order.  Kick only, rounds stop the VM: E 20 us, R 10 us,
	 * #BP 5 us, 4 sites, 1 vCPU, 100000 calls/s (L 40 us, 3Rf 0.75):
	 *   stop        latency  10.8 us  stall 40 + 10.8 + 20     = 70.8 us
	 *   bp-emulate  latency  32.4 us  stall 40 + 10 + .75*4*5  = 65 us
	 *   bp-cancel   latency 131.4 us  stall 40 + 10 + .75*15   = 61.25 us
	 * The least stall 61.25 us; bp-emulate's is within 10 % of it and its
	 * latency a quarter: bp-emulate (stop's is 15.6 % above).
	 */
	u = units(20000, 10000, 0, 5000);
	in = input(4, 1, 100000, 5000);
	in.round_stops_vm = true;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 1u << HVP_SYNC_KICK, &p);
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_KICK, 10800, 70800, true, "10 % band");
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK, 32400, 65000, true, "10 % band");
	expect(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK, 131361.01666750966, 61250, true,
	       "10 % band");
	tap_ok(chose(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK),
	       "within 10 %% of the least stall, the least latency: bp-emulate/kick: %s (%s)",
	       chosen_name(&p), p.why);

	/* an exact tie: the first in the table (stop, bp-emulate, bp-cancel;
	 * kick before nmi) */
	u = units(20000, 100000, 100000, 10000);
	in = input(4, 2, 0, 5000);
	memset(in.allowed, 0, sizeof(in.allowed));
	in.allowed[HVP_METHOD_BP_EMULATE][HVP_SYNC_KICK] = true;
	in.allowed[HVP_METHOD_BP_EMULATE][HVP_SYNC_NMI] = true;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	tap_ok(chose(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK), "an exact tie: the first row: %s",
	       chosen_name(&p));

	/* what the backend refuses is listed, not predicted, not taken */
	in = input(4, 2, 800, 5000);
	in.allowed[HVP_METHOD_STOP][HVP_SYNC_KICK] = false;
	in.allowed[HVP_METHOD_STOP][HVP_SYNC_NMI] = false;
	in.why_not = "a hazard";
	hvp_cost_plan(&u, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(!row_of(&p, HVP_METHOD_STOP, HVP_SYNC_KICK)->allowed &&
		       !strcmp(row_of(&p, HVP_METHOD_STOP, HVP_SYNC_KICK)->note, "a hazard") &&
		       p.chosen >= 0 && p.row[p.chosen].method != HVP_METHOD_STOP &&
		       strstr(p.why, "of 4 predicted"),
	       "refused rows: noted, not taken: %s (%s)", chosen_name(&p), p.why);
	in.why_not = NULL;
	hvp_cost_plan(&u, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(!strcmp(row_of(&p, HVP_METHOD_STOP, HVP_SYNC_NMI)->note, "refused by the backend"),
	       "refused without a reason: %s", row_of(&p, HVP_METHOD_STOP, HVP_SYNC_NMI)->note);
}

static void test_edges(void)
{
	struct hvp_units u = units(20000, 400000, 100000, 10000), u2;
	struct hvp_cost_input in = input(1, 1, 800, 5000), in2;
	struct hvp_cost_plan p, p2;
	const struct hvp_cost_row *r;
	unsigned i;
	bool same;

	/* 0 sites and 0 vCPUs are taken as 1 */
	in.pause_ns = 50000;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	in2 = in;
	in2.sites = 0;
	in2.vcpus = 0;
	hvp_cost_plan(&u, &in2, HVP_PREFER_STALL, 3, &p2);
	for (i = 0, same = p.nr == p2.nr && p.chosen == p2.chosen; same && i < p.nr; i++)
		same = p.row[i].latency_ns == p2.row[i].latency_ns &&
		       p.row[i].stall_ns == p2.row[i].stall_ns &&
		       p.row[i].p_complete == p2.row[i].p_complete;
	tap_ok(same, "0 sites, 0 vCPUs: as 1 site, 1 vCPU");
	/* 1 vCPU, 1 site: f = r = 800/s, L = 1.25 ms, 3Rf = 0.96 */
	expect(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK, 1200600, 1.25e6 + 20000 + 0.96 * 10000,
	       true, "1 site, 1 vCPU");

	/* no NMI round at boot, none timed: bp-* with NMI is not predicted;
	 * stop's NMI is one on resume, E */
	u2 = units(20000, 400000, 0, 10000);
	hvp_cost_plan(&u2, &in, HVP_PREFER_STALL, 3, &p);
	r = row_of(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI);
	tap_ok(r && !r->allowed && !strcmp(r->note, "no NMI round measured") &&
		       !row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_NMI)->allowed &&
		       row_of(&p, HVP_METHOD_STOP, HVP_SYNC_NMI)->allowed,
	       "no NMI round: bp-*/nmi not predicted, stop/nmi is");
	in2 = in;
	in2.round_ns[HVP_SYNC_NMI] = 100000;
	hvp_cost_plan(&u2, &in2, HVP_PREFER_STALL, 3, &p);
	tap_ok(row_of(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_NMI)->allowed,
	       "no NMI unit but an NMI round timed now: predicted");

	/* no kick round either (every round failed at boot and now): the
	 * kick rows of bp-* are not predicted, stop's pause stands alone */
	u2 = units(20000, 0, 0, 10000);
	hvp_cost_plan(&u2, &in, HVP_PREFER_LATENCY, 3, &p);
	r = row_of(&p, HVP_METHOD_BP_CANCEL, HVP_SYNC_KICK);
	tap_ok(r && !r->allowed && !strcmp(r->note, "no kick round measured") &&
		       !row_of(&p, HVP_METHOD_BP_EMULATE, HVP_SYNC_KICK)->allowed,
	       "no kick round: bp-*/kick not predicted (%s)", r ? r->note : "-");
	expect(&p, HVP_METHOD_STOP, HVP_SYNC_KICK, 50000 + W, 1.25e6 + 50200 + 20000, true,
	       "no kick round: P is the pause timed");
	tap_ok(chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK), "no kick round: stop/kick: %s",
	       chosen_name(&p));
	in2 = in;
	in2.pause_ns = 0;
	hvp_cost_plan(&u2, &in2, HVP_PREFER_LATENCY, 3, &p);
	r = row_of(&p, HVP_METHOD_STOP, HVP_SYNC_KICK);
	tap_ok(p.chosen < 0 && r && !r->allowed && strstr(p.why, "no method"),
	       "no round, no pause: nothing predicted, nothing taken: %s", p.why);

	/* units that are not durations: never a NaN or a negative figure in
	 * a row taken, nor in why */
	u2 = units(NAN, 400000, 100000, 10000);
	hvp_cost_plan(&u2, &in, HVP_PREFER_STALL, 3, &p);
	tap_ok(sane(&p), "exit NaN: %s (%s)", chosen_name(&p), p.why);
	in2 = in;
	in2.round_stops_vm = true;
	hvp_cost_plan(&u2, &in2, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(sane(&p), "exit NaN, rounds stop the VM: %s (%s)", chosen_name(&p), p.why);
	u2 = units(20000, 400000, 100000, -1e9);
	hvp_cost_plan(&u2, &in, HVP_PREFER_STALL, 3, &p);
	tap_ok(sane(&p), "#BP negative: %s (%s)", chosen_name(&p), p.why);
	u2 = units(INFINITY, 400000, 100000, 10000);
	hvp_cost_plan(&u2, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(sane(&p), "exit infinite: %s (%s)", chosen_name(&p), p.why);
	u2 = units(20000, NAN, NAN, 10000);
	hvp_cost_plan(&u2, &in, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(sane(&p), "rounds NaN: %s (%s)", chosen_name(&p), p.why);
	u2 = units(0, 0, 0, 0);
	in2 = in;
	in2.pause_ns = 0;
	hvp_cost_plan(&u2, &in2, HVP_PREFER_LATENCY, 3, &p);
	tap_ok(sane(&p) && p.chosen < 0, "every unit 0: nothing taken: %s", p.why);

	/* a huge site count: no overflow, nothing fits in 5 s (even idle) */
	in2 = input(UINT_MAX, 2, 0, 5000);
	in2.pause_ns = 50000;
	hvp_cost_plan(&u, &in2, HVP_PREFER_STALL, 3, &p);
	tap_ok(p.chosen < 0 && sane(&p) && strstr(p.why, "no method is predicted to complete"),
	       "2^32-1 sites, idle: %s", p.why);
	in2.calls_per_s = 1e6;
	hvp_cost_plan(&u, &in2, HVP_PREFER_STALL, 3, &p);
	tap_ok(p.chosen < 0 && sane(&p), "2^32-1 sites, called: %s", p.why);
	in2 = input(2048, 2, 1e6, 600000);
	in2.pause_ns = 50000;
	hvp_cost_plan(&u, &in2, HVP_PREFER_STALL, 3, &p);
	/* the least stall bp-cancel/nmi's 4.12 ms, stop/kick's 4.58 ms within
	 * 10 % of it and its latency the least, 0.46 ms */
	tap_ok(sane(&p) && chose(&p, HVP_METHOD_STOP, HVP_SYNC_KICK), "2048 sites, 1e6 calls/s: %s",
	       chosen_name(&p));

	/* a timeout no method meets: nothing taken, why names one */
	u2 = units(20000, 2e6, 2e6, 10000);
	in2 = input(16, 2, 1000, 1);
	hvp_cost_plan(&u2, &in2, HVP_PREFER_STALL, 3, &p);
	tap_ok(p.chosen < 0 &&
		       !strcmp(p.why, "no method is predicted to complete within 1 ms; not "
				      "stop/kick: P(done) 0.00 (2003 us against a 1 ms timeout)"),
	       "no method in 1 ms: %s", p.why);
	r = row_of(&p, HVP_METHOD_STOP, HVP_SYNC_KICK);
	tap_ok(r && isinf(r->latency_ns), "a latency past T is none");
}

static void test_json(void)
{
	struct hvp_units u = units(20000, 400000, 100000, 10000);
	struct hvp_cost_input in = input(2, 1, 2e8, 5000);
	struct hvp_cost_plan p;
	json_object *o, *rows, *v;
	unsigned i;
	bool ok = true;

	in.pause_ns = 50000;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	o = hvp_cost_plan_json(&u, &in, &p);
	tap_ok(json_object_object_get_ex(o, "predictions", &rows) &&
		       json_object_array_length(rows) == p.nr && p.chosen >= 0 &&
		       json_object_object_get_ex(o, "method", &v) &&
		       !strcmp(json_object_get_string(v),
			       hvp_methods[p.row[p.chosen].method].name) &&
		       json_object_object_get_ex(o, "why", &v),
	       "plan JSON: predictions, method, why");
	for (i = 0; i < p.nr; i++) {
		json_object *row = json_object_array_get_idx(rows, i), *lat;

		if (p.row[i].method == HVP_METHOD_BP_CANCEL)
			ok &= json_object_object_get_ex(row, "latency_ns", &lat) && !lat;
	}
	tap_ok(ok, "bp-cancel in a tight loop: latency_ns null");
	json_object_put(o);
	in.timeout_ms = 0;
	in.calls_per_s = 0;
	hvp_cost_plan(&u, &in, HVP_PREFER_STALL, 3, &p);
	o = hvp_cost_plan_json(&u, &in, &p);
	tap_ok(p.chosen < 0 && !json_object_object_get_ex(o, "method", &v),
	       "nothing chosen: no method in the JSON");
	json_object_put(o);
}

static void test_names(void)
{
	double v[6];

	tap_ok(hvp_prefer_by_name("stall") == HVP_PREFER_STALL &&
		       hvp_prefer_by_name("latency") == HVP_PREFER_LATENCY,
	       "objectives stall and latency");
	tap_ok(hvp_prefer_by_name("Stall") < 0 && hvp_prefer_by_name("") < 0 &&
		       hvp_prefer_by_name("stall ") < 0 && hvp_prefer_by_name("lat") < 0,
	       "no other objective");

	tap_ok(hvp_units_median(v, 0) == 0, "median of nothing: 0");
	v[0] = 7;
	tap_ok(hvp_units_median(v, 1) == 7, "median of one");
	v[0] = 3, v[1] = 1, v[2] = 2;
	tap_ok(hvp_units_median(v, 3) == 2 && v[0] == 1 && v[2] == 3, "median of 3 (sorted)");
	v[0] = 4, v[1] = 1, v[2] = 3, v[3] = 2;
	tap_ok(hvp_units_median(v, 4) == 2.5, "median of 4: the mean of the middle two");
	v[0] = 1e9, v[1] = 1, v[2] = 1e9, v[3] = 2, v[4] = 5, v[5] = 1e9;
	tap_ok(hvp_units_median(v, 6) == (5 + 1e9) / 2, "median of 6 with a tail");
}

/* ---- the cache ---- */

static char dir[PATH_MAX], file[PATH_MAX + 32];

static void put(const char *s)
{
	FILE *f;

	unlink(file);
	f = fopen(file, "w");
	fputs(s, f);
	fclose(f);
	chmod(file, 0600);
}

static int load(int64_t max_age, struct hvp_units *u)
{
	return hvp_units_load(dir, "kvm", 2, max_age, u);
}

/* the kvm/2 entry measured `ago` s ago, then `unit` (a later key wins) set to
 * `val` (JSON text) */
static int load_with(const char *unit, const char *val, long ago)
{
	char buf[1024];
	struct hvp_units u;

	snprintf(buf, sizeof(buf),
		 "{ \"kvm/2\": { \"exit_round_trip_ns\": 20000, \"kick_round_ns\": 400000, "
		 "\"nmi_round_ns\": 100000, \"bp_trap_ns\": 10000, \"measured_unix\": %ld, "
		 "\"%s\": %s } }",
		 (long)time(NULL) - ago, unit, val);
	put(buf);
	return load(HVP_UNITS_MAX_AGE_S, &u);
}

static void test_cache(void)
{
	struct hvp_units u = units(20123.5, 400000.25, 0, 10000), g;
	char other[PATH_MAX + 32], buf[PATH_MAX + 64];
	struct stat st;
	int r, fd;
	unsigned i;
	bool same;

	snprintf(dir, sizeof(dir), "%s/unit-cost.XXXXXX",
		 getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(file, sizeof(file), "%s/host-units.json", dir);

	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT, "no file: -ENOENT");
	u.assumed[HVP_UNIT_BP] = true;
	u.measured_unix = (int64_t)time(NULL) - 10;
	umask(0);
	r = hvp_units_save(dir, &u);
	umask(022);
	if (r < 0 || stat(file, &st) < 0)
		st.st_mode = 0;
	tap_ok(r == 0 && (st.st_mode & 07777) == 0600, "saved, mode 0600 whatever the umask (%o)",
	       (unsigned)(st.st_mode & 07777));
	memset(&g, 0x55, sizeof(g));
	r = load(HVP_UNITS_MAX_AGE_S, &g);
	for (i = 0, same = true; i < HVP_UNIT__COUNT; i++)
		same &= g.ns[i] == u.ns[i] && g.assumed[i] == u.assumed[i];
	tap_ok(r == 0 && same && g.measured_unix == u.measured_unix && g.cached &&
		       !strcmp(g.backend, "kvm") && g.vcpus == 2,
	       "round trip: every unit, assumed, when; cached");
	tap_ok(hvp_units_load(dir, "kvm", 4, HVP_UNITS_MAX_AGE_S, &g) == -ENOENT &&
		       hvp_units_load(dir, "qemu", 2, HVP_UNITS_MAX_AGE_S, &g) == -ENOENT,
	       "another vCPU count or backend: -ENOENT");
	u.vcpus = 4;
	u.ns[HVP_UNIT_KICK] = 900000;
	tap_ok(hvp_units_save(dir, &u) == 0 &&
		       hvp_units_load(dir, "kvm", 4, HVP_UNITS_MAX_AGE_S, &g) == 0 &&
		       g.ns[HVP_UNIT_KICK] == 900000 && load(HVP_UNITS_MAX_AGE_S, &g) == 0 &&
		       g.ns[HVP_UNIT_KICK] == 400000.25,
	       "a second entry is merged in, the first kept");
	tap_ok(access(file, F_OK) == 0 &&
		       (snprintf(buf, sizeof(buf), "%s.%ld", file, (long)getpid()),
			access(buf, F_OK) < 0),
	       "no temporary file left");

	/* age: within the hour reused, past it or in the future not */
	tap_ok(load(5, &g) == -ESTALE, "10 s old, max age 5: -ESTALE");
	tap_ok(load(10, &g) == 0, "10 s old, max age 10: reused");
	tap_ok(load_with("measured_unix", "0", 0) == -ESTALE, "measured in 1970: -ESTALE");
	tap_ok(load_with("measured_unix", "-9223372036854775808", 0) == -ESTALE,
	       "measured at INT64_MIN: -ESTALE (its age overflowed before: UBSan)");
	snprintf(buf, sizeof(buf), "%ld", (long)time(NULL) + 100);
	tap_ok(load_with("measured_unix", buf, 0) == -ESTALE, "measured in the future: -ESTALE");
	tap_ok(load_with("bp_trap_ns", "12", HVP_UNITS_MAX_AGE_S - 5) == 0,
	       "just within the hour: reused");

	/* a unit out of range spoils the entry */
	tap_ok(load_with("exit_round_trip_ns", "-1", 0) == -ESTALE, "a negative unit: -ESTALE");
	tap_ok(load_with("bp_trap_ns", "60e9", 0) == -ESTALE, "a unit of a minute: -ESTALE");
	tap_ok(load_with("nmi_round_ns", "1e400", 0) < 0, "a unit past a double: refused");
	tap_ok(load_with("kick_round_ns", "0", 0) == -ESTALE, "no kick round: -ESTALE");
	tap_ok(load_with("nmi_round_ns", "0", 0) == 0, "no NMI round: reused");
	tap_ok(load_with("kick_round_ns", "\"x\"", 0) < 0,
	       "a kick round that is a string: refused");

	/* corrupt files */
	put("{ \"kvm/2\": { \"kick_round_ns\": 4");
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT, "truncated JSON: -ENOENT");
	put("[1, 2]");
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT, "not an object: -ENOENT");
	put("{ \"kvm/2\": 5 }");
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT, "an entry not an object: -ENOENT");
	put("{ \"kvm/2\": { \"kick_round_ns\": 400000 } }");
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT, "no measured_unix: -ENOENT");
	put("garbage");
	u.vcpus = 2;
	u.measured_unix = (int64_t)time(NULL);
	tap_ok(hvp_units_save(dir, &u) == 0 && load(HVP_UNITS_MAX_AGE_S, &g) == 0,
	       "saving over a corrupt file starts it afresh");

	/* a symbolic link is never followed, for reading or writing */
	snprintf(other, sizeof(other), "%s/elsewhere.json", dir);
	rename(file, other);
	tap_ok(symlink(other, file) == 0 && load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT,
	       "host-units.json a symlink to a good file: not read");
	u.ns[HVP_UNIT_KICK] = 123456;
	r = hvp_units_save(dir, &u);
	tap_ok(r == 0 && lstat(file, &st) == 0 && S_ISREG(st.st_mode) &&
		       hvp_units_load(dir, "kvm", 2, HVP_UNITS_MAX_AGE_S, &g) == 0 &&
		       g.ns[HVP_UNIT_KICK] == 123456,
	       "saving replaces the link with a file of its own");
	fd = open(other, O_RDONLY);
	r = fd >= 0 ? (int)read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[r > 0 ? r : 0] = 0;
	tap_ok(r > 0 && !strstr(buf, "123456"), "the link's target is untouched");
	/* a second hard link, another mode */
	unlink(other);
	tap_ok(link(file, other) == 0 && load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT,
	       "a file with two links: not read");
	unlink(other);
	chmod(file, 0644);
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == 0, "a file of ours of mode 0644: read");
	tap_ok(hvp_units_save(dir, &u) == 0 && stat(file, &st) == 0 && (st.st_mode & 07777) == 0600,
	       "and saved back 0600");
	unlink(file);
	mkdir(file, 0700);
	tap_ok(load(HVP_UNITS_MAX_AGE_S, &g) == -ENOENT && hvp_units_save(dir, &u) < 0 &&
		       (snprintf(buf, sizeof(buf), "%s.%ld", file, (long)getpid()),
			access(buf, F_OK) < 0),
	       "a directory in its place: not read, not saved, no temporary left");
	rmdir(file);
	hvp_rmtree(dir);
}

int main(void)
{
	test_formulas();
	test_bp_cancel();
	test_choice();
	test_edges();
	test_json();
	test_names();
	test_cache();
	return tap_done();
}
