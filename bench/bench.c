// SPDX-License-Identifier: GPL-2.0-only
/*
 * The benchmark runner.  It is the patch service of its own VMs: it boots
 * them in-process, reconfigures their workloads between cells through the
 * agent area (keys, hit rate, NMI storm) and calls the patch engine directly,
 * so that nothing but the patch itself is measured.
 *
 * Order: host unit costs first, on a 1-vCPU VM; then the cells.  Within a
 * parameter point the methods (and the auto column) are interleaved and
 * rotated (A B C D, B C D A, ...) so that the machine's drift, and what the
 * previous patch left behind, hit all alike.  Every sample is kept in the report.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backends.h"
#include "bench.h"
#include "cost.h"
#include "patch.h"
#include "report.h"
#include "service.h"
#include "util.h"
#include "witness.h"

#define WINDOW_NS     100000000ull /* unit costs: 100 ms windows */
#define WINDOWS	      8
#define ROUND_SAMPLES 30

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static json_object *stats_json(const double *v, unsigned n)
{
	json_object *o = json_object_new_object();
	double *s, sum = 0, sq = 0, mean = 0, sd = 0;
	unsigned i;

#define PCT(p) (n ? s[(unsigned)((p) * (n - 1) + 0.5)] : 0.0)
	s = malloc(sizeof(double) * (n ? n : 1));
	if (n)
		memcpy(s, v, sizeof(double) * n);
	qsort(s, n, sizeof(double), cmp_double);
	for (i = 0; i < n; i++)
		sum += s[i];
	if (n)
		mean = sum / n;
	for (i = 0; i < n; i++)
		sq += (s[i] - mean) * (s[i] - mean);
	if (n > 1)
		sd = sqrt(sq / (n - 1));
	json_object_object_add(o, "n", json_object_new_int((int)n));
	json_object_object_add(o, "min", json_object_new_double(n ? s[0] : 0));
	json_object_object_add(o, "p50", json_object_new_double(PCT(0.50)));
	json_object_object_add(o, "p90", json_object_new_double(PCT(0.90)));
	json_object_object_add(o, "p99", json_object_new_double(PCT(0.99)));
	json_object_object_add(o, "max", json_object_new_double(n ? s[n - 1] : 0));
	json_object_object_add(o, "mean", json_object_new_double(mean));
	json_object_object_add(o, "sd", json_object_new_double(sd));
#undef PCT
	free(s);
	return o;
}

/* A unit cost's summary with its samples, from which the report draws the p50's interval. */
static json_object *stats_json_samples(const double *v, unsigned n)
{
	json_object *o = stats_json(v, n), *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	json_object_object_add(o, "samples", a);
	return o;
}

static double stats_p50(json_object *st)
{
	json_object *v;

	return json_object_object_get_ex(st, "p50", &v) ? json_object_get_double(v) : 0;
}

/* ---- VMs ---- */

struct bench {
	const struct hvp_bench_opts *o;
	struct hvp_service *vm; /* at most one alive: two host cores */
	unsigned vm_vcpus;
	unsigned vm_backend;
	json_object *cells;
	unsigned done, total; /* progress */
	double kick_round_ns, nmi_round_ns;
	struct hvp_units units; /* the auto column's, from unit_costs() */
	bool witness_ok;
	struct hvp_bpf_witness *bpf; /* NULL: absent, bpf_why says why */
	char bpf_why[256];
};

static void vm_drop(struct bench *b)
{
	if (b->vm)
		hvp_service_free(b->vm);
	b->vm = NULL;
	b->vm_vcpus = 0;
}

/*
 * The VM of the current point; qemu and libvirt VMs keep their files (RAM,
 * QMP socket, embedded libvirt root) in the runtime directory, under a name
 * of this process's own.
 */
static int vm_get(struct bench *b, unsigned vcpus, unsigned backend, char *err, size_t errlen)
{
	struct hvp_vm_opts vo = { 0 };
	int r;

	if (b->vm && b->vm_vcpus == vcpus && b->vm_backend == backend)
		return 0;
	vm_drop(b);
	snprintf(vo.name, sizeof(vo.name), "bench%ld", (long)getpid());
	snprintf(vo.backend, sizeof(vo.backend), "%s", hvp_backend_kinds[backend].name);
	snprintf(vo.rundir, sizeof(vo.rundir), "%s", hvp_rundir());
	if (hvp_backend_kinds[backend].external &&
	    (r = hvp_rundir_ensure(vo.rundir, err, errlen)) < 0)
		return r;
	snprintf(vo.image, sizeof(vo.image), "%s", b->o->image);
	vo.vcpus = vcpus;
	vo.mem_mib = 64;
	b->vm = hvp_service_new(&vo);
	if (!b->vm)
		return -ENOMEM;
	r = hvp_service_boot(b->vm, err, errlen);
	if (r < 0) {
		vm_drop(b);
		return r;
	}
	b->vm_vcpus = vcpus;
	b->vm_backend = backend;
	return 0;
}

