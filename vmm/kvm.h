/* SPDX-License-Identifier: GPL-2.0-only */
/* The own KVM VMM backend: the only code that touches /dev/kvm and kvm_run. */
#ifndef HVP_KVM_H
#define HVP_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "backend.h"

struct hvp_kvm_opts {
	unsigned nr_vcpus;
	uint64_t ram_size;
	uint64_t entry32;	/* PVH 32-bit entry: every vCPU starts there */
	bool guest_debug_sw_bp; /* ask KVM to trap int3 (doctor's probe)     */
};

/*
 * Open /dev/kvm, check the capabilities we use, create the VM, its RAM and
 * its vCPUs (threads are started by ops->start).  On error writes a reason.
 */
int hvp_kvm_create(struct hvp_backend **out, const struct hvp_kvm_opts *o,
		   const struct hvp_backend_events *ev, char *err, size_t errlen);

#endif /* HVP_KVM_H */
