/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The bpf witness (bench/witness.bpf.c): counts of kvm:kvm_userspace_exit
 * and kvm:kvm_pio per thread of this process, kept by the kernel.  Built
 * when configure finds libbpf, bpftool and clang; otherwise opening it says
 * why it is absent.
 */
#ifndef HVP_WITNESS_H
#define HVP_WITNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hvp_bpf_witness;

struct hvp_bpf_counts {
	uint64_t userspace_exits, pio; /* sums over the threads */
	unsigned threads;	       /* threads seen so far    */
};

/* Count the threads of process tgid from now on; NULL with the reason in why. */
struct hvp_bpf_witness *hvp_bpf_witness_open(pid_t tgid, char *why, size_t whylen);
/* The counts so far (they only grow): 0 or -errno. */
int hvp_bpf_witness_read(struct hvp_bpf_witness *w, struct hvp_bpf_counts *out);
void hvp_bpf_witness_close(struct hvp_bpf_witness *w);

#endif /* HVP_WITNESS_H */