/* The engine's view of the bench's VM: no journal, nothing stops it. */
static struct hvp_patch_ctx patch_ctx(struct bench *b)
{
	return (struct hvp_patch_ctx){ .be = hvp_service_backend(b->vm),
				       .agent = hvp_service_agent(b->vm) };
}

/* The workload calls `key` at `rate` passes/s (0: tight); NMIs at nmi_hz call it too. */
static void workload(struct bench *b, const struct hvp_key_info *key, uint64_t rate,
		     uint64_t nmi_hz, uint32_t flags)
{
	struct hvp_agent_config *cfg = &hvp_service_agent(b->vm)->config;

	__atomic_store_n(&cfg->flags, flags, __ATOMIC_RELEASE);
	__atomic_store_n(&cfg->rate, rate, __ATOMIC_RELEASE);
	__atomic_store_n(&cfg->key_mask, key ? 1u << key->index : 0, __ATOMIC_RELEASE);
	hvp_service_set_nmi(b->vm, nmi_hz, nmi_hz ? key : NULL);
	hvp_sleep_ns(30000000); /* let every vCPU settle into it */
}

static const struct hvp_key_info *key_for_sites(struct hvp_service *s, unsigned sites)
{
	const struct hvp_key_info *best = NULL, *keys;
	unsigned i, nr;

	keys = hvp_service_keys(s, &nr);
	for (i = 0; i < nr; i++) {
		const struct hvp_key_info *k = &keys[i];

		if (k->kind == HVP_KEY_INLINE && k->nr_sites == sites)
			return k;
		if (k->kind == HVP_KEY_INLINE && (!best || k->nr_sites < best->nr_sites))
			best = k;
	}
	return best;
}

/* ---- host unit costs (measured by vmm/cost.c, as the service does) ---- */

static json_object *measure_windows(struct bench *b, enum hvp_units_window what)
{
	double v[WINDOWS];

	return stats_json_samples(v, hvp_units_windows(hvp_service_backend(b->vm),
						       hvp_service_agent(b->vm), what, WINDOWS,
						       WINDOW_NS, v));
}

/* back to back, as the bench always has: its reports stay comparable */
static json_object *measure_rounds(struct bench *b, enum hvp_sync_kind kind)
{
	struct hvp_patch_ctx ctx = patch_ctx(b);
	struct hvp_patch_boost boost;
	double v[ROUND_SAMPLES];
	unsigned n;

	/* as a patch waits for its rounds, so that the unit and the cells compare */
	hvp_patch_boost(&ctx, &boost);
	n = hvp_units_rounds(&ctx, kind, ROUND_SAMPLES, false, v);
	hvp_patch_unboost(&boost);
	return stats_json_samples(v, n);
}

/*
 * #BP round trip: the engine holds an int3 on the 1-site key, with the
 * bp-emulate vector telling the guest to emulate its call, while we count
 * traps; then it takes it out with a sync round before the vector goes.
 */
static json_object *measure_bp(struct bench *b, const struct hvp_key_info *k)
{
	struct hvp_patch_ctx ctx = patch_ctx(b);
	struct hvp_patch_result res;
	double v[WINDOWS];
	unsigned n = 0;

	int r = hvp_units_bp(&ctx, k, WINDOWS, WINDOW_NS, v, &n, &res);

	if (r < 0)
		fprintf(stderr, "bench: #BP round trip: %s\n", res.reason);
	return n || r == 0 ? stats_json_samples(v, n) : stats_json(NULL, 0);
}

static int unit_costs(struct bench *b, json_object *report, char *err, size_t errlen)
{
	json_object *u = json_object_new_object(), *kick, *nmi, *exit, *bp;
	const struct hvp_key_info *single;
	int r;

	r = vm_get(b, 1, 0, err, errlen); /* the own VMM, first in the table */
	if (r < 0) {
		json_object_put(u);
		return r;
	}
	single = key_for_sites(b->vm, 1);
	workload(b, NULL, 0, 0, HVP_CFG_PING);
	exit = measure_windows(b, HVP_UNITS_EXIT);
	json_object_object_add(u, "exit_round_trip_ns", exit);
	workload(b, single, 0, 0, 0);
	json_object_object_add(u, "loop_baseline_ns", measure_windows(b, HVP_UNITS_LOOP));
	kick = measure_rounds(b, HVP_SYNC_KICK);
	nmi = measure_rounds(b, HVP_SYNC_NMI);
	b->kick_round_ns = stats_p50(kick);
	b->nmi_round_ns = stats_p50(nmi);
	json_object_object_add(u, "kick_round_ns", kick);
	json_object_object_add(u, "nmi_round_ns", nmi);
	bp = measure_bp(b, single);
	json_object_object_add(u, "bp_trap_ns", bp);
	b->units = (struct hvp_units){ .ns = { [HVP_UNIT_EXIT] = stats_p50(exit),
					       [HVP_UNIT_KICK] = b->kick_round_ns,
					       [HVP_UNIT_NMI] = b->nmi_round_ns,
					       [HVP_UNIT_BP] = stats_p50(bp) },
				       .measured_unix = (int64_t)time(NULL),
				       .backend = "kvm",
				       .vcpus = 1 };
	json_object_object_add(u, "vcpus", json_object_new_int(1));
	json_object_object_add(report, "unit_costs", u);
	return 0;
}

