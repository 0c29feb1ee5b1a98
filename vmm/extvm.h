/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Backends whose vCPUs live in another process (QEMU, launched by us or by
 * libvirt).  What they share lives in vmm/extvm.c: guest RAM mapped from the
 * file behind QEMU's memory-backend-file, the agent area polled for the
 * guest's readiness, faults and NMI acknowledgements (the guest's port writes
 * go to QEMU, not to us), and sync rounds built from stop/cont/NMI.  A
 * transport says how to stop, continue, inject an NMI and run a QMP command.
 */
#ifndef HVP_EXTVM_H
#define HVP_EXTVM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "backend.h"

/*
 * The CPU model for QEMU and libvirt guests.  `-cpu host` (and `max`) fail on
 * this project's nested kvm_pvm hosts: QEMU sets IA32_ARCH_CAPABILITIES (MSR
 * 0x10a) because the host CPUID advertises it, KVM refuses the write, and
 * QEMU aborts ("failed to set MSR 0x10a").  The host model without that one
 * feature gives the guest the same CPUID the own VMM passes through
 * (KVM_GET_SUPPORTED_CPUID) and boots; named models such as EPYC ask for
 * features this host's KVM lacks (SSE3 and up) and only warn.
 */
#define HVP_QEMU_CPU "host,-arch-capabilities"

struct hvp_ext_transport {
	const char *name; /* the backend's name: "qemu", "libvirt" */
	int (*stop)(void *t, char *err, size_t errlen);
	int (*cont)(void *t, char *err, size_t errlen);
	/* An NMI into every vCPU: QMP inject-nmi cannot aim at one. */
	int (*nmi)(void *t, char *err, size_t errlen);
	/* A QMP command (args taken); *ret owned by the caller. */
	int (*qmp)(void *t, const char *cmd, json_object *args, json_object **ret, char *err,
		   size_t errlen);
	/* Is the QEMU process still there? */
	bool (*alive)(void *t);
	/* Free the transport; with leave_running the VM keeps running. */
	void (*destroy)(void *t, bool leave_running);
};

struct hvp_ext_opts {
	unsigned nr_vcpus;
	uint64_t ram_size;
	uint64_t agent_gpa;   /* where the agent area is (from the ELF) */
	const char *ram_path; /* file to map MAP_SHARED                 */
	bool attach;	      /* an existing VM: never killed on failure */
};

/*
 * Wrap a transport (taken, also on failure) as a backend: map RAM, read the
 * guest TSC frequency over QMP.  The VM must be stopped (-S) or already
 * running (attach).
 */
int hvp_ext_create(struct hvp_backend **out, const struct hvp_ext_transport *tr, void *t,
		   const struct hvp_ext_opts *o, const struct hvp_backend_events *ev, char *err,
		   size_t errlen);
/* Mark the VM as already running (attach): start() only watches. */
void hvp_ext_set_running(struct hvp_backend *b);

#endif
