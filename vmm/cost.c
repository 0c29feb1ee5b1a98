// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit costs and the cost model behind `patch plan` and `--method auto`.
 *
 * The units, measured on a running VM by the same code for the service (at
 * VM start) and the bench (before its cells):
 *   E  exit round trip: the workload pings the VMM with `out`; ns per exit.
 *   Rk one kick sync round over every vCPU, as a patch takes it.
 *   Rn one NMI sync round.
 *   B  the #BP round trip: an int3 held on a 1-site key called in a tight
 *      loop, ns per emulated call (it includes the loop pass around it).
 * A VM start reuses the entry of its (backend, vCPU count) in the runtime
 * directory's host-units.json when it is younger than an hour; the plan
 * says which, and how old.
 *
 * What the model knows at plan time, observed on the VM just before:
 *   c  the key's calls per second over every vCPU, from the guest's own
 *      per-target counters read twice ~60 ms apart (NMI-path calls are
 *      counted there too);
 *   R  the round of the sync kind, Rk or Rn, and P, stop's pause (pause
 *      and resume, nothing written; at most Rk, whose work it does but for
 *      waiting for user mode), each the median of 5 timed now, each
 *      after every vCPU's loop has moved (hvp_units_settle): a round's
 *      cost varies with the workload and the host's load of the moment
 *      (kick rounds took 1.3 ms at --rate 100 against 0.4 ms in a tight
 *      loop here, for reasons not yet understood: the rate-limited loop
 *      spins, it does not halt).  (The boot-time Rk and Rn stand in where
 *      a kind is not timed now.)
 * and S sites, V vCPUs; from them r = c / S calls per second of one site
 * and f = c / (S V) passes per second of one vCPU, whose own loop period
 * 1/f is a gap it has anyway (L below; 0 when it does not call the key).
 * W is the cost of writing and reading back one site (200 ns: a guess, not
 * measured), T the timeout.
 *
 *   stop        one pause and every site written:
 *                 latency = P + S W (+ E with --sync nmi: the NMI on resume)
 *               every vCPU is out of the guest throughout:
 *                 stall   = L + latency + E
 *               completes when latency < T (a pause that times out on a
 *               loaded host is not modelled).
 *   bp-emulate  3 rounds whatever S, three passes of writes:
 *                 latency = 3R + 3 S W
 *               a vCPU's loop loses X per round (E; R on qemu and libvirt,
 *               whose kick round stops the whole VM); a pass that runs while
 *               the int3s are in (3 rounds long, chance min(1, 3Rf)) traps
 *               once per site:
 *                 stall   = L + X + min(1, 3R f) S B
 *               completes when latency < T.
 *   bp-cancel   one site at a time; an attempt holds the int3 in state 1
 *               for one round (window w = R), and a call of the site in it
 *               cancels the attempt (Poisson arrivals at rate r):
 *                 q = P(no hit in an attempt) = exp(-r w)
 *               a good attempt costs 3 rounds, a cancelled one 1, so
 *                 latency = S (3R + (1/q - 1) R)     (expected)
 *               each site gets T/S of the timeout: n = 1 + floor((T/S - 3R)/R)
 *               attempts fit (0 when T/S < 3R, however idle the site), and
 *                 P(complete) = (1 - (1 - q)^n)^S
 *               a vCPU that calls the site in state 2 re-executes until
 *               state 3, up to a round:
 *                 stall   = L + X + min(1, 3R f) (R + B)
 *               In a tight loop r w is in the tens to thousands: q is 0
 *               and the prediction is "does not complete".  The bench
 *               measured better than that (one site, two tight loops:
 *               70-100 % within 1 s): pessimistic, never relied on.  On a
 *               loaded host R grows while the vCPUs that make it slow are
 *               the ones not calling, so w = R overstates the window
 *               there too: also pessimistic.
 *   A row completes when P(complete) >= 0.9; an expected latency past T
 *   is shown as none ("-", null).
 *
 * The choice: among the rows the backend allows that complete, the least
 * predicted stall (--prefer stall, the default) or latency (--prefer
 * latency); among the rows within 10 % of that least, the other figure
 * decides.  Never a row predicted not to complete, nor one whose round (or
 * stop's pause) was not measured; none left is an error, nothing patched.
 *
 * Crude on purpose, and said so in README ("--method auto"): rounds are
 * taken at their p50 (a loaded host's tail is not), journaled backends
 * (qemu, libvirt) pay a durable journal write per step that is not counted,
 * W is a guess, calls are taken as a Poisson process, and the stall ignores
 * host scheduling (an overcommitted VM's vCPU thread waits for a core).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cost.h"
#include "util.h"

/* ---- measuring ---- */

static uint64_t sum_events(struct hvp_backend *be, struct hvp_agent *agent,
			   enum hvp_units_window what)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < be->nr_vcpus; i++) {
		struct hvp_vcpu_exits ex;

		if (what == HVP_UNITS_LOOP)
			n += __atomic_load_n(&agent->vcpu[i].loops, __ATOMIC_RELAXED);
		else if (what == HVP_UNITS_BP)
			n += __atomic_load_n(&agent->vcpu[i].bp_emulated, __ATOMIC_RELAXED);
		else if (be->ops->get_exits(be, i, &ex) == 0)
			n += ex.io_exits;
	}
	return n;
}

unsigned hvp_units_windows(struct hvp_backend *be, struct hvp_agent *agent,
			   enum hvp_units_window what, unsigned n, uint64_t window_ns, double *v)
{
	unsigned w, got = 0;

	for (w = 0; w < n; w++) {
		uint64_t e0, e1, t0, t1;

		e0 = sum_events(be, agent, what);
		t0 = hvp_now_ns();
		hvp_sleep_ns(window_ns);
		e1 = sum_events(be, agent, what);
		t1 = hvp_now_ns();
		if (e1 > e0)
			v[got++] = (double)(t1 - t0) / (double)(e1 - e0);
	}
	return got;
}

void hvp_units_settle(struct hvp_backend *be, struct hvp_agent *agent)
{
	uint64_t before[HVP_MAX_VCPUS], deadline = hvp_now_ns() + 200000000ull;
	unsigned i, moved;

	for (i = 0; i < be->nr_vcpus; i++)
		before[i] = __atomic_load_n(&agent->vcpu[i].loops, __ATOMIC_RELAXED);
	do {
		hvp_sleep_ns(100000);
		for (i = 0, moved = 0; i < be->nr_vcpus; i++)
			moved += !be->ops->vcpu_alive(be, i) ||
				 __atomic_load_n(&agent->vcpu[i].loops, __ATOMIC_RELAXED) !=
					 before[i];
	} while (moved < be->nr_vcpus && hvp_now_ns() < deadline);
}

unsigned hvp_units_rounds(struct hvp_patch_ctx *ctx, enum hvp_sync_kind kind, unsigned n,
			  bool settle, double *v)
{
	unsigned i, got = 0;

	for (i = 0; i < n; i++) {
		uint64_t t0;

		if (settle)
			hvp_units_settle(ctx->be, ctx->agent);
		t0 = hvp_now_ns();
		if (hvp_patch_sync_round(ctx, kind, 2000) == 0)
			v[got++] = (double)(hvp_now_ns() - t0);
	}
	return got;
}

unsigned hvp_units_pauses(struct hvp_patch_ctx *ctx, unsigned n, double *v)
{
	struct hvp_backend *be = ctx->be;
	unsigned i, got = 0;

	for (i = 0; i < n; i++) {
		uint64_t t0;
		int r;

		hvp_units_settle(be, ctx->agent);
		t0 = hvp_now_ns();
		r = be->ops->pause_all(be, 2000);

		/* resumed whatever happened: a failed pause may have parked some */
		be->ops->resume_all(be, false);
		if (r == 0)
			v[got++] = (double)(hvp_now_ns() - t0);
	}
	return got;
}

struct bp_windows {
	struct hvp_patch_ctx *ctx;
	unsigned n, got;
	uint64_t window_ns;
	double *v;
};

static void bp_windows(void *arg)
{
	struct bp_windows *w = arg;

	w->got = hvp_units_windows(w->ctx->be, w->ctx->agent, HVP_UNITS_BP, w->n, w->window_ns,
				   w->v);
}

int hvp_units_bp(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key, unsigned n,
		 uint64_t window_ns, double *v, unsigned *got, struct hvp_patch_result *res)
{
	struct bp_windows w = { .ctx = ctx, .n = n, .window_ns = window_ns, .v = v };
	int r;

	r = hvp_patch_measure_bp(ctx, key, bp_windows, &w, res);
	*got = w.got;
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double hvp_units_median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* VM start: short windows and few rounds, ~0.3 s in all. */
#define START_WINDOWS	3
#define START_WINDOW_NS 25000000ull
#define START_ROUNDS	15
/* Stand-ins where a unit is not measured (this host's order of magnitude). */
#define ASSUMED_EXIT_NS 20000.0
#define ASSUMED_BP_NS	10000.0

void hvp_units_measure(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key, bool nmi,
		       bool own_vmm, struct hvp_units *u)
{
	struct hvp_agent_config *cfg = &ctx->agent->config;
	double v[START_ROUNDS];
	unsigned n;

	memset(u, 0, sizeof(*u));
	u->measured_unix = (int64_t)time(NULL);
	snprintf(u->backend, sizeof(u->backend), "%s", ctx->be->ops->name);
	u->vcpus = ctx->be->nr_vcpus;
	/* Exits and #BPs only on the own VMM: QEMU's exits are not counted
	 * here, and an unjournaled int3 in a VM that outlives us is not left
	 * to chance. */
	if (own_vmm) {
		uint32_t flags = __atomic_load_n(&cfg->flags, __ATOMIC_ACQUIRE);
		struct hvp_patch_result res;

		__atomic_store_n(&cfg->flags, flags | HVP_CFG_PING, __ATOMIC_RELEASE);
		hvp_sleep_ns(10000000);
		n = hvp_units_windows(ctx->be, ctx->agent, HVP_UNITS_EXIT, START_WINDOWS,
				      START_WINDOW_NS, v);
		u->ns[HVP_UNIT_EXIT] = hvp_units_median(v, n);
		__atomic_store_n(&cfg->flags, flags, __ATOMIC_RELEASE);
		__atomic_store_n(&cfg->rate, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&cfg->key_mask, 1u << key->index, __ATOMIC_RELEASE);
		hvp_sleep_ns(10000000);
		if (hvp_units_bp(ctx, key, START_WINDOWS, START_WINDOW_NS, v, &n, &res) == 0)
			u->ns[HVP_UNIT_BP] = hvp_units_median(v, n);
	}
	n = hvp_units_rounds(ctx, HVP_SYNC_KICK, START_ROUNDS, true, v);
	u->ns[HVP_UNIT_KICK] = hvp_units_median(v, n);
	if (nmi) {
		n = hvp_units_rounds(ctx, HVP_SYNC_NMI, START_ROUNDS, true, v);
		u->ns[HVP_UNIT_NMI] = hvp_units_median(v, n);
	}
	if (!u->ns[HVP_UNIT_EXIT]) {
		u->ns[HVP_UNIT_EXIT] = ASSUMED_EXIT_NS;
		u->assumed[HVP_UNIT_EXIT] = true;
	}
	if (!u->ns[HVP_UNIT_BP]) {
		u->ns[HVP_UNIT_BP] = ASSUMED_BP_NS;
		u->assumed[HVP_UNIT_BP] = true;
	}
}

/* ---- the cache ---- */

static const char *const unit_names[HVP_UNIT__COUNT] = {
	[HVP_UNIT_EXIT] = "exit_round_trip_ns",
	[HVP_UNIT_KICK] = "kick_round_ns",
	[HVP_UNIT_NMI] = "nmi_round_ns",
	[HVP_UNIT_BP] = "bp_trap_ns",
};

static int units_path(char *buf, size_t len, const char *rundir)
{
	return snprintf(buf, len, "%s/host-units.json", rundir) < (int)len ? 0 : -ENAMETOOLONG;
}

static json_object *units_read_all(const char *rundir)
{
	char path[PATH_MAX], err[256];
	json_object *o = NULL;
	int fd;

	if (units_path(path, sizeof(path), rundir) < 0)
		return NULL;
	fd = hvp_runfile_open(path, HVP_RUNFILE_READ, err, sizeof(err));
	if (fd < 0)
		return NULL;
	o = json_object_from_fd(fd);
	close(fd);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

int hvp_units_load(const char *rundir, const char *backend, unsigned vcpus, int64_t max_age_s,
		   struct hvp_units *u)
{
	json_object *all = units_read_all(rundir), *e, *v;
	char id[48];
	unsigned i;
	int64_t age;

	if (!all)
		return -ENOENT;
	snprintf(id, sizeof(id), "%s/%u", backend, vcpus);
	memset(u, 0, sizeof(*u));
	if (!json_object_object_get_ex(all, id, &e) || !json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "measured_unix", &v)) {
		json_object_put(all);
		return -ENOENT;
	}
	u->measured_unix = json_object_get_int64(v);
	/* a date before 1970 is no date: and now - INT64_MIN would overflow */
	age = u->measured_unix < 0 ? max_age_s + 1 : (int64_t)time(NULL) - u->measured_unix;
	for (i = 0; i < HVP_UNIT__COUNT; i++) {
		json_object *a;
		char an[64];

		if (json_object_object_get_ex(e, unit_names[i], &v))
			u->ns[i] = json_object_get_double(v);
		snprintf(an, sizeof(an), "%s_assumed", unit_names[i]);
		u->assumed[i] = json_object_object_get_ex(e, an, &a) && json_object_get_boolean(a);
		/* a unit that is not a sane duration makes the entry useless */
		if (!(u->ns[i] >= 0 && u->ns[i] < 60e9))
			age = max_age_s + 1;
	}
	json_object_put(all);
	if (age < 0 || age > max_age_s || !u->ns[HVP_UNIT_KICK])
		return -ESTALE;
	snprintf(u->backend, sizeof(u->backend), "%s", backend);
	u->vcpus = vcpus;
	u->cached = true;
	return 0;
}

int hvp_units_save(const char *rundir, const struct hvp_units *u)
{
	json_object *all = units_read_all(rundir), *e = json_object_new_object();
	char path[PATH_MAX], tmp[PATH_MAX + 32], err[256], id[48];
	const char *s;
	unsigned i;
	int fd, r = 0;

	if (!all)
		all = json_object_new_object();
	for (i = 0; i < HVP_UNIT__COUNT; i++) {
		char an[64];

		json_object_object_add(e, unit_names[i], json_object_new_double(u->ns[i]));
		snprintf(an, sizeof(an), "%s_assumed", unit_names[i]);
		json_object_object_add(e, an, json_object_new_boolean(u->assumed[i]));
	}
	json_object_object_add(e, "measured_unix", json_object_new_int64(u->measured_unix));
	snprintf(id, sizeof(id), "%s/%u", u->backend, u->vcpus);
	json_object_object_add(all, id, e);
	if (units_path(path, sizeof(path), rundir) < 0) {
		json_object_put(all);
		return -ENAMETOOLONG;
	}
	/* another VM may save at the same time: each writes its own file and
	 * renames it over; the last one wins, losing an entry at worst */
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	fd = hvp_runfile_open(tmp, HVP_RUNFILE_NEW, err, sizeof(err));
	if (fd < 0) {
		json_object_put(all);
		return fd;
	}
	s = json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY);
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		r = -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	json_object_put(all);
	return r;
}

json_object *hvp_units_json(const struct hvp_units *u)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < HVP_UNIT__COUNT; i++) {
		json_object_object_add(o, unit_names[i], json_object_new_double(u->ns[i]));
		if (u->assumed[i])
			json_object_array_add(a, json_object_new_string(unit_names[i]));
	}
	json_object_object_add(o, "assumed", a);
	json_object_object_add(o, "source",
			       json_object_new_string(u->cached ? "cached" : "measured"));
	json_object_object_add(o, "measured_unix", json_object_new_int64(u->measured_unix));
	json_object_object_add(o, "age_s",
			       json_object_new_int64((int64_t)time(NULL) - u->measured_unix));
	json_object_object_add(o, "backend", json_object_new_string(u->backend));
	json_object_object_add(o, "vcpus", json_object_new_int((int)u->vcpus));
	return o;
}