/* ---- cells ---- */

struct cell {
	unsigned n, completed;
	uint64_t faults;
	double lat[256], rounds[256], retries[256], rollbacks[256], traps[256], stall[256];
	double vstall[HVP_MAX_VCPUS][256]; /* each vCPU's own longest gap */
	struct hvp_round_info slowest;	   /* the cell's slowest round and its holders */
	bool ok[256];
	struct hvp_kvm_witness w; /* sums over this cell's attempts */
	uint64_t exits;
	uint64_t bpf_exits, bpf_pio;
};

static const char *group_names[] = { "latency", "hitrate", "nmi", "batch", "vcpus", "backend" };
enum { G_LATENCY, G_HITRATE, G_NMI, G_BATCH, G_VCPUS, G_BACKEND };

struct point {
	unsigned group;
	unsigned backend; /* index in hvp_backend_kinds[] */
	enum hvp_sync_kind sync;
	unsigned vcpus;
	uint64_t rate, nmi_rate;
	unsigned sites;
};

static void witness_sum(struct hvp_service *s, struct hvp_kvm_witness *w, uint64_t *io, bool *ok)
{
	struct hvp_backend *be = hvp_service_backend(s);
	unsigned i;

	memset(w, 0, sizeof(*w));
	*io = 0;
	for (i = 0; i < be->nr_vcpus; i++) {
		struct hvp_kvm_witness x;
		struct hvp_vcpu_exits ex;

		if (be->ops->witness && be->ops->witness(be, i, &x) == 0) {
			w->exits += x.exits;
			w->io_exits += x.io_exits;
			w->signal_exits += x.signal_exits;
			w->nmi_injections += x.nmi_injections;
			w->insn_emulation += x.insn_emulation;
		} else {
			*ok = false;
		}
		if (be->ops->get_exits(be, i, &ex) == 0)
			*io += ex.exits;
	}
}

static void progress(struct bench *b, const char *what)
{
	int width = 40, fill;

	b->done++;
	if (!b->o->progress || !b->total)
		return;
	fill = (int)((uint64_t)width * b->done / b->total);
	fprintf(stderr, "\r[%.*s%*s] %3u%% %-48.48s", fill,
		"########################################", width - fill, "",
		100 * b->done / b->total, what);
	fflush(stderr);
}

/* vCPU i's longest loop gap since the patch began (TSC to ns), at least at_least. */
static uint64_t window_gap(struct hvp_service *s, unsigned i, uint64_t at_least)
{
	struct hvp_backend *be = hvp_service_backend(s);
	struct hvp_agent *agent = hvp_service_agent(s);
	uint64_t g = __atomic_load_n(&agent->vcpu[i].window_max_gap, __ATOMIC_RELAXED);
	uint64_t ns = be->tsc_khz ? g * 1000000u / be->tsc_khz : 0;

	return ns > at_least ? ns : at_least;
}

_Static_assert(HVP_BENCH_AUTO == HVP_METHOD__COUNT, "the auto column follows the methods");

static const char *method_name(unsigned m)
{
	return m == HVP_BENCH_AUTO ? "auto" : hvp_methods[m].name;
}

