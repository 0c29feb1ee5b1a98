/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The report renderer's model: report.json read once into typed fields,
 * each NAN / NULL / -1 when absent or of the wrong type, so that the
 * renderers never trust the file.
 */
#ifndef HVP_REPORT_INT_H
#define HVP_REPORT_INT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "svg.h"

enum { ST_LAT, ST_LATR, ST_ROUNDS, ST_RETRIES, ST_ROLLBACKS, ST_TRAPS, ST_STALL, ST__COUNT };
enum { F_N, F_MIN, F_P50, F_P90, F_P99, F_MAX, F_MEAN, F_SD, F__COUNT };
enum { WI_KVM_EXITS, WI_KVM_SIGNAL, WI_KVM_NMI, WI_HVP_EXITS, WI_BPF_UEXIT, WI_BPF_PIO, WI__COUNT };
enum { UC_EXIT, UC_KICK, UC_NMI, UC_BP, UC_LOOP, UC__COUNT };

extern const char *const hvp_rep_stat_names[ST__COUNT];
extern const char *const hvp_rep_field_names[F__COUNT];
extern const char *const hvp_rep_witness_names[WI__COUNT];
extern const char *const hvp_rep_unit_names[UC__COUNT];
extern const char *const hvp_rep_unit_desc[UC__COUNT];

struct rcell {
	json_object *o;
	const char *id, *group, *method, *sync, *key, *backend;
	double vcpus, rate, nmi_rate, sites;
	int overcommitted; /* -1: not said */
	int unsafe;	   /* 1: a test-only method (bench run --unsafe) */
	double attempts, completed, completion_rate, faults;
	double st[ST__COUNT][F__COUNT];
	double wit[WI__COUNT];
	json_object *raw_lat, *raw_stall, *raw_rounds, *raw_ok; /* arrays or NULL */
	json_object *stall_by_vcpu;				/* an array of STATS, or NULL */
	json_object *slowest_round; /* {kind, ns, held_by[], waiter_late_ns}, or NULL */
	/* the p50's 95 % bootstrap interval (lo, hi) from the raw samples; NAN: none */
	double ci[ST__COUNT][2];
	/* the auto column's cell: its "auto" object (NULL: a method's cell) */
	json_object *auto_o;
};

struct rep {
	json_object *root;
	const char *tool, *started, *cpu, *kernel, *kvm_module, *wit_kvm, *wit_bpf;
	double duration_s, cores, tsc_khz;
	int quick;
	double unit[UC__COUNT][F__COUNT];
	double unit_ci[UC__COUNT][2]; /* as rcell.ci */
	unsigned no_ci;		      /* p50s without an interval: no samples */
	unsigned n;
	struct rcell *c;
	unsigned nr_groups;
	const char *groups[16]; /* known ones first, in their order */
	unsigned nr_methods;
	const char *methods[16];
};

#define REP_MAX_CELLS	100000
#define REP_MAX_SAMPLES 10000 /* per p50: more get no interval */
/* The stats that carry a p50 interval: those with raw samples, and in rounds. */
#define REP_HAS_CI(st)	((st) == ST_LAT || (st) == ST_LATR || (st) == ST_ROUNDS || (st) == ST_STALL)

json_object *hvp_rep_get(json_object *o, const char *key);
double hvp_rep_num(json_object *o, const char *key);
const char *hvp_rep_str(json_object *o, const char *key);
/* A number from an array element, NAN unless it is one. */
double hvp_rep_elem(json_object *arr, size_t i);

int hvp_rep_parse(json_object *root, struct rep *r);
/*
 * "0: 110 µs / 4.6 ms, 1: ...": each vCPU's max stall, p50 / max over the
 * cell's patches; the number of vCPUs, 0 when the cell does not say.
 */
unsigned hvp_rep_vstall(const struct rcell *c, char *buf, size_t len);
/* "56.2–72.7 µs": an interval, its unit said once when both ends share it. */
void hvp_rep_fmt_ci(char *buf, size_t len, const double *ci, enum svg_unit u);
void hvp_rep_free(struct rep *r);
/* A fixed colour per method name (never a string from the report). */
/*
 * The cells with the slowest sync rounds (slowest first, at most max) and a
 * line naming who held one: "kick round 12.6 ms: vCPU 1 acked after ...".
 */
unsigned hvp_rep_slow_rounds(const struct rep *r, unsigned *idx, unsigned max);
void hvp_rep_round_desc(const struct rcell *c, char *buf, size_t len);
/*
 * An auto cell against the best method: "chose stop/kick, p50 45 µs; best
 * stop 44 µs: within 10 % or one round" (or "NOT within", or why no method
 * was chosen); false for a method's cell.  *target: met; *flag: the choice
 * did not complete every attempt, or there was none.
 */
bool hvp_rep_auto_desc(const struct rcell *c, char *buf, size_t len, bool *target, bool *flag);
/* Is the cell in group g (by name)? */
bool hvp_rep_in_group(const struct rcell *c, const char *g);
const char *hvp_rep_color(const char *method);
const char *hvp_rep_group_desc(const char *group);
enum hvp_rep_kind { HVP_REP_OBS, HVP_REP_WARN, HVP_REP_REC };
typedef void (*hvp_rep_emit)(void *ctx, enum hvp_rep_kind kind, const char *line);
/*
 * Conclusions drawn from the data: with only HVP_REP_REC the "which scheme
 * when" recommendations, otherwise the observations (and warnings) they
 * rest on.
 */
void hvp_rep_conclusions(const struct rep *r, enum hvp_rep_kind only, hvp_rep_emit emit, void *ctx);

int hvp_rep_html(const struct rep *r, FILE *f);

/* A performance target as a ratio of this run's own figures (report-targets.c). */
struct hvp_rep_target {
	const char *what;
	bool le; /* the ratio must be <= bound, else >= */
	double bound;
	double v, lo, hi;    /* the ratio and its 95 % interval; NAN: none */
	const char *verdict; /* met, missed, unclear, not measured */
};
unsigned hvp_rep_targets(const struct rep *r, struct hvp_rep_target *t, unsigned max);
/* "8.93 (7.5-10.9)" and "<= 3" */
void hvp_rep_target_fmt(const struct hvp_rep_target *t, char *val, size_t vlen, char *bound,
			size_t blen);

#endif /* HVP_REPORT_INT_H */