/* ---- the model (see the top of this file) ---- */

#define SITE_WRITE_NS 200.0

int hvp_prefer_by_name(const char *name)
{
	if (!strcmp(name, "stall"))
		return HVP_PREFER_STALL;
	if (!strcmp(name, "latency"))
		return HVP_PREFER_LATENCY;
	return -1;
}

/* the round of kind s: timed now, else the boot-time unit (0: neither) */
static double round_of(const struct hvp_units *u, const struct hvp_cost_input *in,
		       enum hvp_sync_kind s)
{
	if (in->round_ns[s])
		return in->round_ns[s];
	return u->ns[s == HVP_SYNC_NMI ? HVP_UNIT_NMI : HVP_UNIT_KICK];
}

/*
 * stop's pause: a pause is a kick round's work (every vCPU out of guest
 * mode, each acknowledged) without waiting for user mode: never dearer than
 * one, whatever a noisy sample of either said; the kick round when no pause
 * was timed, the pause when no kick round was (0: neither)
 */
static double pause_of(const struct hvp_units *u, const struct hvp_cost_input *in)
{
	double Rk = round_of(u, in, HVP_SYNC_KICK);

	return in->pause_ns > 0 && (in->pause_ns < Rk || !(Rk > 0)) ? in->pause_ns : Rk;
}