/* extra: the auto column's choice and its comparison (NULL: a method's cell) */
static void cell_finish(struct bench *b, struct cell *c, const struct point *pt, unsigned method,
			json_object *extra)
{
	json_object *o = json_object_new_object(), *p = json_object_new_object();
	json_object *raw = json_object_new_object(), *a, *w;
	double round = pt->sync == HVP_SYNC_NMI ? b->nmi_round_ns : b->kick_round_ns;
	double inrounds[256];
	unsigned i;
	char id[160];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	bool own;

	snprintf(id, sizeof(id), "%s/%s/%s/v%u/r%llu/nmi%llu/s%u%s%s", group_names[pt->group],
		 method_name(method), hvp_sync_name(pt->sync), pt->vcpus,
		 (unsigned long long)pt->rate, (unsigned long long)pt->nmi_rate, pt->sites,
		 pt->group == G_BACKEND ? "/" : "",
		 pt->group == G_BACKEND ? hvp_backend_kinds[pt->backend].name : "");
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "group", json_object_new_string(group_names[pt->group]));
	json_object_object_add(p, "method", json_object_new_string(method_name(method)));
	json_object_object_add(p, "sync", json_object_new_string(hvp_sync_name(pt->sync)));
	json_object_object_add(p, "vcpus", json_object_new_int((int)pt->vcpus));
	json_object_object_add(p, "rate", json_object_new_int64((int64_t)pt->rate));
	json_object_object_add(p, "nmi_rate", json_object_new_int64((int64_t)pt->nmi_rate));
	json_object_object_add(p, "key",
			       json_object_new_string(key_for_sites(b->vm, pt->sites)->name));
	json_object_object_add(p, "sites", json_object_new_int((int)pt->sites));
	json_object_object_add(p, "backend",
			       json_object_new_string(hvp_backend_kinds[pt->backend].name));
	/* absent on the others: old reports read the same (auto is past the table) */
	if (method < HVP_METHOD__COUNT && hvp_methods[method].unsafe)
		json_object_object_add(p, "unsafe", json_object_new_boolean(true));
	json_object_object_add(o, "params", p);
	json_object_object_add(o, "overcommitted",
			       json_object_new_boolean(pt->vcpus + 1 > (unsigned)cores));
	json_object_object_add(o, "attempts", json_object_new_int((int)c->n));
	json_object_object_add(o, "completed", json_object_new_int((int)c->completed));
	json_object_object_add(o, "completion_rate",
			       json_object_new_double(c->n ? (double)c->completed / c->n : 0));
	for (i = 0; i < c->n; i++)
		inrounds[i] = round > 0 ? c->lat[i] / round : 0;
	json_object_object_add(o, "latency_ns", stats_json(c->lat, c->n));
	json_object_object_add(o, "latency_rounds", stats_json(inrounds, c->n));
	json_object_object_add(o, "sync_rounds", stats_json(c->rounds, c->n));
	json_object_object_add(o, "retries", stats_json(c->retries, c->n));
	json_object_object_add(o, "rollbacks", stats_json(c->rollbacks, c->n));
	json_object_object_add(o, "bp_traps", stats_json(c->traps, c->n));
	json_object_object_add(o, "max_stall_ns", stats_json(c->stall, c->n));
	a = json_object_new_array();
	for (i = 0; i < pt->vcpus && i < HVP_MAX_VCPUS; i++)
		json_object_array_add(a, stats_json(c->vstall[i], c->n));
	json_object_object_add(o, "max_stall_ns_by_vcpu", a);
	if (c->slowest.what)
		json_object_object_add(o, "slowest_round", hvp_round_json(&c->slowest));
	json_object_object_add(o, "faults", json_object_new_int64((int64_t)c->faults));
	w = json_object_new_object();
	/* The witnesses watch this process's own vCPU threads: a qemu or
	 * libvirt VM's vCPUs are QEMU's, so there they measure nothing. */
	own = !hvp_backend_kinds[pt->backend].external;
	json_object_object_add(w, "kvm_exits",
			       b->witness_ok && own ? json_object_new_int64((int64_t)c->w.exits) :
						      NULL);
	json_object_object_add(w, "kvm_signal_exits",
			       b->witness_ok && own ?
				       json_object_new_int64((int64_t)c->w.signal_exits) :
				       NULL);
	json_object_object_add(w, "kvm_nmi_injections",
			       b->witness_ok && own ?
				       json_object_new_int64((int64_t)c->w.nmi_injections) :
				       NULL);
	json_object_object_add(w, "hvpatch_exits", json_object_new_int64((int64_t)c->exits));
	json_object_object_add(w, "bpf_userspace_exits",
			       b->bpf && own ? json_object_new_int64((int64_t)c->bpf_exits) : NULL);
	json_object_object_add(w, "bpf_pio",
			       b->bpf && own ? json_object_new_int64((int64_t)c->bpf_pio) : NULL);
	json_object_object_add(o, "witness", w);
#define RAW(name, arr)                                                            \
	do {                                                                      \
		a = json_object_new_array();                                      \
		for (i = 0; i < c->n; i++)                                        \
			json_object_array_add(a, json_object_new_double(arr[i])); \
		json_object_object_add(raw, name, a);                             \
	} while (0)
	RAW("latency_ns", c->lat);
	RAW("max_stall_ns", c->stall);
	RAW("sync_rounds", c->rounds);
	RAW("rollbacks", c->rollbacks);
#undef RAW
	a = json_object_new_array();
	for (i = 0; i < c->n; i++)
		json_object_array_add(a, json_object_new_boolean(c->ok[i]));
	json_object_object_add(raw, "completed", a);
	json_object_object_add(o, "raw", raw);
	if (extra)
		json_object_object_add(o, "auto", extra);
	json_object_array_add(b->cells, o);
}

