// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loader of the bpf witness.  The program is compiled by clang, wrapped by
 * `bpftool gen skeleton` into witness.skel.h and linked in; without them
 * (HVP_HAVE_BPF undefined) the witness is absent and says so.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "witness.h"

#ifdef HVP_HAVE_BPF

#include <stdarg.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "witness-bpf.h"
#include "witness.skel.h"

struct hvp_bpf_witness {
	struct witness *skel;
	int map_fd;
};

/* libbpf's own messages would interleave with the progress bar: keep them out. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

struct hvp_bpf_witness *hvp_bpf_witness_open(pid_t tgid, char *why, size_t whylen)
{
	struct hvp_bpf_witness *w = calloc(1, sizeof(*w));
	int r;

	if (!w) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	libbpf_set_print(quiet);
	w->skel = witness__open();
	if (!w->skel) {
		snprintf(why, whylen, "cannot open the bpf program: %s", strerror(errno));
		goto free;
	}
	w->skel->rodata->target_tgid = (__u32)tgid;
	r = witness__load(w->skel);
	if (r) {
		snprintf(why, whylen,
			 "cannot load the bpf program: %s (needs root or CAP_BPF "
			 "and CAP_PERFMON)",
			 strerror(-r));
		goto destroy;
	}
	r = witness__attach(w->skel);
	if (r) {
		snprintf(why, whylen,
			 "cannot attach to the raw tracepoints kvm_userspace_exit and "
			 "kvm_pio: %s",
			 strerror(-r));
		goto destroy;
	}
	w->map_fd = bpf_map__fd(w->skel->maps.per_thread);
	return w;
destroy:
	witness__destroy(w->skel);
free:
	free(w);
	return NULL;
}

int hvp_bpf_witness_read(struct hvp_bpf_witness *w, struct hvp_bpf_counts *out)
{
	__u32 key, next, *prev = NULL;
	struct hvp_bpf_thread v;

	memset(out, 0, sizeof(*out));
	while (bpf_map_get_next_key(w->map_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(w->map_fd, &next, &v) == 0) {
			out->userspace_exits += v.userspace_exits;
			out->pio += v.pio;
			out->threads++;
		}
		key = next;
		prev = &key;
	}
	return errno == ENOENT || !prev ? 0 : -errno;
}

void hvp_bpf_witness_close(struct hvp_bpf_witness *w)
{
	if (!w)
		return;
	witness__destroy(w->skel);
	free(w);
}

#else /* !HVP_HAVE_BPF */

struct hvp_bpf_witness *hvp_bpf_witness_open(pid_t tgid, char *why, size_t whylen)
{
	snprintf(why, whylen, "%s", HVP_BPF_ABSENT);
	return NULL;
}

int hvp_bpf_witness_read(struct hvp_bpf_witness *w, struct hvp_bpf_counts *out)
{
	memset(out, 0, sizeof(*out));
	return -ENOSYS;
}

void hvp_bpf_witness_close(struct hvp_bpf_witness *w)
{
}

#endif
