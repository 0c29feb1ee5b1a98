/* SPDX-License-Identifier: GPL-2.0-only */
/* The patch service's state, shared by vm.c (boot) and service.c (requests). */
#ifndef HVP_SERVICE_H
#define HVP_SERVICE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <json-c/json.h>

#include "agent.h"
#include "backend.h"
#include "backends.h"
#include "elf.h"
#include "journal.h"
#include "vm.h"

struct hvp_ctlsrv;

struct hvp_service {
	struct hvp_vm_opts opts;
	const struct hvp_backend_kind *kind; /* NULL: opts.backend names none */
	struct hvp_elf elf;
	struct hvp_backend *be;
	struct hvp_agent_bounds bounds;
	struct hvp_agent *agent;   /* host view of guest RAM: untrusted */
	struct hvp_key_info *keys; /* validated copy, read-only after boot */
	unsigned nr_keys;
	uint64_t *all_sites; /* every key's sites, sorted, owned  */
	unsigned nr_all_sites;
	uint64_t tables_hash; /* of the guest's tables as validated */
	uint32_t key_mask;
	struct hvp_ctlsrv *srv;
	char sock_path[PATH_MAX];
	int console_fd;
	uint64_t start_ns;
	uint64_t nmis_sent;
	pthread_t nmi_tid;
	bool nmi_started;

	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t cond;
	bool guest_ready;
	bool stopping;
	unsigned faults_seen;
	/* the patch_seq current when each logged guest fault was seen (0: none) */
	uint64_t fault_patch_seq[HVP_MAX_VCPUS][HVP_FAULT_LOG];
	char dead_reason[256];
	uint64_t nmi_hz; /* NMI storm rate, 0 = none */

	/* One patch at a time per VM: the equivalent of Linux's text_mutex. */
	pthread_mutex_t patch_lock;
	uint64_t patch_seq; /* patches run; guarded by patch_lock */
	/* qemu, libvirt: every patch step, durable before it is taken */
	struct hvp_journal journal;
	bool journaled;
};

/* Allocate, free (service.c).  Boot writes a reason. */
struct hvp_service *hvp_service_new(const struct hvp_vm_opts *opts);
void hvp_service_free(struct hvp_service *s);
/* Boot: ELF, backend, agent, keys (vm.c, beside the VM process it serves). */
int hvp_service_boot(struct hvp_service *s, char *err, size_t errlen);
/* NMI storm at hz (0: stop), its upcall calling key (NULL: ack only). */
int hvp_service_set_nmi(struct hvp_service *s, uint64_t hz, const struct hvp_key_info *key);

/*
 * What the bench reads of a booted service: its backend, the agent area in
 * guest RAM (guest-written: untrusted) and the validated keys (read-only).
 */
struct hvp_backend *hvp_service_backend(const struct hvp_service *s);
struct hvp_agent *hvp_service_agent(const struct hvp_service *s);
const struct hvp_key_info *hvp_service_keys(const struct hvp_service *s, unsigned *nr);

/* A hash of the guest-written header, keys[] and sites[] of the agent area. */
uint64_t hvp_service_tables_hash(const struct hvp_service *s);
const struct hvp_key_info *hvp_service_key(const struct hvp_service *s, const char *name);
const char *hvp_vector_name(unsigned vector);
json_object *hvp_service_handle(void *ctx, const char *cmd, json_object *args,
				const struct ucred *peer);

#endif