/* Is method m in the run?  A test-only one only with --unsafe. */
static bool bench_method(unsigned mask, bool unsafe, unsigned m)
{
	return (mask & (1u << m)) && (m == HVP_BENCH_AUTO || unsafe || !hvp_methods[m].unsafe);
}

static unsigned count_methods(unsigned mask, bool unsafe);

/* The auto column's plan, once per point. */
struct auto_plan {
	struct hvp_cost_input in;
	struct hvp_cost_plan plan;
};

static double cell_p50(const struct cell *c)
{
	double v[256];

	memcpy(v, c->lat, sizeof(double) * c->n);
	return hvp_units_median(v, c->n);
}

/*
 * The auto cell's "auto": its choice, why and what was predicted, against
 * the method whose cell had the least latency p50 among those that
 * completed every attempt (any, if none did); within the target when
 * auto's p50 is within 10 % of it or one sync round above.
 */
static json_object *auto_json(struct bench *b, const struct point *pt, const struct auto_plan *au,
			      const struct cell *cells, const unsigned *methods, unsigned nm)
{
	json_object *o = json_object_new_object();
	/* one round of the point's kind on the point's VM and workload, as
	 * the plan timed it (the 1-vCPU unit cost if it did not) */
	double round = au->in.round_ns[pt->sync] > 0 ? au->in.round_ns[pt->sync] :
		       pt->sync == HVP_SYNC_NMI	     ? b->nmi_round_ns :
						       b->kick_round_ns;
	double best = INFINITY, p50 = NAN;
	int bm = -1, pass;
	unsigned m;

	for (pass = 0; pass < 2 && bm < 0; pass++)
		for (m = 0; m < nm; m++) {
			const struct cell *c = &cells[m];

			if (methods[m] == HVP_BENCH_AUTO || !c->n ||
			    (pass == 0 && c->completed < c->n) || !(cell_p50(c) < best))
				continue;
			best = cell_p50(c);
			bm = (int)m;
		}
	for (m = 0; m < nm; m++)
		if (methods[m] == HVP_BENCH_AUTO && cells[m].n) {
			p50 = cell_p50(&cells[m]);
			json_object_object_add(o, "completed_all",
					       json_object_new_boolean(cells[m].completed ==
								       cells[m].n));
		}
	if (au->plan.chosen >= 0) {
		const struct hvp_cost_row *row = &au->plan.row[au->plan.chosen];

		json_object_object_add(o, "choice",
				       json_object_new_string(hvp_methods[row->method].name));
		json_object_object_add(o, "choice_sync",
				       json_object_new_string(hvp_sync_name(row->sync)));
		json_object_object_add(o, "predicted", hvp_cost_row_json(row));
	} else {
		json_object_object_add(o, "choice", NULL);
		json_object_object_add(o, "completed_all", json_object_new_boolean(false));
	}
	json_object_object_add(o, "prefer", json_object_new_string("latency"));
	json_object_object_add(o, "why", json_object_new_string(au->plan.why));
	json_object_object_add(o, "p50_ns", isfinite(p50) ? json_object_new_double(p50) : NULL);
	json_object_object_add(o, "best_method",
			       bm >= 0 ? json_object_new_string(method_name(methods[bm])) : NULL);
	json_object_object_add(o, "best_p50_ns", bm >= 0 ? json_object_new_double(best) : NULL);
	json_object_object_add(o, "round_ns", json_object_new_double(round));
	json_object_object_add(o, "within_target",
			       json_object_new_boolean(isfinite(p50) && bm >= 0 &&
						       (p50 <= best * 1.1 || p50 <= best + round)));
	return o;
}