static void predict(const struct hvp_units *u, const struct hvp_cost_input *in,
		    struct hvp_cost_row *row)
{
	double E = u->ns[HVP_UNIT_EXIT], B = u->ns[HVP_UNIT_BP];
	double R = round_of(u, in, row->sync), P = pause_of(u, in);
	double S = in->sites ? in->sites : 1, V = in->vcpus ? in->vcpus : 1;
	double T = in->timeout_ms * 1e6, r = in->calls_per_s / S, f = in->calls_per_s / (S * V);
	/* a vCPU's own loop period: a gap it has anyway (rate-limited loops) */
	double loop = f > 0 ? 1e9 / f : 0;
	/* what one round costs a vCPU's loop */
	double X = in->round_stops_vm && row->sync == HVP_SYNC_KICK ? R : E;
	double q, n, psite, hit;

	switch (row->method) {
	case HVP_METHOD_STOP:
		row->latency_ns = P + S * SITE_WRITE_NS + (row->sync == HVP_SYNC_NMI ? E : 0);
		row->stall_ns = loop + row->latency_ns + E;
		row->p_complete = row->latency_ns < T;
		break;
	case HVP_METHOD_BP_EMULATE:
		row->latency_ns = 3 * R + 3 * S * SITE_WRITE_NS;
		hit = fmin(1, 3 * R * 1e-9 * f);
		row->stall_ns = loop + X + hit * S * B;
		row->p_complete = row->latency_ns < T;
		break;
	default: /* HVP_METHOD_BP_CANCEL */
		q = exp(-r * R * 1e-9);
		n = T / S >= 3 * R ? 1 + floor((T / S - 3 * R) / R) : 0;
		/* no attempt fits: not done, however idle the site (0^0 = 1) */
		psite = !n ? 0 : q >= 1 ? 1 : -expm1(n * log1p(-q));
		row->p_complete = pow(psite, S);
		row->latency_ns = q > 0 ? S * (3 * R + (1 / q - 1) * R) : INFINITY;
		hit = fmin(1, 3 * R * 1e-9 * f);
		row->stall_ns = loop + X + hit * (R + B);
		snprintf(row->note, sizeof(row->note),
			 "%.3g calls/s per site against a %.0f us window: P(no hit) %.2g", r,
			 R / 1e3, q);
		break;
	}
	/* a unit that is no duration (NaN, negative, infinite) predicts
	 * nothing: no such figure is taken, nor said in why */
	if (!(row->latency_ns >= 0) || !(row->stall_ns >= 0) || isinf(row->stall_ns)) {
		row->p_complete = 0;
		snprintf(row->note, sizeof(row->note), "a unit cost is not a duration");
	}
	if (!(row->p_complete >= 0))
		row->p_complete = 0;
	row->completes = row->p_complete >= HVP_COST_P_OK;
	if (!row->completes && !row->note[0])
		snprintf(row->note, sizeof(row->note), "%.0f us against a %d ms timeout",
			 row->latency_ns / 1e3, in->timeout_ms);
	/* an expectation past the timeout is no latency: it does not complete */
	if (row->latency_ns > T)
		row->latency_ns = INFINITY;
}

