/* SPDX-License-Identifier: GPL-2.0-only */
/* The patch engine: rewrite every site of a static call key in a live VM. */
#ifndef HVP_PATCH_H
#define HVP_PATCH_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "backend.h"

enum hvp_method {
	HVP_METHOD_STOP,
	HVP_METHOD_BP_CANCEL,
	HVP_METHOD_BP_EMULATE,
	HVP_METHOD_NAIVE,
	HVP_METHOD_BP_CANCEL_HPA,
	HVP_METHOD__COUNT
};

struct hvp_method_info {
	const char *name;
	const char *summary;
	bool unsafe;	    /* refused without --unsafe */
	const char *hazard; /* unsafe: what it does wrong, for the refusal */
};

extern const struct hvp_method_info hvp_methods[HVP_METHOD__COUNT];
/* Method by name, or -1. */
int hvp_method_by_name(const char *name);
const char *hvp_sync_name(enum hvp_sync_kind kind);

struct hvp_journal;

struct hvp_patch_ctx {
	struct hvp_backend *be;
	struct hvp_agent *agent;     /* in guest RAM */
	struct hvp_journal *journal; /* NULL: no journal (the VM dies with us) */
	const bool *stop;	     /* true: the VM is stopping (NULL: never) */
};

struct hvp_patch_req {
	const struct hvp_key_info *key;
	unsigned target; /* index into key->targets      */
	enum hvp_method method;
	enum hvp_sync_kind sync;
	int timeout_ms; /* whole patch; also each round */
	bool unsafe;
	unsigned naive_delay_us;  /* naive: pause between bytes   */
	unsigned naive_max_bytes; /* naive: stop after this many bytes
					 * (0: all), to leave a torn site */
};

struct hvp_patch_result {
	bool completed;
	char reason[256]; /* why not completed            */
	bool written;	  /* did any byte change          */
	unsigned sites;
	unsigned old_target; /* index the key called before  */
	uint64_t latency_ns;
	uint64_t paused_ns; /* stop: vCPUs held out of guest */
	unsigned sync_rounds;
	unsigned retries;   /* bp-cancel: attempts that were cancelled */
	unsigned rollbacks; /* bp-cancel: old bytes put back */
	unsigned reverted;  /* sites restored after a timeout */
	/* deltas of the guest's own counters over the patch, all vCPUs */
	uint64_t bp_traps, bp_emulated, bp_cancels, bp_state2_waits, bp_reexec;
	uint64_t bp_late; /* handlers a round completed over (issue 9) */
	uint64_t faults;
	uint64_t max_stall_ns; /* longest workload loop gap during it */
	unsigned max_stall_vcpu;
	uint64_t stall_ns[HVP_MAX_VCPUS]; /* each vCPU's longest gap   */
	/* the slowest sync round or pause and who held it (what: NULL when
	 * the backend does not track rounds, or none ran) */
	struct hvp_round_info slowest;
	bool boosted; /* the patching thread ran at SCHED_FIFO (patch.c) */
};

/* "vCPU 1 (CPL 0 at 0x100200, 12 kicks refused, host thread R) ...": the
 * holders of a round, for messages. */
void hvp_round_describe(const struct hvp_round_info *ri, char *buf, size_t len);

/*
 * Patch every site of req->key to call req->target.  Returns 0 when the
 * request was carried out (res->completed tells whether the patch took,
 * e.g. bp-cancel may time out and roll back), or -errno when it was refused
 * before anything was written (res->reason says why) or failed while writing
 * (-EIO: a read-back mismatch; the reason names the site).
 *
 * -ECANCELED: the patch stopped before one of its writes because *ctx->stop
 * was set (the VM is stopping) or a journal record could not be written and
 * made durable, and what it had written was undone; res->reason says which
 * ("VM is stopping: patch cancelled, ...", "nothing written: journal: ...").
 * Once every site holds the new instruction nothing stops it: it completes.
 */
int hvp_patch_apply(struct hvp_patch_ctx *ctx, const struct hvp_patch_req *req,
		    struct hvp_patch_result *res);

/*
 * Finish a patch a dead service left half-done (its journal has a begin and
 * no end): pause every vCPU, write each journaled site's new instruction (a
 * torn or int3'd site included), reset the patch control block, resume.
 * Safe whatever step it died at: no vCPU runs while the bytes change, a #BP
 * handler paused half-way finds no int3 and re-executes the site, and its
 * cmpxchg on the text (bp-cancel) cannot undo a byte that is no longer int3.
 * Returns 0 and the number of sites that needed writing, or -errno.
 */
int hvp_patch_recover(struct hvp_patch_ctx *ctx, const uint64_t *addr,
		      const uint8_t (*new_insn)[HVP_INSN_LEN], unsigned n, unsigned *fixed,
		      char *err, size_t errlen);

/*
 * The patching thread at SCHED_FIFO priority 1 while it waits for rounds,
 * where the backend allows it and the host permits it (hvp_patch_apply does
 * this itself; the bench's unit measurements do it too, so that units and
 * cells are timed alike).  b->on says whether it took.
 */
struct hvp_patch_boost {
	bool on;
	int policy;
	struct sched_param old;
};
void hvp_patch_boost(const struct hvp_patch_ctx *ctx, struct hvp_patch_boost *b);
void hvp_patch_unboost(struct hvp_patch_boost *b);

/*
 * One sync round of `kind` over every vCPU, as a patch takes it (an NMI
 * round publishes a new sync generation first), once: 0 or -errno.  For the
 * bench, which times rounds on their own.
 */
int hvp_patch_sync_round(struct hvp_patch_ctx *ctx, enum hvp_sync_kind kind, int timeout_ms);

/*
 * The bench's #BP round trip: with the bp-emulate vector telling the guest
 * to emulate the call of key->sites[0], hold an int3 on that site while
 * measure(arg) runs, then put the old byte back and take a kick round
 * before the vector goes.  The writes go through the engine's guard and
 * read-back like a patch's, unjournaled: 0 or -errno, res->reason says why.
 */
int hvp_patch_measure_bp(struct hvp_patch_ctx *ctx, const struct hvp_key_info *key,
			 void (*measure)(void *arg), void *arg, struct hvp_patch_result *res);

#endif