/* One parameter point: every selected method, interleaved, `repeat` times. */
static int run_point(struct bench *b, const struct point *pt, char *err, size_t errlen)
{
	struct cell *cells;
	const struct hvp_key_info *k;
	unsigned r, m, i, v, nm = 0, methods[HVP_METHOD__COUNT + 1];
	struct auto_plan au = { .plan.chosen = -1 };
	unsigned repeat = b->o->repeat > 256 ? 256 : b->o->repeat;
	int ret;

	ret = vm_get(b, pt->vcpus, pt->backend, err, errlen);
	if (ret < 0 && pt->group == G_BACKEND) {
		/* a backend this host lacks: said, skipped, the run goes on */
		fprintf(stderr, "\nbench: backend %s unavailable, skipped: %s\n",
			hvp_backend_kinds[pt->backend].name, err);
		err[0] = 0;
		b->done += b->o->repeat * count_methods(b->o->methods, b->o->unsafe);
		return 0;
	}
	if (ret < 0)
		return ret;
	k = key_for_sites(b->vm, pt->sites);
	workload(b, k, pt->rate, pt->nmi_rate, 0);
	for (m = 0; m <= HVP_BENCH_AUTO; m++)
		if (bench_method(b->o->methods, b->o->unsafe, m))
			methods[nm++] = m;
	if (b->o->methods & (1u << HVP_BENCH_AUTO)) {
		/* once per point: what it observes is the point's workload */
		hvp_service_set_units(b->vm, &b->units);
		hvp_service_plan(b->vm, k, b->o->timeout_ms, HVP_PREFER_LATENCY, 1u << pt->sync,
				 &au.in, &au.plan);
	}
	cells = calloc(nm, sizeof(*cells));
	if (!cells)
		return -ENOMEM;
	for (r = 0; r < repeat; r++) {
		/* rotated each repeat, so that every column follows every other
		 * alike: the auto column is one of them, and a method run right
		 * after itself (auto's choice) came out faster than after another */
		for (i = 0, m = r % nm; i < nm; i++, m = (m + 1) % nm) {
			struct hvp_patch_ctx ctx = patch_ctx(b);
			struct hvp_patch_req rq = {
				.key = k,
				.method =
					methods[m] == HVP_BENCH_AUTO ? HVP_METHOD_STOP : methods[m],
				.sync = pt->sync,
				.timeout_ms = b->o->timeout_ms,
				.unsafe = b->o->unsafe,
			};
			struct hvp_patch_result res;
			struct cell *c = &cells[m];
			struct hvp_kvm_witness w0, w1;
			struct hvp_bpf_counts bp0 = { 0 }, bp1 = { 0 };
			uint8_t insn[HVP_INSN_LEN];
			uint64_t dest = 0, e0, e1;
			char what[64];

			if (methods[m] == HVP_BENCH_AUTO) {
				if (au.plan.chosen < 0) {
					/* nothing predicted to complete: no patch, flagged */
					progress(b, "auto: no choice");
					continue;
				}
				rq.method = au.plan.row[au.plan.chosen].method;
				rq.sync = au.plan.row[au.plan.chosen].sync;
			}
			hvp_units_settle(hvp_service_backend(b->vm), hvp_service_agent(b->vm));
			witness_sum(b->vm, &w0, &e0, &b->witness_ok);
			if (b->bpf)
				hvp_bpf_witness_read(b->bpf, &bp0);
			/* alternate between the near target _a and the far _c */
			memcpy(insn, hvp_service_backend(b->vm)->ram + k->sites[0], HVP_INSN_LEN);
			hvp_agent_decode(insn, k->sites[0], k->opcode, &dest);
			rq.target = hvp_key_target_index(k, dest) == 0 ? k->nr_targets - 1 : 0;
			ret = hvp_patch_apply(&ctx, &rq, &res);
			/*
			 * A vCPU records a gap only when its loop runs again: a
			 * vCPU held out of the guest until the patch's end (stop)
			 * has not yet, so wait for every vCPU's next pass.
			 */
			hvp_units_settle(hvp_service_backend(b->vm), hvp_service_agent(b->vm));
			for (v = 0; v < pt->vcpus && v < HVP_MAX_VCPUS; v++) {
				c->vstall[v][c->n] = (double)window_gap(b->vm, v, res.stall_ns[v]);
				if (c->vstall[v][c->n] > (double)res.max_stall_ns)
					res.max_stall_ns = (uint64_t)c->vstall[v][c->n];
			}
			witness_sum(b->vm, &w1, &e1, &b->witness_ok);
			if (b->bpf && hvp_bpf_witness_read(b->bpf, &bp1) == 0) {
				c->bpf_exits += bp1.userspace_exits - bp0.userspace_exits;
				c->bpf_pio += bp1.pio - bp0.pio;
			}
			c->w.exits += w1.exits - w0.exits;
			c->w.signal_exits += w1.signal_exits - w0.signal_exits;
			c->w.nmi_injections += w1.nmi_injections - w0.nmi_injections;
			c->exits += e1 - e0;
			if (ret < 0)
				fprintf(stderr, "\nbench: %s: %s\n", method_name(methods[m]),
					res.reason);
			c->lat[c->n] = (double)res.latency_ns;
			c->rounds[c->n] = res.sync_rounds;
			c->retries[c->n] = res.retries;
			c->rollbacks[c->n] = res.rollbacks;
			c->traps[c->n] = (double)res.bp_traps;
			c->stall[c->n] = (double)res.max_stall_ns;
			if (res.slowest.what && res.slowest.ns > c->slowest.ns)
				c->slowest = res.slowest;
			c->ok[c->n] = res.completed;
			c->completed += res.completed;
			c->faults += res.faults;
			c->n++;
			snprintf(what, sizeof(what), "%s %s v%u %s", group_names[pt->group],
				 method_name(methods[m]), pt->vcpus, hvp_sync_name(pt->sync));
			progress(b, what);
		}
	}
	for (m = 0; m < nm; m++)
		cell_finish(b, &cells[m], pt, methods[m],
			    methods[m] == HVP_BENCH_AUTO ?
				    auto_json(b, pt, &au, cells, methods, nm) :
				    NULL);
	free(cells);
	return 0;
}

