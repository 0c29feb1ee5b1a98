/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM's patch service: boot the guest on a backend, then answer requests
 * (service.c).  vm.c runs one as the VM's own process; doctor's probes and
 * the bench run one in their own.
 */
#ifndef HVP_SERVICE_H
#define HVP_SERVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "agent.h"
#include "backend.h"
#include "cost.h"
#include "util.h"

/* What a VM's service is asked to run (vm start's options). */
#define HVP_VM_MIN_VCPUS   1
#define HVP_VM_MAX_VCPUS   64
#define HVP_VM_DEF_VCPUS   2
#define HVP_VM_MIN_MEM_MIB 16
#define HVP_VM_MAX_MEM_MIB 4096
#define HVP_VM_DEF_MEM_MIB 64

struct hvp_vm_opts {
	char name[HVP_VM_NAME_MAX + 1];
	char backend[16]; /* "kvm" (default), "qemu", "libvirt" */
	char uri[256];	  /* libvirt connection URI, "" = embedded */
	int attach;	  /* take over a running qemu/libvirt VM */
	unsigned vcpus;
	unsigned mem_mib;
	char keys[256];	       /* comma list of key names, "" = all  */
	uint64_t rate;	       /* iterations/s per vCPU, 0 = max     */
	uint64_t nmi_rate;     /* Hz, 0 = none                       */
	char nmi_key[32];      /* key called from the NMI path       */
	int fault_test;	       /* deliberately faulting workload     */
	uint32_t probe_flags;  /* doctor: HVP_CFG_PROBE_*            */
	int guest_debug_sw_bp; /* doctor: KVM_SET_GUEST_DEBUG probe  */
	unsigned fault_vcpu;
	uint32_t hostile;      /* test: HVP_HOSTILE_*, 0 = none      */
	char image[PATH_MAX];  /* guest ELF                          */
	char rundir[PATH_MAX]; /* runtime directory                  */
};

/* Opaque: its fields are the service's own (service.c, and vm.c's serve
 * loop through service-int.h). */
struct hvp_service;

/* Allocate, free.  Boot writes a reason. */
struct hvp_service *hvp_service_new(const struct hvp_vm_opts *opts);
void hvp_service_free(struct hvp_service *s);
/* Boot: ELF, backend, agent, keys. */
int hvp_service_boot(struct hvp_service *s, char *err, size_t errlen);
/*
 * What doctor's probe reads once booted, under the service's lock: the
 * guest faults seen, why a vCPU died ("" if none, copied into dead), and
 * the vector of vCPU 0's first logged fault (-1: none).
 */
unsigned hvp_service_probe_result(struct hvp_service *s, char *dead, size_t len, int *first_vector);
/* NMI storm at hz (0: stop), its upcall calling key (NULL: ack only). */
int hvp_service_set_nmi(struct hvp_service *s, uint64_t hz, const struct hvp_key_info *key);

/*
 * What the bench reads of a booted service: its backend, the agent area in
 * guest RAM (guest-written: untrusted) and the validated keys (read-only).
 */
struct hvp_backend *hvp_service_backend(const struct hvp_service *s);
struct hvp_agent *hvp_service_agent(const struct hvp_service *s);
const struct hvp_key_info *hvp_service_keys(const struct hvp_service *s, unsigned *nr);

/*
 * Observe key's calls and the NMIs for ~60 ms, time pauses and rounds, and
 * predict every method and sync kind in sync_mask (bit per kind) for a
 * patch within timeout_ms (service-plan.c; `patch plan`, --method auto,
 * the bench's auto column).  0.
 */
int hvp_service_plan(struct hvp_service *s, const struct hvp_key_info *k, int timeout_ms,
		     enum hvp_prefer prefer, unsigned sync_mask, struct hvp_cost_input *in,
		     struct hvp_cost_plan *plan);
/* The unit costs the plan uses (the bench's own, measured before its cells). */
void hvp_service_set_units(struct hvp_service *s, const struct hvp_units *u);

/* A hash of the guest-written header, keys[] and sites[] of the agent area. */
uint64_t hvp_service_tables_hash(const struct hvp_service *s);
const struct hvp_key_info *hvp_service_key(const struct hvp_service *s, const char *name);
const char *hvp_vector_name(unsigned vector);
/* A sync round and the vCPUs that held it, as patch results show it. */
json_object *hvp_round_json(const struct hvp_round_info *ri);
json_object *hvp_service_handle(void *ctx, const char *cmd, json_object *args,
				const struct ucred *peer);

#endif