/* a row's figure under prefer (other: the other one) */
static double figure(const struct hvp_cost_row *r, enum hvp_prefer prefer, bool other)
{
	return (prefer == HVP_PREFER_STALL) != other ? r->stall_ns : r->latency_ns;
}

/*
 * Among the rows that complete, the least figure; within 10 % of it, the
 * least other figure (then the least figure, then the first row): -1 when
 * none completes.  Against the least, not pairwise in table order, where a
 * row within 10 % of the one held but not of the least could win.
 */
static int choose(const struct hvp_cost_plan *plan, enum hvp_prefer prefer)
{
	double least = 0;
	int i, c = -1;

	for (i = 0; i < (int)plan->nr; i++)
		if (plan->row[i].completes &&
		    (c < 0 || figure(&plan->row[i], prefer, false) < least)) {
			least = figure(&plan->row[i], prefer, false);
			c = i;
		}
	for (i = 0; c >= 0 && i < (int)plan->nr; i++) {
		const struct hvp_cost_row *r = &plan->row[i], *b = &plan->row[c];

		if (!r->completes || least < figure(r, prefer, false) * 0.9)
			continue;
		if (figure(r, prefer, true) < figure(b, prefer, true) ||
		    (figure(r, prefer, true) == figure(b, prefer, true) &&
		     figure(r, prefer, false) < figure(b, prefer, false)))
			c = i;
	}
	return c;
}