static unsigned count_methods(unsigned mask, bool unsafe)
{
	unsigned m, n = 0;

	for (m = 0; m <= HVP_BENCH_AUTO; m++)
		n += bench_method(mask, unsafe, m);
	return n;
}

/* Build the list of points in the order they run. */
static unsigned plan(const struct hvp_bench_opts *o, struct point *pts, unsigned max)
{
	unsigned n = 0, i, s;

#define ADD(...)                                                  \
	do {                                                      \
		if (n < max)                                      \
			pts[n++] = (struct point){ __VA_ARGS__ }; \
	} while (0)
	for (s = 0; s < 2; s++) {
		if (!(o->syncs & (1u << s)))
			continue;
		for (i = 0; i < o->nr_vcpus; i++)
			ADD(.group = G_LATENCY, .sync = s, .vcpus = o->vcpus[i], .sites = 16);
	}
	for (i = 0; i < o->nr_rates; i++)
		ADD(.group = G_HITRATE, .sync = HVP_SYNC_KICK, .vcpus = 2, .rate = o->rates[i],
		    .sites = 1);
	for (i = 0; i < o->nr_nmi_rates; i++)
		ADD(.group = G_NMI, .sync = HVP_SYNC_KICK, .vcpus = 2, .rate = 1000,
		    .nmi_rate = o->nmi_rates[i], .sites = 1);
	for (i = 0; i < o->nr_sites; i++)
		ADD(.group = G_BATCH, .sync = HVP_SYNC_KICK, .vcpus = 2, .sites = o->sites[i]);
	if (!o->quick) {
		/* up to the agent's limit: 64 vCPUs on this 2-core host is
		 * 32-fold overcommit, where a round waits for the host to run
		 * every vCPU thread once (seconds), and says who held it */
		static const unsigned v[] = { 1, 2, 4, 8, 16, 32, HVP_MAX_VCPUS };

		for (i = 0; i < HVP_ARRAY_SIZE(v); i++)
			ADD(.group = G_VCPUS, .sync = HVP_SYNC_KICK, .vcpus = v[i], .sites = 16);
	}
	/* Same methods, same key, on each backend (kick rounds: NMI rounds with
	 * int3s in flight are unsafe through QEMU on kvm_pvm hosts). */
	for (i = 0; i < hvp_nr_backend_kinds; i++)
		if (o->backends & (1u << i))
			ADD(.group = G_BACKEND, .backend = i, .sync = HVP_SYNC_KICK, .vcpus = 2,
			    .sites = 16);
#undef ADD
	return n;
}

void hvp_bench_defaults(struct hvp_bench_opts *o)
{
	static const uint64_t quick_rates[] = { 100, 10000, 0 };
	static const uint64_t full_rates[] = { 100, 1000, 10000, 100000, 0 };
	static const uint64_t quick_nmi[] = { 0, 1000, 10000 };
	static const uint64_t full_nmi[] = { 0, 100, 1000, 5000, 10000, 20000 };
	static const unsigned quick_sites[] = { 1, 1024 };
	static const unsigned full_sites[] = { 1, 16, 256, 1024 };
	unsigned i;

	if (!o->repeat)
		o->repeat = o->quick ? 10 : 20;
	if (!o->methods)
		o->methods = (1u << HVP_METHOD_STOP) | (1u << HVP_METHOD_BP_CANCEL) |
			     (1u << HVP_METHOD_BP_EMULATE) | (1u << HVP_BENCH_AUTO);
	if (!o->syncs)
		o->syncs = 3;
	if (!o->backends)
		o->backends = (1u << hvp_nr_backend_kinds) - 1;
	if (!o->timeout_ms)
		o->timeout_ms = o->quick ? 1000 : 3000;
	if (!o->nr_vcpus) {
		o->vcpus[0] = 1;
		o->vcpus[1] = 2;
		o->nr_vcpus = 2;
	}
#define FILL(nr, arr, q, f)                                                              \
	do {                                                                             \
		if (!o->nr) {                                                            \
			const __typeof__(q[0]) *src = o->quick ? q : f;                  \
			unsigned cnt = o->quick ? HVP_ARRAY_SIZE(q) : HVP_ARRAY_SIZE(f); \
			for (i = 0; i < cnt; i++)                                        \
				o->arr[i] = src[i];                                      \
			o->nr = cnt;                                                     \
		}                                                                        \
	} while (0)
	FILL(nr_rates, rates, quick_rates, full_rates);
	FILL(nr_nmi_rates, nmi_rates, quick_nmi, full_nmi);
	FILL(nr_sites, sites, quick_sites, full_sites);
#undef FILL
}

