/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hvpatch rollout: one key switched to one target across many VMs, a canary
 * first, then waves, each checked against health gates; on a failed gate
 * every VM the rollout patched goes back to the target it had.
 *
 * Every request to a VM goes through rollout_call(), and a VM is named by
 * (host, name): host NULL is this host (its control socket), else an
 * ssh:// URI, whose requests run there as `hvpatch vm request` over ssh
 * (remote.h); the waves and gates do not tell the two apart.
 */
#ifndef HVP_ROLLOUT_H
#define HVP_ROLLOUT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "hvp_agent.h"
#include "util.h"

/* What became of a VM (its patch; a revert is told apart by `reverted`). */
enum rollout_state {
	ROLLOUT_PENDING, /* not started: a later wave, or the rollout stopped */
	ROLLOUT_ALREADY, /* on TARGET before the rollout: skipped */
	ROLLOUT_PATCHED, /* patched to TARGET */
	ROLLOUT_FAILED,	 /* its patch or one of its gates failed */
};

/* The gates, in the order they are checked and reported. */
enum rollout_gate {
	ROLLOUT_GATE_RESULT, /* the patch completed (always checked) */
	ROLLOUT_GATE_FAULTS, /* no more than N new guest faults */
	ROLLOUT_GATE_STALL,  /* the patch's longest stall under the limit */
	ROLLOUT_GATE_VERIFY, /* the switch proven from the guest's counters */
	ROLLOUT_GATE__COUNT,
};
extern const char *const rollout_gate_names[ROLLOUT_GATE__COUNT];

/* A gate's verdict on one VM. */
enum rollout_verdict { ROLLOUT_UNCHECKED, ROLLOUT_PASS, ROLLOUT_FAIL };

struct rollout_gates {
	bool on[ROLLOUT_GATE__COUNT];
	uint64_t max_faults; /* faults=N */
	uint64_t stall_ms;   /* stall-p99=MS */
};

struct rollout_vm {
	const char *host;  /* NULL: this host; else ssh://[user@]host[:port] */
	unsigned host_idx; /* its host in rollout.hosts[] (0 without --hosts) */
	char name[HVP_VM_NAME_MAX + 1];
	char backend[16];
	char from[HVP_NAME_LEN]; /* KEY's target before the rollout */
	char now[HVP_NAME_LEN];	 /* at the end; "" when it could not be read */
	int wave;		 /* 0: the canary, 1..: the waves; -1: none */
	enum rollout_state state;
	enum rollout_verdict gate[ROLLOUT_GATE__COUNT];
	int failed_gate; /* the first gate that failed, or -1 */
	bool reverted, revert_failed;
	char method[32];
	int64_t latency_ns, max_stall_ns, new_faults;
	char why[256];	      /* the failed gate's or the revert's reason */
	char revert_why[256]; /* a failed revert's reason */
};

struct rollout {
	/* what to do */
	const char *key, *target;
	const char *method, *sync; /* NULL: the service's default */
	uint64_t timeout_ms;	   /* 0: the service's default */
	unsigned canary, wave_size, max_parallel;
	bool revert_all; /* on a failed gate, revert the earlier waves too */
	struct rollout_gates gates;
	struct rollout_vm *vms;
	unsigned nr_vms;
	/*
	 * --hosts, as given ("local" for this host), in order: the canary is
	 * taken from the first, the waves from each in turn.  0: this host only.
	 */
	const char *const *hosts;
	unsigned nr_hosts;
	volatile sig_atomic_t *stop; /* set (SIGINT): start nothing new */
	/* called after each VM's step, from any thread, one at a time */
	void (*progress)(const struct rollout *ro, void *arg);
	void *progress_arg;

	/* what happened */
	unsigned nr_waves;
	int wave;	  /* the wave running or last run; -1: none */
	int stopped_wave; /* the wave whose gate failed, or -1 */
	bool interrupted; /* *stop kept a patch or a revert from starting */
	bool reverting;
};

/*
 * Parse one --gate: "faults=N", "stall-p99=MS" or "verify".  0, or -1 with
 * a message in err.
 */
int rollout_gate_parse(struct rollout_gates *g, const char *s, char *err, size_t errlen);
/* The gates as given: "faults=0 verify"; "" when none. */
void rollout_gates_str(const struct rollout_gates *g, char *buf, size_t len);

/*
 * A comma list of VM names into vms[] (at most max): the number, or -1 with
 * err (a bad or repeated name, an empty list).
 */
int rollout_parse_names(const char *list, struct rollout_vm *vms, unsigned max, char *err,
			size_t errlen);

/*
 * One request to VM's service: 0 and *result (the caller's to put); or
 * -errno with err (a transport error, or -EREMOTEIO: the service's own
 * error, its class in *cls when cls is given).  args is consumed.
 */
int rollout_call(const struct rollout_vm *vm, const char *cmd, json_object *args, int timeout_ms,
		 json_object **result, const char **cls, char *err, size_t errlen);

/*
 * Read every VM (in parallel, at most max_parallel at once): its backend and
 * KEY's current target, which becomes `from` (a VM on TARGET is
 * ROLLOUT_ALREADY), then plan the waves.  Nothing is patched.  0, or -1
 * with err naming the first VM that cannot take part, and why.
 */
int rollout_prepare(struct rollout *ro, char *err, size_t errlen);
/*
 * Give each VM still to patch its wave: the canary, then wave_size each.
 * Across hosts (nr_hosts): the canary from the first host listed (the next
 * ones when it has too few VMs to patch), then the waves spread, taking a
 * VM of each host in turn.
 */
void rollout_plan(struct rollout *ro);
/*
 * Run the waves; stop at a wave with a failed gate and revert that wave
 * (revert_all: every VM this rollout patched), or at *stop.  Then read where every VM is (`now`).
 * Returns 0 when every VM is on TARGET, else 1.
 */
int rollout_run(struct rollout *ro);

#endif /* HVP_ROLLOUT_H */