void hvp_cost_plan(const struct hvp_units *u, const struct hvp_cost_input *in,
		   enum hvp_prefer prefer, unsigned sync_mask, struct hvp_cost_plan *plan)
{
	static const enum hvp_method order[] = { HVP_METHOD_STOP, HVP_METHOD_BP_EMULATE,
						 HVP_METHOD_BP_CANCEL };
	unsigned i, s, ok = 0;
	int lost = -1;
	char more[128] = "";

	memset(plan, 0, sizeof(*plan));
	plan->chosen = -1;
	plan->prefer = prefer;
	for (i = 0; i < HVP_ARRAY_SIZE(order); i++) {
		for (s = 0; s < 2; s++) {
			struct hvp_cost_row *row = &plan->row[plan->nr];

			if (!(sync_mask & (1u << s)))
				continue;
			plan->nr++;
			row->method = order[i];
			row->sync = (enum hvp_sync_kind)s;
			row->allowed = in->allowed[order[i]][s];
			if (!row->allowed) {
				snprintf(row->note, sizeof(row->note), "%s",
					 in->why_not ? in->why_not : "refused by the backend");
				continue;
			}
			/* what is not measured is not predicted: stop's pause, the
			 * round of bp-* (stop's NMI is one on resume, not a round) */
			if (order[i] == HVP_METHOD_STOP ? !(pause_of(u, in) > 0) :
							  !(round_of(u, in, row->sync) > 0)) {
				row->allowed = false;
				snprintf(row->note, sizeof(row->note), "no %s measured",
					 order[i] == HVP_METHOD_STOP ? "pause or kick round" :
					 s == HVP_SYNC_NMI	     ? "NMI round" :
								       "kick round");
				continue;
			}
			predict(u, in, row);
			if (!row->completes) {
				if (lost < 0)
					lost = (int)(plan->nr - 1);
				continue;
			}
			ok++;
		}
	}
	plan->chosen = choose(plan, prefer);
	if (lost >= 0)
		snprintf(more, sizeof(more), "; not %s/%s: P(done) %.2f (%s)",
			 hvp_methods[plan->row[lost].method].name,
			 hvp_sync_name(plan->row[lost].sync), plan->row[lost].p_complete,
			 plan->row[lost].note);
	if (plan->chosen < 0) {
		snprintf(plan->why, sizeof(plan->why),
			 "no method is predicted to complete within %d ms%s", in->timeout_ms, more);
		return;
	}
	{
		const struct hvp_cost_row *c = &plan->row[plan->chosen];
		char fig[2][32];

		/* bp-cancel may complete with an expected latency past T */
		for (i = 0; i < 2; i++)
			if (isfinite(figure(c, prefer, i)))
				snprintf(fig[i], sizeof(fig[i]), "%.0f us",
					 figure(c, prefer, i) / 1e3);
			else
				snprintf(fig[i], sizeof(fig[i]), "expected past the timeout");
		snprintf(plan->why, sizeof(plan->why),
			 "least predicted %s (%s; %s %s) of %u predicted to complete within %d ms%s",
			 prefer == HVP_PREFER_STALL ? "stall" : "latency", fig[0],
			 prefer == HVP_PREFER_STALL ? "latency" : "stall", fig[1], ok,
			 in->timeout_ms, more);
	}
}