static json_object *host_json(struct bench *b)
{
	json_object *h = json_object_new_object();
	char line[256] = "";
	struct utsname u;
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');

			line[strcspn(line, "\n")] = 0;
			json_object_object_add(h, "cpu", json_object_new_string(c ? c + 2 : line));
			break;
		}
	}
	if (f)
		fclose(f);
	json_object_object_add(h, "cores", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	if (uname(&u) == 0)
		json_object_object_add(h, "kernel", json_object_new_string(u.release));
	json_object_object_add(h, "kvm_module",
			       json_object_new_string(
				       access("/sys/module/kvm_pvm", F_OK) == 0	  ? "kvm_pvm" :
				       access("/sys/module/kvm_intel", F_OK) == 0 ? "kvm_intel" :
				       access("/sys/module/kvm_amd", F_OK) == 0	  ? "kvm_amd" :
										    "unknown"));
	json_object_object_add(h, "tsc_khz",
			       json_object_new_int64(
				       b->vm ? (int64_t)hvp_service_backend(b->vm)->tsc_khz : 0));
	return h;
}

int hvp_bench_run(const struct hvp_bench_opts *o, char *err, size_t errlen)
{
	struct bench b = { .o = o };
	json_object *report = json_object_new_object(), *wit;
	struct point pts[128];
	unsigned n, i;
	uint64_t t0 = hvp_now_ns();
	char path[PATH_MAX + 32], when[32];
	time_t now = time(NULL);
	int r;

	if (mkdir(o->out, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", o->out, strerror(errno));
		json_object_put(report);
		return -errno;
	}
	b.cells = json_object_new_array();
	b.witness_ok = true;
	b.bpf = hvp_bpf_witness_open(getpid(), b.bpf_why, sizeof(b.bpf_why));
	n = plan(o, pts, HVP_ARRAY_SIZE(pts));
	b.total = 0;
	for (i = 0; i < n; i++)
		b.total += o->repeat * count_methods(o->methods, o->unsafe);

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_object_add(report, "schema_version", json_object_new_int(1));
	json_object_object_add(report, "tool", json_object_new_string("hvpatch " PACKAGE_VERSION));
	json_object_object_add(report, "started", json_object_new_string(when));
	json_object_object_add(report, "quick", json_object_new_boolean(o->quick));

	r = unit_costs(&b, report, err, errlen);
	if (r < 0)
		goto out;
	json_object_object_add(report, "host", host_json(&b));
	for (i = 0; i < n; i++) {
		r = run_point(&b, &pts[i], err, errlen);
		if (r < 0)
			goto out;
	}
	if (o->progress)
		fprintf(stderr, "\n");
	json_object_object_add(report, "duration_s",
			       json_object_new_double((double)(hvp_now_ns() - t0) / 1e9));
	wit = json_object_new_object();
	json_object_object_add(wit, "kvm_stats",
			       json_object_new_string(
				       b.witness_ok ? "available" :
						      "absent: KVM_GET_STATS_FD not offered"));
	if (b.bpf) {
		json_object_object_add(wit, "bpf", json_object_new_string("available"));
	} else {
		char absent[300];

		snprintf(absent, sizeof(absent), "absent: %s", b.bpf_why);
		json_object_object_add(wit, "bpf", json_object_new_string(absent));
	}
	json_object_object_add(report, "witnesses", wit);
	json_object_object_add(report, "cells", b.cells);
	b.cells = NULL;
	snprintf(path, sizeof(path), "%s/report.json", o->out);
	if (json_object_to_file_ext(path, report, JSON_C_TO_STRING_PRETTY) < 0) {
		snprintf(err, errlen, "cannot write %s", path);
		r = -EIO;
		goto out;
	}
	r = hvp_report_write_all(o->out, err, errlen);
out:
	if (b.cells)
		json_object_put(b.cells);
	vm_drop(&b);
	{
		/* what QEMU and libvirt left of the bench's VMs (see vm_get) */
		char name[32];

		snprintf(name, sizeof(name), "bench%ld", (long)getpid());
		if (hvp_vm_path(path, sizeof(path), hvp_rundir(), name, ".console") == 0)
			unlink(path);
		for (i = 0; i < hvp_nr_backend_kinds; i++)
			if (hvp_backend_kinds[i].remove_files)
				hvp_backend_kinds[i].remove_files(hvp_rundir(), name, NULL);
	}
	hvp_bpf_witness_close(b.bpf);
	json_object_put(report);
	return r;
}
