// SPDX-License-Identifier: GPL-2.0-only
/*
 * The bpf witness: count kvm:kvm_userspace_exit and kvm:kvm_pio per thread
 * of one process (the bench), so that the report can set a count the kernel
 * kept beside hvpatch's own.  Only the vCPU threads run KVM_RUN, so only
 * they appear.  No field of the tracepoints is read: no BTF or CO-RE needed.
 * Raw tracepoints attach by name through bpf(2), so tracefs need not be
 * mounted.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "witness-bpf.h"

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HVP_BPF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct hvp_bpf_thread);
} per_thread SEC(".maps");

static __always_inline struct hvp_bpf_thread *slot(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct hvp_bpf_thread zero = { 0 }, *c;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	c = bpf_map_lookup_elem(&per_thread, &tid);
	if (c)
		return c;
	bpf_map_update_elem(&per_thread, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&per_thread, &tid);
}

SEC("raw_tracepoint/kvm_userspace_exit")
int on_userspace_exit(void *ctx)
{
	struct hvp_bpf_thread *c = slot();

	if (c)
		__sync_fetch_and_add(&c->userspace_exits, 1);
	return 0;
}

SEC("raw_tracepoint/kvm_pio")
int on_pio(void *ctx)
{
	struct hvp_bpf_thread *c = slot();

	if (c)
		__sync_fetch_and_add(&c->pio, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
