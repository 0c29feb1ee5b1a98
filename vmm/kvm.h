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

/*
 * Can this process open /dev/kvm read-write?  0 if so; otherwise -errno and,
 * in WHY, the reason in words a user can act on: the device is absent (and
 * whether the CPU offers VMX/SVM, or a kvm_pvm module loaded but bound no
 * device, as on a kernel that is itself a PVM guest), or not ours to open.
 * The own VMM, QEMU's -accel kvm and libvirt's local domains all need it.
 */
int hvp_kvm_usable(char *why, size_t len);

#endif /* HVP_KVM_H */
