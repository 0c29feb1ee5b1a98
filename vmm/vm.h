/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM's patch service: boots the guest on a backend and serves the control
 * socket until `vm stop`.  One process per VM.
 */
#ifndef HVP_VM_H
#define HVP_VM_H

#include <limits.h>
#include <stdint.h>

#define HVP_VM_NAME_MAX	   32
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

/*
 * The test-only hostile agent modes (--hostile), indexed by HVP_HOSTILE_*;
 * entry 0 is NULL.  By name: the mode, or -1.
 */
extern const char *const hvp_hostile_names[];
int hvp_hostile_by_name(const char *name);

/*
 * Boot the VM and serve its control socket.  Writes exactly one line to
 * ready_fd: "ok\n" once the agent reports ready, or "error: REASON\n"; then
 * closes it.  Returns the process exit status (0 after a clean `vm stop`).
 */
int hvp_vm_serve(const struct hvp_vm_opts *opts, int ready_fd);

#endif /* HVP_VM_H */
