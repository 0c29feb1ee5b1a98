/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared by the bpf witness program and its loader: one map value per thread. */
#ifndef HVP_WITNESS_BPF_H
#define HVP_WITNESS_BPF_H

#define HVP_BPF_MAX_THREADS 1024

struct hvp_bpf_thread {
	__u64 userspace_exits; /* kvm:kvm_userspace_exit */
	__u64 pio;	       /* kvm:kvm_pio            */
};

#endif /* HVP_WITNESS_BPF_H */
