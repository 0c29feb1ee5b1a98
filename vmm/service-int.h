/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The service's fields, private to service.c and vm.c: the serve loop there
 * (the VM process's console, control socket, state file and journal) is
 * the service run as the VM's own process, and shares its lock and state.
 * Everyone else goes through service.h.
 */
#ifndef HVP_SERVICE_INT_H
#define HVP_SERVICE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "backend.h"
#include "backends.h"
#include "cost.h"
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
	/* the host's unit costs for --method auto: measured at boot when
	 * measure_units (vm.c sets it) or read from the cache */
	bool measure_units;
	bool have_units;
	struct hvp_units units;

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

/* One line on the service log (stderr). */
void hvp_svc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Measure (or read back) the unit costs at boot (service-plan.c). */
void hvp_service_units_boot(struct hvp_service *s);
/* Finish a patch an earlier service left in its journal, then open it. */
int hvp_service_recover(struct hvp_service *s, char *err, size_t errlen);

#endif /* HVP_SERVICE_INT_H */