static json_object *ns_json(double ns)
{
	return isfinite(ns) ? json_object_new_int64((int64_t)(ns + 0.5)) : NULL;
}

json_object *hvp_cost_row_json(const struct hvp_cost_row *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "method", json_object_new_string(hvp_methods[r->method].name));
	json_object_object_add(o, "sync", json_object_new_string(hvp_sync_name(r->sync)));
	json_object_object_add(o, "allowed", json_object_new_boolean(r->allowed));
	if (r->allowed) {
		json_object_object_add(o, "latency_ns", ns_json(r->latency_ns));
		json_object_object_add(o, "max_stall_ns", ns_json(r->stall_ns));
		json_object_object_add(o, "p_complete",
				       json_object_new_double(round(r->p_complete * 1e4) / 1e4));
		json_object_object_add(o, "completes", json_object_new_boolean(r->completes));
	}
	if (r->note[0])
		json_object_object_add(o, "note", json_object_new_string(r->note));
	return o;
}

json_object *hvp_cost_plan_json(const struct hvp_units *u, const struct hvp_cost_input *in,
				const struct hvp_cost_plan *plan)
{
	json_object *o = json_object_new_object(), *obs = json_object_new_object();
	json_object *rows = json_object_new_array();
	unsigned i;

	json_object_object_add(o, "prefer",
			       json_object_new_string(
				       plan->prefer == HVP_PREFER_STALL ? "stall" : "latency"));
	json_object_object_add(o, "timeout_ms", json_object_new_int(in->timeout_ms));
	json_object_object_add(obs, "sites", json_object_new_int((int)in->sites));
	json_object_object_add(obs, "vcpus", json_object_new_int((int)in->vcpus));
	json_object_object_add(obs, "window_ms", json_object_new_double(round(in->window_ms)));
	json_object_object_add(obs, "calls_per_s", json_object_new_double(round(in->calls_per_s)));
	json_object_object_add(obs, "calls_per_site_per_s",
			       json_object_new_double(
				       round(in->calls_per_s / (in->sites ? in->sites : 1))));
	json_object_object_add(obs, "nmis_per_s", json_object_new_double(round(in->nmis_per_s)));
	json_object_object_add(obs, "pause_ns", in->pause_ns ? ns_json(in->pause_ns) : NULL);
	json_object_object_add(obs, "kick_round_ns",
			       in->round_ns[HVP_SYNC_KICK] ? ns_json(in->round_ns[HVP_SYNC_KICK]) :
							     NULL);
	json_object_object_add(obs, "nmi_round_ns",
			       in->round_ns[HVP_SYNC_NMI] ? ns_json(in->round_ns[HVP_SYNC_NMI]) :
							    NULL);
	json_object_object_add(o, "observed", obs);
	json_object_object_add(o, "units", hvp_units_json(u));
	for (i = 0; i < plan->nr; i++)
		json_object_array_add(rows, hvp_cost_row_json(&plan->row[i]));
	json_object_object_add(o, "predictions", rows);
	if (plan->chosen >= 0) {
		const struct hvp_cost_row *c = &plan->row[plan->chosen];

		json_object_object_add(o, "method",
				       json_object_new_string(hvp_methods[c->method].name));
		json_object_object_add(o, "sync", json_object_new_string(hvp_sync_name(c->sync)));
	}
	json_object_object_add(o, "why", json_object_new_string(plan->why));
	return o;
}
