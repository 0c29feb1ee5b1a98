/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The host's unit costs (exit, kick round, NMI round, #BP round trip), how
 * they are measured on a running VM (shared by the service and the bench),
 * their cache in the runtime directory, and the cost model that predicts
 * each method's latency, stall and completion for `patch plan` and
 * `patch apply --method auto` (cost.c).
 */
#ifndef HVP_COST_H
#define HVP_COST_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "backend.h"
#include "patch.h"

/* ---- measuring ---- */

enum hvp_units_window {
	HVP_UNITS_LOOP, /* workload loop passes */
	HVP_UNITS_EXIT, /* exits to the VMM (the workload pings with `out`) */
	HVP_UNITS_BP,	/* #BPs the guest emulated */
};

/*
 * ns per event over n windows of window_ns each, into v[]: returns how many
 * windows saw an event (a window without one gives no sample).
 */
unsigned hvp_units_windows(struct hvp_backend *be, struct hvp_agent *agent,
			   enum hvp_units_window what, unsigned n, uint64_t window_ns, double *v);
/*
 * Until every live vCPU's workload loop has moved (at most 200 ms): a vCPU
 * thread the host has not yet rescheduled after a resume is still parked,
 * and a round or pause taken then completes at once - a scheduler artefact,
 * not the cost.  Before each timed round, pause and patch.
 */
void hvp_units_settle(struct hvp_backend *be, struct hvp_agent *agent);
/* n sync rounds of kind, each timed (after hvp_units_settle() if settle),
 * into v[]: how many completed. */
unsigned hvp_units_rounds(struct hvp_patch_ctx *ctx, enum hvp_sync_kind kind, unsigned n,
			  bool settle, double *v);
/* n pauses of every vCPU (stop's, with nothing written), each timed after
 * hvp_units_settle(), into v[]. */
unsigned hvp_units_pauses(struct hvp_patch_ctx *ctx, unsigned n, double *v);
/*
 * The #BP round trip: an int3 held on key's first site (the workload must
 * call it) while hvp_units_windows(HVP_UNITS_BP) runs; *got samples.
 * 0 or -errno, res->reason says why.
 */
int hvp_units_bp(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key, unsigned n,
		 uint64_t window_ns, double *v, unsigned *got, struct hvp_patch_result *res);
/* The median of v[0..n) (sorts v), 0 when n is 0. */
double hvp_units_median(double *v, unsigned n);

/* ---- the units of one host, backend and vCPU count ---- */

enum hvp_unit { HVP_UNIT_EXIT, HVP_UNIT_KICK, HVP_UNIT_NMI, HVP_UNIT_BP, HVP_UNIT__COUNT };

struct hvp_units {
	double ns[HVP_UNIT__COUNT];    /* p50s; 0: not measured */
	bool assumed[HVP_UNIT__COUNT]; /* a stand-in value, not a measurement */
	int64_t measured_unix;	       /* when, wall clock */
	bool cached;		       /* read back from the runtime directory */
	char backend[16];
	unsigned vcpus;
};

/* How old a cached measurement may be before a VM start measures again. */
#define HVP_UNITS_MAX_AGE_S 3600

/*
 * Measure on a booted VM whose workload this may reconfigure (the caller
 * restores it): exits with the workload pinging, then with `key` (one
 * site) called in a tight loop, its #BP round trip, and kick rounds (and
 * NMI rounds when nmi).  own_vmm: exits and #BPs are measured only on the
 * own VMM; elsewhere they are stand-ins (assumed[]).  About 0.3 s.
 */
void hvp_units_measure(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key, bool nmi,
		       bool own_vmm, struct hvp_units *u);
/* RUNDIR/host-units.json: the entry of (backend, vcpus) if younger than max_age_s. */
int hvp_units_load(const char *rundir, const char *backend, unsigned vcpus, int64_t max_age_s,
		   struct hvp_units *u);
/* Merge u into RUNDIR/host-units.json (written whole, then renamed over). */
int hvp_units_save(const char *rundir, const struct hvp_units *u);
json_object *hvp_units_json(const struct hvp_units *u);

/* ---- the model ---- */

enum hvp_prefer { HVP_PREFER_STALL, HVP_PREFER_LATENCY };
/* by name ("stall", "latency"), or -1 */
int hvp_prefer_by_name(const char *name);

/* What the service saw of the key and the VM just before planning. */
struct hvp_cost_input {
	unsigned sites, vcpus;
	double calls_per_s; /* the key's calls, all sites and vCPUs */
	double nmis_per_s;  /* NMIs taken, all vCPUs */
	double window_ms;   /* over how long they were observed */
	/* sync rounds timed now, under the current workload and host load
	 * ([kind], 0: not timed): a round's cost varies with both */
	double round_ns[2];
	double pause_ns; /* stop's pause and resume, timed now (0: not) */
	/* a kick round stops the whole VM (QEMU's stop/cont), not one vCPU's
	 * exit at a time: each vCPU's loop loses the round, not an exit */
	bool round_stops_vm;
	int timeout_ms;
	/* what the backend allows, [method][sync] (bp-* with NMIs on a
	 * hazardous QEMU, say); why_not says why not */
	bool allowed[HVP_METHOD__COUNT][2];
	const char *why_not;
};

struct hvp_cost_row {
	enum hvp_method method;
	enum hvp_sync_kind sync;
	bool allowed;
	double latency_ns; /* expected; INFINITY: does not complete */
	double stall_ns;   /* longest loop gap a vCPU should see */
	double p_complete; /* within the timeout */
	bool completes;	   /* p_complete >= HVP_COST_P_OK */
	char note[96];
};

#define HVP_COST_P_OK 0.9
#define HVP_COST_ROWS 6 /* stop, bp-cancel, bp-emulate x kick, nmi */

struct hvp_cost_plan {
	struct hvp_cost_row row[HVP_COST_ROWS];
	unsigned nr;
	int chosen; /* index in row[], -1: none completes */
	enum hvp_prefer prefer;
	char why[256];
};

/* Fill plan from the units and the input; sync_mask: bit per kind considered. */
void hvp_cost_plan(const struct hvp_units *u, const struct hvp_cost_input *in,
		   enum hvp_prefer prefer, unsigned sync_mask, struct hvp_cost_plan *plan);
json_object *hvp_cost_row_json(const struct hvp_cost_row *r);
/* The whole plan: input, units, rows, choice and why. */
json_object *hvp_cost_plan_json(const struct hvp_units *u, const struct hvp_cost_input *in,
				const struct hvp_cost_plan *plan);

#endif /* HVP_COST_H */
