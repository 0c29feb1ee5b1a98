/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The narrow interface between the patch engine / service and a VM backend.
 * The engine never sees /dev/kvm, QMP or libvirt: it maps guest RAM, pauses
 * and resumes every vCPU, and runs sync rounds through these operations.
 */
#ifndef HVP_BACKEND_H
#define HVP_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

struct hvp_backend;

enum hvp_sync_kind {
	HVP_SYNC_KICK, /* every vCPU leaves guest mode and comes back, acked */
	HVP_SYNC_NMI,  /* an NMI into every vCPU, acked by the guest handler */
};

/* Events a backend reports to its owner (from vCPU threads: be quick). */
struct hvp_backend_events {
	void *ctx;
	void (*serial)(void *ctx, const char *buf, unsigned len);
	void (*ready)(void *ctx);
	void (*fault)(void *ctx, unsigned vcpu);
	/* vCPU stopped for good (triple fault, emulation failure, ...) */
	void (*vcpu_dead)(void *ctx, unsigned vcpu, const char *why);
};

/* Counters a backend keeps per vCPU (its own witnesses, not the guest's). */
struct hvp_vcpu_exits {
	uint64_t exits; /* KVM_RUN returns of any kind           */
	uint64_t io_exits;
	uint64_t kicks; /* returns caused by our kick (EINTR)    */
	uint64_t nmis_injected;
	uint64_t nmi_acks;
	uint64_t kick_bp_inflight; /* kicks refused: a #BP may be queued */
	uint64_t kick_guest_acks;  /* kick rounds a #BP handler acknowledged */
};

/* KVM's own per-vCPU statistics (KVM_GET_STATS_FD): a witness we did not write. */
struct hvp_kvm_witness {
	uint64_t exits, io_exits, signal_exits, nmi_injections, insn_emulation;
};

/*
 * Who held a sync round or a pause: the vCPUs that acknowledged last, where
 * they were and what their host thread was doing (issue 10: a slow round
 * names its holders, as Xen's "Timed out on semaphore" does not).
 */
#define HVP_ROUND_HOLDERS 4

struct hvp_round_holder {
	unsigned vcpu;
	bool acked;	      /* false: it still held the round at the end */
	uint64_t wait_ns;     /* round start to its acknowledgement (or the end) */
	uint64_t rip;	      /* where the VMM last saw it stopped   */
	int cpl;	      /* of that stop; -1: not seen          */
	unsigned refusals;    /* kicks it refused in this round      */
	unsigned bp_inflight; /* of those: a #BP in flight (kvm.c)   */
	bool handler_ack;     /* its #BP handler acknowledged, leaving */
	char thread;	      /* its host thread's state while it held the
				 * round, as /proc shows it: 'R' running or
				 * runnable, 'S' sleeping, ...; 0 not sampled */
};

struct hvp_round_info {
	const char *what; /* "kick", "nmi" or "pause"; NULL: no round yet */
	uint64_t ns;	  /* the round, start to end             */
	unsigned nr;	  /* holders, the last to acknowledge first */
	struct hvp_round_holder hold[HVP_ROUND_HOLDERS];
};

struct hvp_backend_ops {
	const char *name;
	/* Start every vCPU (the guest begins to run). */
	int (*start)(struct hvp_backend *b);
	/* Every vCPU out of guest mode and acknowledged; 0 or -errno. */
	int (*pause_all)(struct hvp_backend *b, int timeout_ms);
	/* Resume; with nmi_first, each vCPU takes an NMI before any other
	 * guest instruction (its handler's iretq serializes). */
	int (*resume_all)(struct hvp_backend *b, bool nmi_first);
	/* One acknowledged sync round; gen is the agent's sync generation the
	 * guest must acknowledge (NMI kind). */
	int (*sync_round)(struct hvp_backend *b, enum hvp_sync_kind kind, uint64_t gen,
			  int timeout_ms);
	/* Queue an NMI on one vCPU without waiting. */
	int (*inject_nmi)(struct hvp_backend *b, unsigned vcpu);
	/* Is the vCPU still running guest code (not halted, not dead)? */
	bool (*vcpu_alive)(struct hvp_backend *b, unsigned vcpu);
	int (*get_exits)(struct hvp_backend *b, unsigned vcpu, struct hvp_vcpu_exits *out);
	/* -ENOTSUP where the backend has no such statistics. */
	int (*witness)(struct hvp_backend *b, unsigned vcpu, struct hvp_kvm_witness *out);
	/* The last sync round or pause (NULL or -ENOTSUP: not tracked). */
	int (*last_round)(struct hvp_backend *b, struct hvp_round_info *out);
	/* Make destroy leave the VM running: it outlives this service (a
	 * failed attach; recovery tests).  NULL: the VM dies with us. */
	void (*detach)(struct hvp_backend *b);
	/* Stop all vCPUs for good and free everything. */
	void (*destroy)(struct hvp_backend *b);
};

struct hvp_backend {
	const struct hvp_backend_ops *ops;
	uint8_t *ram; /* guest RAM mapped at guest-physical 0 */
	uint64_t ram_size;
	const char *ram_path; /* file behind guest RAM (qemu, libvirt); NULL: anonymous */
	/* Why NMI sync rounds must not run while guest int3s are in flight on
	 * this backend and host (NULL: they may).  The service refuses the
	 * breakpoint methods with --sync nmi then, unless --unsafe. */
	const char *nmi_int3_hazard;
	unsigned nr_vcpus;
	uint64_t tsc_khz;
	/* Every wait of this backend's rounds blocks until woken (the own VMM's
	 * condition variables): the patching thread may run at SCHED_FIFO.
	 * Not for backends that poll (qemu, libvirt: every 20 us), where a
	 * real-time poller would take the cores from the vCPUs it waits for. */
	bool rt_waiter_ok;
	/* Every address where the engine may write an int3, sorted; set
	 * (release) by the service once the sites are validated, before any
	 * patch.  A vCPU stopped one byte past one of them may have a #BP in
	 * flight (vmm/kvm.c). */
	const uint64_t *trap_sites;
	unsigned nr_trap_sites;
	/* The validated agent area, set with trap_sites: where the own VMM
	 * publishes its kick acknowledgements (ack_rip, ack_loops). */
	struct hvp_agent *agent;
};

#endif /* HVP_BACKEND_H */
